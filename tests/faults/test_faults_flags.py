"""Bad flags and config keys exit 2 naming the flag or key, before any work."""

from __future__ import annotations

import pytest

from gatedgcn.cli import main


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--set", "train.epochs=-1"], "train.epochs"),
        (["--set", "train.checkpoint_minutes=-2"], "train.checkpoint_minutes"),
        (["--set", "train.keep_checkpoints=0"], "train.keep_checkpoints"),
        (["--set", "train.max_nonfinite_steps=zero"], "train.max_nonfinite_steps"),
        (["--set", "train.colour=red"], "train.colour"),
        (["--set", "model.readout=median"], "model.readout"),
        (["--set", "data.name=nosuchset"], "data.name"),
        (["--set", "data.min_nodes=20", "--set", "data.max_nodes=20"], "data.max_nodes"),
        (["--resume", "RUN", "--hidden", "8"], "--hidden"),
        (["--resume", "RUN", "--overwrite"], "--overwrite"),
    ],
)
def test_every_bad_flag_or_key_exits_2_before_any_work(tmp_path, capsys, flags, named):
    out = tmp_path / "run"
    flags = [str(out) if f == "RUN" else f for f in flags]
    args = ["train", *flags] if "--resume" in flags else ["train", "--out", str(out), *flags]
    assert main(args) == 2
    assert named in capsys.readouterr().err
    assert not out.exists()


def test_argparse_rejects_a_flag_of_the_wrong_type_with_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--epochs", "many"])
    assert exit_.value.code == 2 and "--epochs" in capsys.readouterr().err
