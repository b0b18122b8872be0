"""A seeded on-disk cache of generated (or parsed) datasets: safetensors + JSON metadata.

An entry is two files in the cache folder, named by the generator and a hash of its parameters:

    <kind>-<hash>.safetensors   every split's graphs, each field concatenated over the graphs
    <kind>-<hash>.json          {"kind", "params", "version", "sha256" of the tensor file, "splits"}

:func:`cached` returns the entry when its metadata names the same generator and parameters
and the tensor file still has the recorded content hash; a missing entry is built and written
(atomically: temporary file, then rename).  A mismatch or a corrupt file is never used: it is
reported with a warning and rebuilt.  A folder that cannot be written (no permission, read-only, full)
costs the cache, not the run: the dataset is built, used and not stored, with a warning.  Files get
the mode the umask gives.  The folder is ``data.cache_dir``, else ``$GATEDGCN_CACHE_DIR``, else
``~/.cache/gatedgcn``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from gatedgcn.graph import Graph

__all__ = ["cached", "entry_paths", "pack", "unpack", "CACHE_VERSION"]

CACHE_VERSION = 1
FIELDS = ("x", "edge_index", "edge_attr", "y", "pe")
Splits = dict[str, list[Graph]]


def _params_hash(kind: str, params: dict[str, Any]) -> str:
    text = json.dumps({"kind": kind, "params": params, "version": CACHE_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def entry_paths(cache_dir: Path, kind: str, params: dict[str, Any]) -> tuple[Path, Path]:
    """The tensor file and the metadata file of an entry."""
    stem = f"{kind}-{_params_hash(kind, params)}"
    return cache_dir / f"{stem}.safetensors", cache_dir / f"{stem}.json"


def _rows(t: Tensor, field: str) -> Tensor:
    """A graph's field as rows: edge_index ``[2, E]`` -> ``[E, 2]``, a scalar target -> ``[1]``."""
    if field == "edge_index":
        return t.t()
    return t.reshape(1) if t.dim() == 0 else t


def pack(splits: Splits) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Graphs -> flat tensors ``<split>.<field>`` (rows of all graphs) and ``<split>.<field>.rows`` (rows per graph)."""
    tensors: dict[str, Tensor] = {}
    layout: dict[str, Any] = {}
    for split, graphs in splits.items():
        present, scalar_y = [], bool(graphs) and graphs[0].y is not None and graphs[0].y.dim() == 0
        for field in FIELDS:
            parts = [getattr(g, field) for g in graphs]
            if not graphs or parts[0] is None:
                continue
            rows = [_rows(p, field) for p in parts]
            tensors[f"{split}.{field}"] = torch.cat(rows).contiguous()  # [R, ...]
            tensors[f"{split}.{field}.rows"] = torch.tensor([r.shape[0] for r in rows], dtype=torch.long)  # [G]
            present.append(field)
        layout[split] = {
            "graphs": len(graphs),
            "fields": present,
            "scalar_y": scalar_y,
            "names": [g.name for g in graphs],
        }
    return tensors, layout


def unpack(tensors: dict[str, Tensor], layout: dict[str, Any]) -> Splits:
    """The inverse of :func:`pack`."""
    splits: Splits = {}
    for split, info in layout.items():
        columns = {}
        for field in info["fields"]:
            rows = tensors[f"{split}.{field}.rows"].tolist()
            columns[field] = torch.split(tensors[f"{split}.{field}"], rows)
        graphs = []
        for k in range(info["graphs"]):
            f: dict[str, Any] = {field: columns[field][k] for field in columns}  # Graph's tensor fields
            if "edge_index" in f:
                f["edge_index"] = f["edge_index"].t().contiguous()  # [2, E]
            if info["scalar_y"] and "y" in f:
                f["y"] = f["y"].reshape(())
            graphs.append(Graph(name=info["names"][k], **f))
        splits[split] = graphs
    return splits


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(tensor_path: Path, meta_path: Path, kind: str, params: dict[str, Any]) -> Splits | None:
    """The entry if it is whole and matches; ``None`` if absent; a warning and ``None`` if it is unusable."""
    if not tensor_path.exists() and not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if (
            meta.get("kind") != kind
            or meta.get("params") != json.loads(json.dumps(params))
            or meta.get("version") != CACHE_VERSION
        ):
            raise ValueError("its metadata names other parameters")
        if _sha256(tensor_path) != meta.get("sha256"):
            raise ValueError("the tensor file does not have the recorded content hash")
        return unpack(load_file(str(tensor_path)), meta["splits"])
    except Exception as err:  # any fault of a cache file means: rebuild it
        warnings.warn(f"dataset cache {tensor_path} is unusable ({err}); rebuilding it", stacklevel=3)
        return None


def _write_atomic(path: Path, write: Callable[[str], object]) -> None:
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666))  # the umask applies
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached(kind: str, params: dict[str, Any], build: Callable[[], Splits], cache_dir: Path | None) -> Splits:
    """``build()``'s splits, from the cache entry of ``(kind, params)`` when it is valid, else built and stored.

    ``params`` must be JSON data and fix the result (seed, sizes, source file hash, ...).
    ``cache_dir=None`` builds without caching.
    """
    if cache_dir is None:
        return build()
    cache_dir = Path(cache_dir)
    tensor_path, meta_path = entry_paths(cache_dir, kind, params)
    found = _read(tensor_path, meta_path, kind, params)
    if found is not None:
        return found
    splits = build()
    try:
        _store(splits, tensor_path, meta_path, {"kind": kind, "params": params, "version": CACHE_VERSION})
    except OSError as err:
        with contextlib.suppress(OSError):
            tensor_path.unlink(missing_ok=True)  # no tensor file without its metadata
        warnings.warn(
            f"dataset cache {cache_dir} cannot be written ({err.strerror or err}); the dataset is used without it",
            stacklevel=2,
        )
    return splits


def _save_whole(tensors: dict[str, Tensor], path: str) -> None:
    """``save_file``, then fsync, and a check that every tensor byte reached the file (a full disk can
    otherwise leave a short file behind without an error)."""
    mode = os.stat(path).st_mode & 0o777  # as the umask made it: save_file writes a file of its own
    save_file(tensors, path)
    os.chmod(path, mode)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
        size = os.fstat(fh.fileno()).st_size
    if size < sum(t.numel() * t.element_size() for t in tensors.values()):
        raise OSError(errno.ENOSPC, "No space left on device (the tensor file was cut short)")


def _store(splits: Splits, tensor_path: Path, meta_path: Path, meta: dict[str, Any]) -> None:
    tensors, layout = pack(splits)
    tensor_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(tensor_path, lambda tmp: _save_whole(tensors, tmp))
    meta = meta | {"sha256": _sha256(tensor_path), "splits": layout}
    _write_atomic(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta)))
