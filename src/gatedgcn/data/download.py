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
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Callable

from gatedgcn.data.catalog import RemoteFile, entry
from gatedgcn.errors import DataError

__all__ = ["Fetcher", "sha256_of", "fetch_dataset"]

CHUNK = 1 << 16
SCHEMES = ("https://", "http://", "file://")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


class _Corrupt(Exception):
    """The transfer ended but the bytes are not the pinned ones."""


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
        error: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                self._transfer(url, part, remote)
                self._verify(part, remote)
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

    def _transfer(self, url: str, part: Path, remote: RemoteFile) -> None:
        have = part.stat().st_size if part.exists() else 0
        if have >= remote.size:
            part.unlink()
            have = 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            resumed = have and getattr(response, "status", 200) == 206
            with open(part, "ab" if resumed else "wb") as f:
                while block := response.read(CHUNK):
                    f.write(block)
                    if f.tell() > remote.size:
                        raise _Corrupt(f"{url} sends more than the pinned {remote.size} bytes")
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
