"""The verified downloader against a local HTTP server on 127.0.0.1 (no network): resume, drop, corruption, pins."""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gatedgcn.data.catalog import CATALOG, RemoteFile
from gatedgcn.data.download import Fetcher, fetch_dataset
from gatedgcn.data.tu import read_tu
from gatedgcn.errors import DataError

from helpers import SHARED, needs_shared

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes


def pinned(data: bytes, path: str = "sub/file.bin") -> RemoteFile:
    return RemoteFile(path, "https://example.invalid/never-used", len(data), hashlib.sha256(data).hexdigest())


@contextmanager
def server(root: dict[str, bytes] | Path, behaviour: str = "ok"):
    """Serve ``root`` (a folder, or path -> bytes) on 127.0.0.1.

    behaviour: ``ok`` (Range supported), ``drop`` (every response cut after half the bytes),
    ``drop_once`` (the first response cut, Range honoured later), ``corrupt`` (one byte flipped),
    ``no_range`` (Range ignored: always the whole file with 200), ``trickle`` (16 bytes every 0.2 s).
    """
    log: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            path = self.path.lstrip("/")
            data = (
                (root / path).read_bytes()
                if isinstance(root, Path) and (root / path).is_file()
                else root.get(path)
                if isinstance(root, dict)
                else None
            )
            log.append({"path": path, "range": self.headers.get("Range")})
            if data is None:
                self.send_error(404)
                return
            start = 0
            rng = self.headers.get("Range")
            if rng and behaviour != "no_range":
                start = int(rng.split("=")[1].split("-")[0])
            if behaviour == "corrupt":
                data = data[:10] + bytes([data[10] ^ 0xFF]) + data[11:]
            body = data[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body)))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if behaviour == "trickle":
                for k in range(0, len(body), 16):
                    self.wfile.write(body[k : k + 16])
                    self.wfile.flush()
                    time.sleep(0.2)
                return
            cut = behaviour == "drop" or (behaviour == "drop_once" and len(log) == 1)
            self.wfile.write(body[: len(body) // 2] if cut else body)
            if cut:
                self.close_connection = True

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", log
    finally:
        httpd.shutdown()
        httpd.server_close()


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_fetch_writes_the_verified_file(tmp_path):
    remote = pinned(PAYLOAD)
    with server({remote.path: PAYLOAD}) as (url, log):
        assert Fetcher(base_url=url, backoff=0).fetch(remote, tmp_path / remote.path)
    assert (tmp_path / remote.path).read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == ["sub/file.bin"]


def test_a_dropped_connection_is_resumed_with_a_range_request(tmp_path):
    remote = pinned(PAYLOAD)
    with server({remote.path: PAYLOAD}, "drop_once") as (url, log):
        Fetcher(base_url=url, backoff=0).fetch(remote, tmp_path / remote.path)
    assert (tmp_path / remote.path).read_bytes() == PAYLOAD
    assert [entry["range"] for entry in log] == [None, f"bytes={len(PAYLOAD) // 2}-"]
    assert leftovers(tmp_path) == ["sub/file.bin"]


def test_a_server_ignoring_range_makes_a_clean_restart(tmp_path):
    remote = pinned(PAYLOAD)
    part = tmp_path / "sub" / ".file.bin.part"
    part.parent.mkdir()
    part.write_bytes(PAYLOAD[:3000])  # left by an interrupted earlier run
    with server({remote.path: PAYLOAD}, "no_range") as (url, log):
        Fetcher(base_url=url, backoff=0).fetch(remote, tmp_path / remote.path)
    assert log[0]["range"] == "bytes=3000-"
    assert (tmp_path / remote.path).read_bytes() == PAYLOAD and leftovers(tmp_path) == ["sub/file.bin"]


def test_a_server_that_always_drops_ends_with_our_error_and_nothing_half_written(tmp_path):
    remote = pinned(PAYLOAD)
    with server({remote.path: PAYLOAD}, "drop") as (url, log):
        with pytest.raises(DataError, match=r"could not fetch .*sub/file.bin \(3 attempt\(s\)\)"):
            Fetcher(base_url=url, attempts=3, backoff=0).fetch(remote, tmp_path / remote.path)
    assert len(log) == 3
    assert leftovers(tmp_path) == []


def test_a_corrupted_file_ends_with_our_error_and_nothing_half_written(tmp_path):
    remote = pinned(PAYLOAD)
    target = tmp_path / remote.path
    target.parent.mkdir()
    target.write_bytes(b"old")  # a wrong file in place stays untouched until a verified one replaces it
    with server({remote.path: PAYLOAD}, "corrupt") as (url, log):
        with pytest.raises(DataError, match="sha256 .* does not match the pinned"):
            Fetcher(base_url=url, attempts=2, backoff=0).fetch(remote, target)
    assert [entry["range"] for entry in log] == [None, None]  # each try starts from nothing
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == ["sub/file.bin"]


def test_a_verified_file_is_not_fetched_again_and_a_wrong_one_is_replaced(tmp_path):
    remote = pinned(PAYLOAD)
    target = tmp_path / remote.path
    with server({remote.path: PAYLOAD}) as (url, log):
        fetcher = Fetcher(base_url=url, backoff=0)
        assert fetcher.fetch(remote, target) is True
        assert fetcher.fetch(remote, target) is False
        target.write_bytes(PAYLOAD[:-1] + b"!")
        assert fetcher.fetch(remote, target) is True
    assert len(log) == 2 and target.read_bytes() == PAYLOAD


def test_missing_file_and_unsupported_scheme(tmp_path):
    remote = pinned(PAYLOAD)
    with server({}) as (url, log):
        with pytest.raises(DataError, match="404"):
            Fetcher(base_url=url, attempts=3, backoff=0).fetch(remote, tmp_path / remote.path)
        assert len(log) == 1  # a 404 is not tried again
    with pytest.raises(DataError, match="only https, http and file"):
        Fetcher(base_url="ftp://127.0.0.1").fetch(remote, tmp_path / remote.path)
    assert leftovers(tmp_path) == []


def test_a_trickling_server_is_given_up_at_the_deadline_and_nothing_is_left(tmp_path):
    remote = pinned(PAYLOAD)  # 10,240 bytes at 80 bytes/s: two minutes
    start = time.monotonic()
    with server({remote.path: PAYLOAD}, "trickle") as (url, log):
        with pytest.raises(DataError, match=r"sub/file.bin: could not fetch .* within its deadline of 1 s"):
            Fetcher(base_url=url, backoff=0, deadline=1.0, timeout=5).fetch(remote, tmp_path / remote.path)
    assert time.monotonic() - start < 10
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("planted", ["link to a file outside", "dangling link", "folder"])
def test_a_link_planted_at_the_partial_file_is_refused_and_nothing_is_written_through_it(tmp_path, planted):
    remote = pinned(PAYLOAD)
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "sub").mkdir(parents=True)
    outside.mkdir()
    part = data / "sub" / ".file.bin.part"
    if planted == "link to a file outside":
        (outside / "victim").write_bytes(b"precious")
        part.symlink_to(outside / "victim")
    elif planted == "dangling link":
        part.symlink_to(outside / "new")
    else:
        part.mkdir()
    with server({remote.path: PAYLOAD}) as (url, log):
        with pytest.raises(DataError, match=f"{part}.*refusing to write"):
            Fetcher(base_url=url, backoff=0).fetch(remote, data / remote.path)
    assert leftovers(outside) == (["victim"] if planted == "link to a file outside" else [])
    if planted == "link to a file outside":
        assert (outside / "victim").read_bytes() == b"precious"
    assert not (data / remote.path).exists()


@needs_shared("TU")
def test_the_pins_match_the_shared_files():
    for e in CATALOG.values():
        for f in e.files:
            data = (SHARED / f.path).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (f.size, f.sha256), f.path


@needs_shared("TU")
def test_fetch_mutag_end_to_end_from_a_local_mirror_of_the_shared_folder(tmp_path, capsys):
    from gatedgcn.cli import main

    with server(SHARED) as (url, log):
        fetched = fetch_dataset("MUTAG", tmp_path, Fetcher(base_url=url, backoff=0))
        assert len(fetched) == len(CATALOG["MUTAG"].files)
        assert (
            main(["data", "fetch", "MUTAG", "--data-dir", str(tmp_path), "--base-url", url]) == 0
        )  # all there: nothing fetched
    assert "0 file(s) fetched" in capsys.readouterr().out
    assert len(log) == len(CATALOG["MUTAG"].files)
    tu = read_tu(tmp_path / "TU" / "MUTAG", "MUTAG")
    assert len(tu.graphs) == 188
    assert main(["data", "info", "MUTAG", "--data-dir", str(tmp_path)]) == 0
    assert "measured:  188 graphs, 3371 nodes" in capsys.readouterr().out
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines()[1:] if "MB" in line]  # the pinned datasets
    status = {line.split()[0]: line.split("MB")[-1].strip().split("  ")[0] for line in listed}
    assert status["MUTAG"] == "here" and status["cora"] == "not here"
