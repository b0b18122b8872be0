"""Faults of the run directory and the disk: a folder in use, not writable or full, a killed lock holder, the
files' modes, and a second Ctrl-C; the run resumes as if nothing had happened."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gatedgcn.cli import main
from gatedgcn.train import checkpoint as checkpoint_module
from gatedgcn.train.checkpoint import read_checkpoint
from gatedgcn.train.run import RunDir
from gatedgcn.train.trainer import Trainer

from helpers import files_of
from tiny_run import FAULT_TINY as TINY


def test_an_existing_run_dir_is_refused_without_resume_or_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY]) == 0
    before = files_of(run)
    assert main(["train", "--out", str(run), *TINY]) == 1
    err = capsys.readouterr().err
    assert str(run) in err and "--resume" in err and "--overwrite" in err
    assert files_of(run) == before


def test_a_run_dir_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["train", "--out", str(blocker / "run"), *TINY]) == 1
    assert str(blocker / "run") in capsys.readouterr().err

    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", denied)  # the probe write; root ignores chmod, so it is simulated
    assert main(["train", "--out", str(tmp_path / "locked"), *TINY]) == 1
    err = capsys.readouterr().err
    assert "cannot write to run directory" in err and "Permission denied" in err


@pytest.mark.parametrize(
    "code, text", [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")]
)
def test_a_full_or_read_only_disk_during_a_checkpoint_keeps_what_was_saved_and_the_run_resumes(
    tmp_path, monkeypatch, capsys, code, text
):
    reference, run = tmp_path / "reference", tmp_path / "run"
    assert main(["train", "--out", str(reference), *TINY]) == 0
    real_write, real_fsync, writes = checkpoint_module.atomic_write, os.fsync, []

    def fsync(fd):  # the disk is full (or turned read-only) while the second checkpoint is written
        if len(writes) == 2:
            raise OSError(code, text)
        real_fsync(fd)

    def write(path, data):
        writes.append(path)
        real_write(path, data)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(checkpoint_module, "atomic_write", write)
    assert main(["train", "--out", str(run), *TINY]) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert text in err and str(writes[1]) in err
    assert not list(run.rglob(".*.tmp"))  # the failed write cleaned up after itself
    saved = sorted((run / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in saved] == ["epoch-0001-step-000001.ckpt"]
    assert read_checkpoint(saved[0])["trainer"]["position"]["step"] == 1  # the previous checkpoint, intact
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    for name in ("model.safetensors", "summary.json"):
        assert (run / name).read_bytes() == (reference / name).read_bytes()


def test_a_second_writer_on_a_run_directory_in_use_is_refused_naming_the_pid(tmp_path, monkeypatch, capsys):
    """While a run writes X (here: after its first epoch), train --out X, --overwrite and --resume X are refused,
    X is untouched by them, and the run ends with its own epochs."""
    run, real, seen = tmp_path / "run", RunDir.append_metrics, {}

    def append(self, record):
        real(self, record)
        if not seen:
            seen["before"] = files_of(run)
            seen["codes"] = [
                main(["train", "--out", str(run), "--overwrite", *TINY]),
                main(["train", "--resume", str(run), "--quiet"]),
                main(["train", "--out", str(run), *TINY]),
            ]
            seen["after"], seen["err"] = files_of(run), capsys.readouterr().err

    monkeypatch.setattr(RunDir, "append_metrics", append)
    assert main(["train", "--out", str(run), *TINY]) == 0
    assert seen["codes"] == [1, 1, 1]
    assert seen["err"].count(f"run directory {run} is in use by process {os.getpid()}") == 3, seen["err"]
    assert seen["after"] == seen["before"]
    assert [r["epoch"] for r in RunDir(run).read_metrics()] == [1, 2]
    assert main(["train", "--resume", str(run), "--quiet"]) == 0  # the lock ends with the run


def test_the_lock_of_a_killed_run_blocks_nobody(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY]) == 0
    holder = (
        "import fcntl, os, signal, sys; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
        "os.ftruncate(fd, 0); os.write(fd, b'%d' % os.getpid()); os.kill(os.getpid(), signal.SIGKILL)"
    )
    died = subprocess.run([sys.executable, "-c", holder, str(run / ".lock")])
    assert died.returncode == -signal.SIGKILL and (run / ".lock").read_text().strip().isdigit()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert main(["train", "--out", str(run), "--overwrite", *TINY]) == 0
    assert (run / ".lock").read_text().strip() == str(os.getpid())


def test_run_files_get_the_mode_of_the_umask_as_metrics_jsonl_does(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["train", "--out", str(tmp_path / "run"), *TINY]) == 0
    finally:
        os.umask(old)
    modes = {
        str(p.relative_to(tmp_path / "run")): p.stat().st_mode & 0o777
        for p in (tmp_path / "run").rglob("*")
        if p.is_file()
    }
    assert modes and set(modes.values()) == {0o644}, modes


def test_a_second_ctrl_c_stops_at_once_and_the_run_resumes_from_its_last_checkpoint(tmp_path, monkeypatch, capsys):
    reference, run = tmp_path / "reference", tmp_path / "run"
    assert main(["train", "--out", str(reference), *TINY]) == 0
    real, steps = Trainer._step, []

    def step(self, batch):
        steps.append(1)
        if len(steps) == 3:  # epoch 2, step 1: two Ctrl-C in the middle of it
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, batch)

    monkeypatch.setattr(Trainer, "_step", step)
    assert main(["train", "--out", str(run), *TINY]) == 130
    monkeypatch.undo()
    assert "interrupted at once (second Ctrl-C)" in capsys.readouterr().err
    assert len(steps) == 3 and not (run / "summary.json").exists()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    for name in ("model.safetensors", "summary.json"):
        assert (run / name).read_bytes() == (reference / name).read_bytes()
