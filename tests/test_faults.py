"""Faults a long run meets: a bad run directory, a full disk, NaN losses and gradients, corrupt or foreign
checkpoints and weights, bad flags, and degenerate graphs (empty, without edges, isolated nodes)."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from gatedgcn.app.config import Config
from gatedgcn.app.experiment import Experiment
from gatedgcn.cli import main
from gatedgcn.errors import CheckpointError, RunDirError, TrainingError
from gatedgcn.graph import Graph, collate
from gatedgcn.model import LAYERS, READOUTS, GraphNet, ModelSpec
from gatedgcn.nn import GatedGCNLayer, GCNLayer, GraphAttention
from gatedgcn.train import checkpoint as checkpoint_module
from gatedgcn.train.checkpoint import MAGIC, Checkpointer, CheckpointWarning, decode, encode, read_checkpoint
from gatedgcn.train.lock import RunLock
from gatedgcn.train.objective import Objective
from gatedgcn.train.run import RunDir
from gatedgcn.train.trainer import Schedule, Trainer

import dense
from helpers import compare_with_grads

TINY = [
    "--quiet",
    "--hidden",
    "8",
    "--layers",
    "1",
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--lr",
    "0.01",
    "--set",
    "data.num_train=16",
    "--set",
    "data.num_val=8",
    "--set",
    "data.num_test=8",
    "--checkpoint-minutes",
    "0",
]


@pytest.fixture(autouse=True)
def _one_thread_and_own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEDGCN_CACHE_DIR", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- a model-agnostic toy task


@dataclass
class Rows:
    x: Tensor
    y: Tensor
    poison_grad: bool = False

    def to(self, device):
        return self


class Toy(nn.Module):
    """``Linear -> BatchNorm``; a batch marked ``poison_grad`` gets an infinite gradient from a finite loss."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.bn = nn.Linear(3, 2), nn.BatchNorm1d(2)

    def forward(self, batch: Rows) -> Tensor:
        h = self.lin(batch.x)  # [R, 2]
        if batch.poison_grad and h.requires_grad:
            h.register_hook(lambda g: g * float("inf"))
        return self.bn(h)


def _rows(seed: int, *, nan: bool = False, poison_grad: bool = False) -> Rows:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 3, generator=g)
    if nan:
        x[2, 1] = float("nan")
    return Rows(x, torch.randint(0, 2, (6,), generator=g), poison_grad)


def _toy_trainer(**options) -> Trainer:
    torch.manual_seed(3)
    return Trainer(
        Toy(), Objective("classification", "accuracy"), Schedule(epochs=1, lr=0.1), progress=False, **options
    )


def _states_equal(a: nn.Module, b: nn.Module) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_a_non_finite_step_is_skipped_as_if_the_batch_were_not_there():
    clean = [_rows(1), _rows(2), _rows(3)]
    poisoned = [clean[0], _rows(9, nan=True), clean[1], _rows(8, poison_grad=True), clean[2]]
    ref, ours = _toy_trainer(), _toy_trainer()
    ref.fit(clean, {})
    history = ours.fit(poisoned, {})
    assert history[0]["skipped"] == 2
    _states_equal(ours.model, ref.model)  # weights, batch-norm running stats and counts
    torch.testing.assert_close(
        ours.optimizer.state_dict()["state"][0]["exp_avg"],
        ref.optimizer.state_dict()["state"][0]["exp_avg"],
        rtol=0,
        atol=0,
    )
    assert history[0]["train"] == ref.position.history[0]["train"]


def test_too_many_non_finite_steps_in_a_row_stop_the_run_and_change_nothing():
    trainer = _toy_trainer(max_bad_steps=3)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    batches = [_rows(1, nan=True), _rows(2, poison_grad=True), _rows(3, nan=True), _rows(4)]
    with pytest.raises(TrainingError, match=r"3 step\(s\) in a row \(epoch 1, step 3\)"):
        trainer.fit(batches, {})
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # two bad steps, then a good one: the count starts again, and the run goes on
    assert (
        _toy_trainer(max_bad_steps=3).fit([_rows(1, nan=True), _rows(2, nan=True), _rows(3), _rows(4, nan=True)], {})[
            0
        ]["skipped"]
        == 3
    )


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled", "ignore:Error detected in")
def test_detect_anomaly_stops_at_the_first_non_finite_value_and_names_the_step():
    with pytest.raises(TrainingError, match=r"epoch 1, step 2"):
        _toy_trainer(detect_anomaly=True).fit([_rows(1), _rows(2, nan=True)], {})

    class NaNBackward(Toy):
        def forward(self, batch: Rows) -> Tensor:
            return super().forward(batch) + torch.sqrt(self.lin.bias[:1] * 0.0)  # forward 0, backward 0 * inf = NaN

    trainer = Trainer(
        NaNBackward(), Objective("classification", "accuracy"), Schedule(epochs=1), progress=False, detect_anomaly=True
    )
    with pytest.raises(TrainingError, match=r"anomaly in epoch 1, step 1: .*nan"):
        trainer.fit([_rows(1)], {})


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


