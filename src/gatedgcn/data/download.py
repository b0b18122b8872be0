"""A safe, verified downloader: ``gatedgcn data fetch NAME`` (nothing is fetched unless asked).

For every pinned file of a catalog entry:

1. a file already in place with the pinned sha256 is kept;
2. otherwise the bytes stream into ``.NAME.part`` beside the target;
   an interrupted transfer (dropped connection, timeout) is retried with exponential back-off,
   resuming with an HTTP ``Range`` request where the server allows it and restarting otherwise;
3. the complete file is checked against the pinned size and sha256, flushed to disk and renamed
   onto the target (atomic on one file system): a reader sees no file or the complete one.

A file that fails the check is deleted and fetched again from the start; when the attempts run
out (or at once for an HTTP 4xx answer) the partial file is removed and :class:`DataError` names the
file, the address and the cause.
Only ``https``, ``http`` and ``file`` addresses are followed.

A file has an overall deadline (``Fetcher.deadline``; by default 60 s plus its size at 64 KiB/s), over
all its attempts: a server that trickles a few bytes at a time, each read within the socket timeout,
is given up on too.  The ``.part`` file is created with ``O_EXCL`` and opened with ``O_NOFOLLOW``: a
symbolic link (or anything but a plain file) planted at its name is refused, never written through.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from gatedgcn.data.catalog import RemoteFile, entry
from gatedgcn.errors import DataError

__all__ = ["Fetcher", "sha256_of", "fetch_dataset"]

CHUNK = 1 << 16
SCHEMES = ("https://", "http://", "file://")
MIN_RATE = 1 << 16  # bytes per second: the default deadline of a file is 60 s + its size at this rate


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


class _Corrupt(Exception):
    """The transfer ended but the bytes are not the pinned ones."""


class _Late(Exception):
    """The file's deadline passed."""


def _part_size(part: Path) -> int:
    """Bytes already in the ``.part`` file (0: none); a link or special file there is refused."""
    try:
        info = os.lstat(part)
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{part} is a symbolic link or not a plain file: refusing to write through it; remove it")
    return info.st_size


def _open_part(part: Path, append: bool) -> int:
    """The ``.part`` file for writing: appended to, or made anew (``O_EXCL``); never through a link."""
    if not append:
        part.unlink(missing_ok=True)  # removes a file (or a link itself), follows nothing
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_APPEND if append else os.O_CREAT | os.O_EXCL)
    try:
        return os.open(part, flags, 0o666)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.EEXIST):
            raise DataError(f"{part}: something else took the name of the partial file; refusing to write") from None
        raise


@dataclass
class Fetcher:
    """Fetches pinned files.  ``base_url`` replaces the canonical address by ``base_url/<path>`` (a mirror).

    ``attempts``: tries per file; ``backoff``: seconds before the second try, doubled after each.
    """

    base_url: str | None = None
    attempts: int = 4
    backoff: float = 1.0
    timeout: float = 30.0
    log: Callable[[str], None] = lambda message: None
    deadline: float | None = None  # seconds for one file, all attempts (None: 60 s + its size at MIN_RATE)
    clock: Callable[[], float] = time.monotonic

    def url(self, remote: RemoteFile) -> str:
        url = remote.url if self.base_url is None else f"{self.base_url.rstrip('/')}/{remote.path}"
        if not url.startswith(SCHEMES):
            raise DataError(f"{url}: only https, http and file addresses are fetched")
        return url

    def fetch(self, remote: RemoteFile, target: Path) -> bool:
        """Make ``target`` the pinned file; returns False if it was already there."""
        if target.is_file() and target.stat().st_size == remote.size and sha256_of(target) == remote.sha256:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        url = self.url(remote)
        seconds = self.deadline if self.deadline is not None else 60.0 + remote.size / MIN_RATE
        end = self.clock() + seconds
        error: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(max(0.0, min(self.backoff * 2 ** (attempt - 1), end - self.clock())))
            try:
                self._transfer(url, part, remote, end)
                self._verify(part, remote)
            except _Late:
                part.unlink(missing_ok=True)
                raise DataError(
                    f"{target}: could not fetch {url} within its deadline of {seconds:.0f} s "
                    f"(attempt {attempt + 1}; the server sends too slowly); try again later or another --base-url"
                ) from None
            except _Corrupt as err:
                part.unlink(missing_ok=True)  # start again from nothing
                error = err
            except urllib.error.HTTPError as err:
                error = err
                if 400 <= err.code < 500:  # not there, or not ours to fetch: trying again will not help
                    break
            except (urllib.error.URLError, HTTPException, OSError) as err:
                error = err  # keep the part: the next try resumes it
            else:
                os.replace(part, target)
                return True
            self.log(f"{remote.path}: attempt {attempt + 1} of {self.attempts} failed: {error}")
        part.unlink(missing_ok=True)
        raise DataError(f"{target}: could not fetch {url} ({attempt + 1} attempt(s)): {error}")

    def _transfer(self, url: str, part: Path, remote: RemoteFile, end: float) -> None:
        have = _part_size(part)
        if have >= remote.size:
            have = 0
        if self.clock() > end:
            raise _Late
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            resumed = bool(have) and getattr(response, "status", 200) == 206
            read = getattr(response, "read1", response.read)  # what has arrived, not a full chunk: a trickle is seen
            with os.fdopen(_open_part(part, resumed), "ab") as f:
                while block := read(CHUNK):
                    f.write(block)
                    if f.tell() > remote.size:
                        raise _Corrupt(f"{url} sends more than the pinned {remote.size} bytes")
                    if self.clock() > end:
                        raise _Late
                f.flush()
                os.fsync(f.fileno())

    @staticmethod
    def _verify(part: Path, remote: RemoteFile) -> None:
        size = part.stat().st_size
        if size < remote.size:
            raise ConnectionError(f"transfer ended after {size} of {remote.size} bytes")
        digest = sha256_of(part)
        if digest != remote.sha256:
            raise _Corrupt(f"sha256 {digest} does not match the pinned {remote.sha256}")


def fetch_dataset(name: str, data_dir: Path, fetcher: Fetcher | None = None) -> list[Path]:
    """Fetch every file of catalog entry ``name`` into ``data_dir``; returns the paths fetched now."""
    fetcher = fetcher or Fetcher()
    fetched = []
    for remote in entry(name).files:
        target = Path(data_dir) / remote.path
        if fetcher.fetch(remote, target):
            fetched.append(target)
    return fetched
