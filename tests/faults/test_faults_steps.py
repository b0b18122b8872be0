"""Faults of a step: a NaN or infinite loss or gradient is skipped as if its batch were not there, too many in a
row stop the run, --detect-anomaly names the first (on a model-agnostic toy task, and in a real run)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from toy_task import Rows, Toy, rows, states_equal, toy_trainer

from gatedgcn.cli import main
from gatedgcn.errors import TrainingError
from gatedgcn.train.objective import Objective
from gatedgcn.train.run import RunDir
from gatedgcn.train.trainer import Schedule, Trainer

from tiny_run import FAULT_TINY as TINY


def test_a_non_finite_step_is_skipped_as_if_the_batch_were_not_there():
    clean = [rows(1), rows(2), rows(3)]
    poisoned = [clean[0], rows(9, nan=True), clean[1], rows(8, poison_grad=True), clean[2]]
    ref, ours = toy_trainer(), toy_trainer()
    ref.fit(clean, {})
    history = ours.fit(poisoned, {})
    assert history[0]["skipped"] == 2
    states_equal(ours.model, ref.model)  # weights, batch-norm running stats and counts
    torch.testing.assert_close(
        ours.optimizer.state_dict()["state"][0]["exp_avg"],
        ref.optimizer.state_dict()["state"][0]["exp_avg"],
        rtol=0,
        atol=0,
    )
    assert history[0]["train"] == ref.position.history[0]["train"]


def test_too_many_non_finite_steps_in_a_row_stop_the_run_and_change_nothing():
    trainer = toy_trainer(max_bad_steps=3)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    batches = [rows(1, nan=True), rows(2, poison_grad=True), rows(3, nan=True), rows(4)]
    with pytest.raises(TrainingError, match=r"3 step\(s\) in a row \(epoch 1, step 3\)"):
        trainer.fit(batches, {})
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # two bad steps, then a good one: the count starts again, and the run goes on
    assert (
        toy_trainer(max_bad_steps=3).fit([rows(1, nan=True), rows(2, nan=True), rows(3), rows(4, nan=True)], {})[0][
            "skipped"
        ]
        == 3
    )


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled", "ignore:Error detected in")
def test_detect_anomaly_stops_at_the_first_non_finite_value_and_names_the_step():
    with pytest.raises(TrainingError, match=r"epoch 1, step 2"):
        toy_trainer(detect_anomaly=True).fit([rows(1), rows(2, nan=True)], {})

    class NaNBackward(Toy):
        def forward(self, batch: Rows) -> Tensor:
            return super().forward(batch) + torch.sqrt(self.lin.bias[:1] * 0.0)  # forward 0, backward 0 * inf = NaN

    trainer = Trainer(
        NaNBackward(), Objective("classification", "accuracy"), Schedule(epochs=1), progress=False, detect_anomaly=True
    )
    with pytest.raises(TrainingError, match=r"anomaly in epoch 1, step 1: .*nan"):
        trainer.fit([rows(1)], {})


def test_a_nan_loss_in_a_real_run_is_skipped_and_counted(tmp_path, monkeypatch):
    real = Objective.loss
    calls = []

    def loss(self, out, y):
        calls.append(1)
        value = real(self, out, y)
        return value * float("nan") if len(calls) == 2 else value

    monkeypatch.setattr(Objective, "loss", loss)
    assert main(["train", "--out", str(tmp_path / "run"), *TINY]) == 0
    records = RunDir(tmp_path / "run").read_metrics()
    assert [r["skipped"] for r in records] == [1, 0]
    assert all(v == v for r in records for v in r["train"].values())  # the skipped batch left no NaN behind
