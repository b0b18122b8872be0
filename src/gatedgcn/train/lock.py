"""One writer per run directory: an advisory lock held for the life of the run.

``RUN_DIR/.lock`` is locked with ``fcntl.flock`` (exclusive, non-blocking) and holds the pid of the
process that has it.  A second ``train --out``, ``--overwrite`` or ``--resume`` on the folder is refused
with that pid.  The kernel drops the lock when its process ends, however it ends (SIGKILL included),
so the file a dead run leaves behind blocks nobody.  The file itself is never deleted: deleting it would
let two processes lock two different files of the same name.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from gatedgcn.errors import RunDirError

__all__ = ["LOCK_NAME", "RunLock", "holder"]

LOCK_NAME = ".lock"


def holder(folder: Path) -> int | None:
    """The pid written in ``folder``'s lock file, if it has a readable one."""
    try:
        text = (folder / LOCK_NAME).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _in_use(folder: Path) -> RunDirError:
    pid = holder(folder)
    who = f"process {pid}" if pid is not None else "another process"
    return RunDirError(
        f"run directory {folder} is in use by {who} (it holds {folder / LOCK_NAME}); "
        f"wait for that run to end, or choose another --out"
    )


class RunLock:
    """The exclusive lock of one run directory; :meth:`release` (or the end of the process) drops it."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder, self._fd = folder, fd

    @classmethod
    def acquire(cls, folder: Path) -> RunLock:
        """Lock ``folder`` (which must exist) or raise :class:`RunDirError` naming the holder's pid."""
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _in_use(folder) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(folder, fd)

    @staticmethod
    def check_free(folder: Path) -> None:
        """Raise :class:`RunDirError` if a live process holds ``folder``'s lock (nothing is created)."""
        try:
            fd = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return  # no lock file: no run has ever held the folder
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise _in_use(folder) from None
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1

    @property
    def held(self) -> bool:
        return self._fd >= 0
