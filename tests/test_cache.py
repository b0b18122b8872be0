"""The dataset cache: exact round trip, reuse, and a mismatch or corrupt file rebuilt with a warning."""

import errno
import json
import os
import warnings

import pytest
import torch

from gatedgcn.data.cache import cached, entry_paths, pack, unpack
from gatedgcn.graph import Graph


def _graphs() -> dict[str, list[Graph]]:
    g = torch.Generator().manual_seed(0)
    node_task = Graph(
        x=torch.tensor([0, 2, 1]), edge_index=torch.tensor([[0, 1, 2], [1, 2, 0]]), y=torch.tensor([1, 0, 1]), name="a"
    )
    no_edges = Graph(x=torch.tensor([1]), edge_index=torch.zeros(2, 0, dtype=torch.long), y=torch.tensor([0]), name="b")
    graph_task = Graph(
        x=torch.randn(4, 2, generator=g),
        edge_index=torch.tensor([[0, 1, 3], [1, 0, 2]]),
        edge_attr=torch.randn(3, 1, generator=g),
        y=torch.tensor(1.5),
        pe=torch.randn(4, 3, generator=g),
        name="c",
    )
    return {"train": [node_task, no_edges], "val": [], "test": [graph_task]}


def _same(a: dict[str, list[Graph]], b: dict[str, list[Graph]]) -> None:
    assert a.keys() == b.keys()
    for split in a:
        assert len(a[split]) == len(b[split])
        for g, h in zip(a[split], b[split]):
            assert g.name == h.name
            for field in ("x", "edge_index", "edge_attr", "y", "pe"):
                s, t = getattr(g, field), getattr(h, field)
                assert (s is None) == (t is None), field
                if s is not None:
                    assert s.dtype == t.dtype and s.shape == t.shape and torch.equal(s, t), (split, g.name, field)


def test_pack_unpack_round_trip_is_exact():
    splits = _graphs()
    tensors, layout = pack(splits)
    _same(splits, unpack(tensors, layout))


class _Builder:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return _graphs()


def test_second_call_reads_the_cache_and_other_params_rebuild(tmp_path):
    build = _Builder()
    first = cached("toy", {"seed": 1}, build, tmp_path)
    again = cached("toy", {"seed": 1}, build, tmp_path)
    assert build.calls == 1
    _same(first, again)
    cached("toy", {"seed": 2}, build, tmp_path)
    assert build.calls == 2
    assert len(list(tmp_path.glob("toy-*.safetensors"))) == 2


def test_without_a_cache_folder_nothing_is_written(tmp_path):
    build = _Builder()
    cached("toy", {"seed": 1}, build, None)
    cached("toy", {"seed": 1}, build, None)
    assert build.calls == 2


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "bad_json", "other_params", "missing_tensor_file"])
def test_a_damaged_entry_is_rebuilt_with_a_warning(tmp_path, damage):
    params = {"seed": 3}
    build = _Builder()
    cached("toy", params, build, tmp_path)
    tensor_path, meta_path = entry_paths(tmp_path, "toy", params)
    if damage == "flip_byte":
        raw = bytearray(tensor_path.read_bytes())
        raw[-1] ^= 0xFF
        tensor_path.write_bytes(bytes(raw))
    elif damage == "truncate":
        tensor_path.write_bytes(tensor_path.read_bytes()[:20])
    elif damage == "bad_json":
        meta_path.write_text("{not json")
    elif damage == "other_params":
        meta = json.loads(meta_path.read_text())
        meta["params"] = {"seed": 4}
        meta_path.write_text(json.dumps(meta))
    else:
        tensor_path.unlink()
    with pytest.warns(UserWarning, match="unusable"):
        rebuilt = cached("toy", params, build, tmp_path)
    assert build.calls == 2
    _same(_graphs(), rebuilt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt entry is whole again: no warning
        cached("toy", params, build, tmp_path)
    assert build.calls == 2


def test_a_cache_folder_that_cannot_be_made_costs_the_cache_not_the_build(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    build = _Builder()
    with pytest.warns(UserWarning, match=f"dataset cache {blocker} cannot be written .*used without it"):
        _same(_graphs(), cached("toy", {"seed": 1}, build, blocker))
    assert blocker.read_text() == "a file where the folder should be" and list(tmp_path.iterdir()) == [blocker]


def test_a_full_disk_while_caching_leaves_no_entry_and_the_next_call_builds_again(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    build = _Builder()
    with pytest.warns(UserWarning, match="No space left on device"):
        _same(_graphs(), cached("toy", {"seed": 1}, build, tmp_path))
    assert list(tmp_path.iterdir()) == []  # no entry, no temporary file
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached("toy", {"seed": 1}, build, tmp_path)
    assert build.calls == 2 and len(list(tmp_path.glob("toy-*"))) == 2


def test_cache_files_get_the_mode_of_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        cached("toy", {"seed": 1}, _Builder(), tmp_path)
    finally:
        os.umask(old)
    assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {0o644}
