"""Run the CLI in-process on a hostile input and check how it refuses it.

Every case gets a sandbox::

    ROOT/data/     the inputs the case writes (read only for the CLI)
    ROOT/run/      the run folder (new files allowed; the files a case put there must not change)
    ROOT/cache/    $GATEDGCN_CACHE_DIR (new files allowed)
    ROOT/home/, ROOT/cwd/, ROOT/outside/sentinel   $HOME, the working folder and a file nobody may touch

:func:`refused` runs ``gatedgcn.cli.main(argv)`` with the soft address-space limit set to what the process
has now plus 1 GiB (so an allocation beyond that fails in the case, not in the machine), a 30 s alarm, and
stdout / stderr captured; it asserts exit code 1 or 2, one line ``gatedgcn: error: ...`` naming every
given string, no traceback, no MemoryError, under 30 s, nothing changed outside the run and cache folders
and none of the run folder's earlier files changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from gatedgcn.cli import main

GIB = 1 << 30
SECONDS = 30
SMALL = ["--quiet", "--epochs", "1", "--hidden", "8", "--layers", "1", "--batch-size", "8"]  # train flags of the cases


@dataclass(frozen=True)
class Sandbox:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def write(self, relative: str, content: bytes | str) -> Path:
        """Write an input file under ``data/`` and return its path."""
        path = self.data / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path


class Hang(BaseException):
    """The case ran past its time (a BaseException: no reader's ``except Exception`` swallows it)."""


def snapshot(folder: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """Every entry under ``folder`` (links not followed): kind, mode and content hash or link target."""
    found: dict[str, tuple] = {}
    if not folder.exists():
        return found
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in dirnames + filenames:
            path = here / name
            info = path.lstat()
            if path.is_symlink():
                found[str(path)] = ("link", os.readlink(path))
            elif path.is_file():
                found[str(path)] = ("file", info.st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                found[str(path)] = ("dir", info.st_mode)
    return found


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def _bounded():
    """At most 1 GiB more address space and :data:`SECONDS` seconds for what runs inside."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + GIB, hard))

    def alarm(signum, frame):
        raise Hang(f"ran past {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@dataclass
class Outcome:
    code: int | None
    err: str
    out: str
    seconds: float
    rss_growth: int


def run_cli(argv: list[str]) -> Outcome:
    err, out = io.StringIO(), io.StringIO()
    rss, start = _rss(), time.monotonic()
    with _bounded(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return Outcome(code, err.getvalue(), out.getvalue(), time.monotonic() - start, peak - rss)


def refused(box: Sandbox, argv: list[str], *names: object, code: int | None = None) -> str:
    """Run ``argv``; assert the refusal rules (module docstring); return the error line."""
    argv = [str(a) for a in argv]
    outside = snapshot(box.root, skip=(box.run, box.cache))
    earlier = {k: v for k, v in snapshot(box.run).items() if not k.endswith("/.lock")}
    o = run_cli(argv)
    lines = [line for line in o.err.splitlines() if line.strip()]
    assert "Traceback" not in o.err, o.err
    assert o.code in ((1, 2) if code is None else (code,)), (o.code, o.err)
    assert len(lines) == 1 and lines[0].startswith("gatedgcn: error: "), o.err
    line = lines[0]
    assert "MemoryError" not in line and "RecursionError" not in line, line
    for name in names:
        assert str(name) in line, (str(name), line)
    assert o.seconds < SECONDS, o.seconds
    assert o.rss_growth < GIB, o.rss_growth
    now = snapshot(box.root, skip=(box.run, box.cache))
    assert now == outside, f"changed outside the run folder: {sorted(set(now.items()) ^ set(outside.items()))[:4]}"
    after = snapshot(box.run)
    changed = sorted(k for k, v in earlier.items() if after.get(k) != v)
    assert not changed, f"earlier files of the run changed: {changed}"
    if os.environ.get("HOSTILE_SHOW"):
        print("\nLINE:", line)
    return line
