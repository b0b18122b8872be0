"""Hostile Planetoid pickles: code, bombs, deep nesting, lies about sizes, broken parts; each refused naming the file."""

from __future__ import annotations

import os
import pickle
from collections import defaultdict

import numpy as np
import pytest
import scipy.sparse as sp
from harness import SMALL, refused, run_cli

N_ALL, TEST, FEATURES, CLASSES = 505, [505, 506, 507], 4, 3


def _valid() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    onehot = lambda n: np.eye(CLASSES)[rng.integers(0, CLASSES, n)]  # noqa: E731
    allx = sp.csr_matrix(rng.integers(0, 2, (N_ALL, FEATURES)).astype(np.float32) + np.eye(1, FEATURES, 0))
    ally = onehot(N_ALL)
    n = max(TEST) + 1
    parts = {
        "x": allx[:3],
        "y": ally[:3],
        "allx": allx,
        "ally": ally,
        "tx": sp.csr_matrix(np.ones((len(TEST), FEATURES), dtype=np.float32)),
        "ty": onehot(len(TEST)),
        "graph": defaultdict(list, {v: [(v + 1) % n] for v in range(n)}),
    }
    files = {part: pickle.dumps(value, protocol=2) for part, value in parts.items()}
    return files | {"test.index": "\n".join(map(str, TEST)).encode()}


class _Call:
    """Pickles as a call of ``function(*args)``."""

    def __init__(self, function, *args):
        self.call = (function, args)

    def __reduce__(self):
        return self.call


def _deep(levels: int) -> bytes:
    """``[[[...]]]`` nested ``levels`` deep, written opcode by opcode (the pickler itself would recurse)."""
    return b"\x80\x02" + b"]" * levels + b"a" * (levels - 1) + b"."


def _shared_pairs(levels: int) -> bytes:
    a: list = []
    for _ in range(levels):
        a = [a, a]  # 2^levels lists if each reference were unfolded
    return pickle.dumps(a, protocol=2)


def _cyclic() -> bytes:
    a: list = []
    a.append(a)
    return pickle.dumps({0: a}, protocol=2)


def _csr(shape, data, indices, indptr) -> bytes:
    m = sp.csr_matrix((2, 2), dtype=np.float32)
    m.data, m.indices, m.indptr, m._shape = np.asarray(data), np.asarray(indices), np.asarray(indptr), shape
    return pickle.dumps(m, protocol=2)


V = _valid()
SYSTEM = _Call(os.system, "touch hacked")
CASES = {
    "x calls os.system": ({"x": pickle.dumps(SYSTEM, protocol=2)}, ["ind.cora.x", "refused to unpickle"]),
    "allx calls eval": ({"allx": pickle.dumps(_Call(eval, "1+1"), protocol=2)}, ["ind.cora.allx", "eval"]),
    "graph calls getattr": (
        {"graph": pickle.dumps(_Call(getattr, 0, "real"), protocol=2)},
        ["ind.cora.graph", "getattr"],
    ),
    "y: 2^40 shared lists in 200 bytes": ({"y": _shared_pairs(40)}, ["ind.cora.y", "2-D matrix"]),
    "graph: 100,000 levels deep": ({"graph": _deep(100_000)}, ["ind.cora.graph", "levels deep"]),
    "graph: a list inside itself": ({"graph": _cyclic()}, ["ind.cora.graph", "levels deep"]),
    "tx truncated": ({"tx": V["tx"][: len(V["tx"]) // 2]}, ["ind.cora.tx", "not a valid pickle"]),
    "ty empty": ({"ty": b""}, ["ind.cora.ty", "empty"]),
    "ally: bytes of another size": (
        {"ally": V["ally"].replace(b"M\xf9\x01K\x03\x86", b"M\xfa\x01K\x03\x86", 1)},
        ["ind.cora.ally", "does not match its"],
    ),
    "allx: object dtype": ({"allx": pickle.dumps(np.array([[1, "a"]], dtype=object), protocol=2)}, ["ind.cora.allx"]),
    "x: sparse of 10^6 x 10^6": (
        {"x": _csr((10**6, 10**6), [1.0], [0], [0, 1] + [1] * (10**6 - 1))},
        ["ind.cora.x", "GiB", "dense"],
    ),
    "x: sparse with broken indptr": (
        {"x": _csr((3, 4), [1.0, 1.0], [0, 9], [0, 2, 1, 2])},
        ["ind.cora.x", "malformed"],
    ),
    "test.index: id 10^12": ({"test.index": b"505\n506\n1000000000000"}, ["ind.cora.test.index", "1000000000000"]),
    "test.index: duplicate id": ({"test.index": b"505\n505\n506"}, ["ind.cora.test.index", "distinct"]),
    "test.index: not an integer": ({"test.index": b"505\nfive\n506"}, ["ind.cora.test.index:2", "'five'"]),
    "test.index: missing": ({"test.index": None}, ["ind.cora.test.index", "not found"]),
    "test.index: one id short": ({"test.index": b"505\n506"}, ["ind.cora.test.index", "2 ids"]),
    "ty: a row short": ({"ty": pickle.dumps(np.eye(CLASSES)[:2], protocol=2)}, ["ind.cora.tx", "ind.cora.ty"]),
    "graph: neighbour outside the nodes": (
        {"graph": pickle.dumps({0: [1, 99_999]}, protocol=2)},
        ["ind.cora.graph", "99999"],
    ),
    "graph: a list, not a dict": ({"graph": pickle.dumps([[1], [0]], protocol=2)}, ["ind.cora.graph", "dict"]),
    "graph: string nodes": ({"graph": pickle.dumps({"a": [1]}, protocol=2)}, ["ind.cora.graph", "'a'"]),
    "graph: no edges": ({"graph": pickle.dumps({0: []}, protocol=2)}, ["ind.cora.graph", "no edges"]),
    "allx: a NaN feature": (
        {"allx": pickle.dumps(np.full((N_ALL, FEATURES), np.nan, dtype=np.float32), protocol=2)},
        ["ind.cora.allx", "non-finite"],
    ),
    "y: one column of class ids": ({"y": pickle.dumps(np.array([0, 1, 2]), protocol=2)}, ["ind.cora.y", "2-D"]),
    "allx: an out-of-band buffer": ({"allx": b"\x80\x05\x97."}, ["ind.cora.allx", "not a valid pickle"]),
    "allx: memo index never set": ({"allx": b"\x80\x02h\x07."}, ["ind.cora.allx", "not a valid pickle"]),
    "x: random bytes": ({"x": bytes(range(256)) * 4}, ["ind.cora.x"]),
}


def _write(box, changes: dict) -> None:
    for part, content in (V | changes).items():
        if content is not None:
            box.write(f"planetoid/ind.cora.{part}", content)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_planetoid_file_is_refused_naming_it(box, case):
    changes, names = CASES[case]
    _write(box, changes)
    refused(box, ["train", "--dataset", "cora", "--out", box.run, *SMALL], *names)
    assert not (box.root / "cwd" / "hacked").exists()


def test_a_folder_where_a_pickle_should_be_is_named(box):
    _write(box, {"allx": None})
    (box.data / "planetoid" / "ind.cora.allx").mkdir()
    refused(box, ["train", "--dataset", "cora", "--out", box.run, *SMALL], "ind.cora.allx", "not a plain file")


def test_the_valid_set_trains(box):
    _write(box, {})
    outcome = run_cli(["train", "--dataset", "cora", "--out", str(box.run), *SMALL])
    assert outcome.code == 0, outcome.err