# ----------------------------------------------------------------------------- run directory and disk


def test_an_existing_run_dir_is_refused_without_resume_or_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY]) == 0
    before = _files(run)
    assert main(["train", "--out", str(run), *TINY]) == 1
    err = capsys.readouterr().err
    assert str(run) in err and "--resume" in err and "--overwrite" in err
    assert _files(run) == before


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
            seen["before"] = _files(run)
            seen["codes"] = [
                main(["train", "--out", str(run), "--overwrite", *TINY]),
                main(["train", "--resume", str(run), "--quiet"]),
                main(["train", "--out", str(run), *TINY]),
            ]
            seen["after"], seen["err"] = _files(run), capsys.readouterr().err

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


KILLED_RANK = """
import os, signal, sys
from gatedgcn.train.trainer import Trainer
real_step = Trainer._step
def step(self, batch, calls=[]):
    calls.append(1)
    if os.environ["RANK"] == "1" and len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    return real_step(self, batch)
Trainer._step = step
from gatedgcn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_rank_killed_during_ddp_stops_the_job_leaves_no_process_and_no_lock(tmp_path):
    driver, run = tmp_path / "driver_killed.py", tmp_path / "run"
    driver.write_text(KILLED_RANK)
    flags = ["--epochs", "1", "--set", "data.num_train=32", "--set", "train.dtype=float64"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(driver)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "GATEDGCN_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [*cmd, "train", "--out", str(run), *TINY, *flags], env=env, capture_output=True, text=True, timeout=600
    )  # a hang would time out
    assert done.returncode != 0 and "Signal 9 (SIGKILL)" in done.stderr, done.stderr[-2000:]
    left = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(driver) not in left  # no rank is left behind
    assert not (run / "summary.json").exists()
    RunLock.check_free(run)  # rank 0's lock went with it
    assert main(["train", "--out", str(run), "--overwrite", *TINY]) == 0


# ----------------------------------------------------------------------------- checkpoints and weights


def _checkpointer(tmp_path: Path, trainer: Trainer, steps: int, **config) -> Checkpointer:
    save = Checkpointer(tmp_path / "ckpt", config={"train": {"lr": 0.1}} | config, keep=3, every_minutes=0)
    for step in range(1, steps + 1):
        trainer.position.step = step
        save(trainer, "step")
    return save


def test_the_newest_valid_checkpoint_is_used_and_corrupt_ones_are_skipped(tmp_path):
    save = _checkpointer(tmp_path, _toy_trainer(), steps=5)
    kept = [p.name for _, p in save.positions()]
    assert kept == [
        "epoch-0001-step-000003.ckpt",
        "epoch-0001-step-000004.ckpt",
        "epoch-0001-step-000005.ckpt",
    ]  # the last K = 3
    newest, middle = save.positions()[2][1], save.positions()[1][1]
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    newest.write_bytes(bytes(data))
    middle.write_bytes(middle.read_bytes()[:100])  # truncated
    (save.folder / ".epoch-0001-step-000006.ckpt.x.tmp").write_bytes(b"half")  # a write killed before its rename
    with pytest.warns(CheckpointWarning) as caught:
        state = save.latest()
    assert state["position"]["step"] == 3
    assert len(caught) == 2 and all("corrupt or truncated" in str(w.message) for w in caught)
    assert not list(save.folder.glob(".*.tmp"))


def test_a_checkpoint_of_another_config_or_kind_is_refused_with_what_differs(tmp_path):
    trainer = _toy_trainer()
    _checkpointer(tmp_path, trainer, steps=1)
    other = Checkpointer(tmp_path / "ckpt", config={"train": {"lr": 0.2}}, every_minutes=0)
    with pytest.raises(CheckpointError, match=r"train\.lr: 0\.1 in the checkpoint, 0\.2 now"):
        other.latest()
    with pytest.raises(CheckpointError, match="not a gatedgcn checkpoint"):
        decode(b"PK\x03\x04 a zip file", "x.ckpt")
    with pytest.raises(CheckpointError, match="holds no trainer state"):
        decode(encode({"weights": torch.zeros(2)}), "x.ckpt")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A TINY run to its end, with a checkpoint after every step (read only: copy it)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    threads, env = torch.get_num_threads(), pytest.MonkeyPatch()
    torch.set_num_threads(1)
    env.setenv("GATEDGCN_CACHE_DIR", str(run.parent / "cache"))
    try:
        assert main(["train", "--out", str(run), *TINY]) == 0
    finally:
        torch.set_num_threads(threads)
        env.undo()
    return run


def _restructured(state: dict, damage: str) -> dict:
    trainer = dict(state["trainer"])
    if damage == "no optimizer":
        del trainer["optimizer"]
    elif damage == "wrong shape":
        model = dict(trainer["model"])
        key = next(k for k, v in model.items() if v.dim() == 2)
        model[key] = torch.zeros(model[key].shape[0] + 1, model[key].shape[1])
        trainer["model"] = model
    elif damage == "unknown field":
        trainer["colour"] = "red"
    elif damage == "position of a string":
        trainer["position"] = "epoch 3"
    elif damage == "moments of another shape":
        optimizer = dict(trainer["optimizer"])
        optimizer["state"] = {0: {"exp_avg": torch.zeros(99), "step": torch.tensor(1.0)}}
        trainer["optimizer"] = optimizer
    elif damage == "spec field unknown":
        return state | {"spec": json.dumps(json.loads(state["spec"]) | {"colour": "red"})}
    elif damage == "config not json":
        return state | {"config": "{not json"}
    return state | {"trainer": trainer}


@pytest.mark.parametrize(
    "damage",
    [
        "no optimizer",
        "wrong shape",
        "unknown field",
        "position of a string",
        "moments of another shape",
        "spec field unknown",
        "config not json",
    ],
)
def test_a_checkpoint_with_a_valid_checksum_but_the_wrong_structure_is_skipped_as_a_corrupt_one(
    tmp_path, finished_run, damage
):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    before = _files(run)
    (
        run / "summary.json"
    ).unlink()  # not finished: the resume goes back to the checkpoints (a finished one trains nothing)
    newest = Checkpointer(run / "checkpoints", config={}).positions()[-1][1]
    newest.write_bytes(encode(_restructured(read_checkpoint(newest), damage)))
    with pytest.warns(CheckpointWarning, match=f"skipping checkpoint: .*{newest.name}"):
        assert main(["train", "--resume", str(run), "--quiet"]) == 0
    after = _files(run)
    for name in ("model.safetensors", "summary.json"):
        assert after[name] == before[name]


class Payload:
    """An object whose unpickling would run code: ``torch.load(weights_only=True)`` must refuse it."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"config": "{}", "trainer": Payload()}, buffer)
    payload = buffer.getvalue()
    data = (
        MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    )  # a valid hash: only the unpickler stands in the way
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        decode(data, "evil.ckpt")


