"""The one-line summary per epoch: every split's numbers and the throughput, written by hand."""

from __future__ import annotations

from gatedgcn.train.progress import EpochLine, epoch_line

RECORD = {
    "epoch": 3,
    "lr": 1e-4,
    "skipped": 0,
    "train": {"loss": 1.23456, "accuracy": 0.5},
    "val": {"loss": 2.0, "accuracy": 0.25},
    "seconds": 2.0,
}


def test_epoch_line_by_hand():
    assert epoch_line(RECORD, 40, 550) == (
        "epoch  3/40  lr 1.0e-04  train loss 1.2346 accuracy 0.5000 | val loss 2.0000 accuracy 0.2500 | 2.0 s, 275 graphs/s"
    )
    assert epoch_line(RECORD | {"seconds": 0.0}, 9, 10).endswith("val loss 2.0000 accuracy 0.2500")


def test_callback_writes_one_line_per_epoch():
    lines = []
    callback = EpochLine(5, 100, write=lines.append)
    callback(RECORD)
    callback(RECORD | {"epoch": 4, "seconds": 4.0})
    assert len(lines) == 2 and lines[1].startswith("epoch 4/5") and lines[1].endswith("4.0 s, 25 graphs/s")