def test_weights_of_another_architecture_are_refused_naming_the_mismatch(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY]) == 0
    config = Config.load(run / "config.yaml")
    wider = Experiment.build(config.with_overrides(["model.hidden=16"])).model
    with pytest.raises(RunDirError, match=r"has shape \[8.*\], the model expects \[16"):
        RunDir(run).load_weights(wider)
    deeper = Experiment.build(config.with_overrides(["model.layers=2"])).model
    with pytest.raises(RunDirError, match=r"missing \['layers\.1\."):
        RunDir(run).load_weights(deeper)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("hidden: 8", "hidden: 12"))
    assert main(["eval", str(run)]) == 1
    assert "hidden: 8 in the stored model spec, 12 from the config" in capsys.readouterr().err
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(
        json.dumps({k: v for k, v in summary.items() if k != "spec"})
    )  # a run from before the spec was stored
    assert main(["eval", str(run)]) == 1
    assert "the model expects [12" in capsys.readouterr().err
    (run / "model.safetensors").write_bytes(b"\x00" * 64)
    assert main(["eval", str(run)]) == 1
    assert "cannot read weights" in capsys.readouterr().err


# ----------------------------------------------------------------------------- flags and config keys


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


# ----------------------------------------------------------------------------- degenerate graphs


def _degenerate() -> list[Graph]:
    """An empty graph, a graph without edges, a graph with isolated nodes, and an ordinary one."""
    g = torch.Generator().manual_seed(5)
    x = lambda n: torch.randn(n, 1, generator=g)  # noqa: E731
    ring = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    return [
        Graph(x(0), torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 1), torch.tensor(0)),
        Graph(x(3), torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 1), torch.tensor(1)),
        Graph(x(6), torch.tensor([[0, 1, 1], [1, 0, 2]]), torch.ones(3, 1), torch.tensor(2)),  # nodes 3, 4, 5 isolated
        Graph(x(4), ring, torch.ones(4, 1), torch.tensor(3)),
    ]


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("readout", sorted(READOUTS))
def test_empty_graphs_edgeless_graphs_and_isolated_nodes_go_through_every_layer_and_readout(layer, readout):
    graphs = _degenerate()
    spec = ModelSpec(
        layer=layer,
        layers=2,
        hidden=8,
        out_dim=3,
        in_dim=1,
        edge_in_dim=1,
        readout=readout,
        graph_size_norm=True,
        heads=2 if layer != "gcn" else 1,
    )
    model = GraphNet(spec).double()
    batch = collate(graphs)
    batch = type(batch)(
        **{f: (t.double() if t is not None and t.is_floating_point() else t) for f, t in vars(batch).items()}
    )
    model.train()
    out = model(batch)
    assert out.shape == (4, 3) and torch.isfinite(out).all()
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    # in eval mode, a graph's output does not depend on the degenerate graphs batched with it, and an
    # empty graph reads out as the zero vector
    model.eval()
    with torch.no_grad():
        together = model(batch)
        for k, g in enumerate(graphs[1:], start=1):
            alone = collate([g])
            alone = type(alone)(
                **{f: (t.double() if t is not None and t.is_floating_point() else t) for f, t in vars(alone).items()}
            )
            torch.testing.assert_close(together[k], model(alone)[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(
            together[0], model.head(torch.zeros(1, 8, dtype=torch.float64))[0], rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("n, edges", [(5, []), (6, [(0, 1), (1, 0), (2, 1)]), (1, [])])
def test_layers_on_edgeless_graphs_and_isolated_nodes_match_the_dense_equations(n, edges):
    torch.manual_seed(11)
    x = torch.randn(n, 4, dtype=torch.float64, requires_grad=True)
    edge_index = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).t()  # [2, E]
    e = torch.randn(edge_index.shape[1], 4, dtype=torch.float64, requires_grad=True)
    gcn = GCNLayer(4, 4).double()
    gat = GraphAttention(4, heads=2).double()
    gated = GatedGCNLayer(4, batch_norm=False).double()
    for layer, ours, ref in (
        (gcn, lambda: gcn(x, edge_index), lambda: dense.gcn(x, edge_index, gcn)),
        (gat, lambda: gat(x, edge_index), lambda: dense.graph_attention(x, edge_index, gat)),
        (gated, lambda: gated(x, edge_index, e), lambda: dense.gated_gcn(x, edge_index, e, gated, training_bn=False)),
    ):
        compare_with_grads(ours, ref, [x, e], list(layer.parameters()))


def test_a_corrupt_dataset_cache_is_rebuilt_with_a_warning_and_the_run_is_unchanged(tmp_path):
    args = [
        "--quiet",
        "--dataset",
        "SBM_CLUSTER",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--set",
        "data.num_train=4",
        "--set",
        "data.num_val=2",
        "--set",
        "data.num_test=2",
    ]
    assert main(["train", "--out", str(tmp_path / "first"), *args]) == 0
    (entry,) = (tmp_path / "cache").glob("*.safetensors")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0x40
    entry.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="unusable"):
        assert main(["train", "--out", str(tmp_path / "second"), *args]) == 0
    for name in ("model.safetensors", "summary.json"):
        assert (tmp_path / "second" / name).read_bytes() == (tmp_path / "first" / name).read_bytes()
