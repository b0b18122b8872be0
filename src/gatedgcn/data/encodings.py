"""Positional and structural encodings of the nodes, added to (or concatenated with) the node embedding by the model.

Laplacian (Dwivedi et al.): the eigenvectors of the symmetric normalised Laplacian

    L = I - D^{-1/2} A D^{-1/2}

for the ``k`` smallest eigenvalues after the first (trivial) one; graphs with ``N - 1 < k``
get zero columns.  An eigenvector's sign is arbitrary: the model flips it at random per graph
in training (``ModelSpec.pe_sign_flip``).

Random walk (RWSE, Dwivedi et al. 2022; GraphGPS, GNN+): the probabilities of returning to the start after
``1 … k`` steps of the random walk ``M = A D^{-1}``,

    p_i = [M_ii, (M²)_ii, …, (M^k)_ii].

``A`` is the symmetrised adjacency of ``edge_index`` (a directed edge counts both ways),
without self-loops; an isolated node has ``D^{-1} = 0``.

Everything is sparse (``scipy.sparse``): no ``[N, N]`` matrix is formed for a big graph.  The return
probabilities use ``S = D^{-1/2} A D^{-1/2}`` (``M^s = D^{1/2} S^s D^{-1/2}``, so ``(M^s)_ii = (S^s)_ii``) and,
``S`` being symmetric, ``(S^{a+b})_ii = Σ_j (S^a)_ij (S^b)_ij``: only the powers up to ``⌈k/2⌉`` are formed.
A collection of small graphs is encoded as block-diagonal unions of up to :data:`UNION_NODES` nodes.
Laplacian eigenvectors come from a dense ``eigh`` on graphs of at most :data:`DENSE_MAX` nodes and from
``scipy.sparse.linalg.eigsh`` (shift-invert just below 0, a fixed start vector) above.

:func:`encode_splits` caches the encoded splits with the dataset (:mod:`gatedgcn.data.cache`), keyed by the
graphs' structure, the kind and ``k``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
import torch
from torch import Tensor

from gatedgcn.data.cache import cached
from gatedgcn.errors import ConfigError, GraphError
from gatedgcn.graph import Graph

__all__ = ["ENCODINGS", "add_encoding", "encode_splits", "laplacian_pe", "random_walk_pe"]

DENSE_MAX = 512  # graphs up to this many nodes get a dense eigh of their Laplacian
UNION_NODES = 20_000  # random-walk encodings of small graphs are computed on unions of about this many nodes
ENCODING_VERSION = 1  # part of the cache key: bump when an encoding's numbers change


def _adjacency(edge_index: Tensor, num_nodes: int) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency without self-loops, float64, sparse: ``[N, N]``."""
    j, i = edge_index.numpy()
    keep = i != j
    rows, cols = np.concatenate([i[keep], j[keep]]), np.concatenate([j[keep], i[keep]])
    A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(num_nodes, num_nodes))  # duplicates summed
    A.data[:] = 1.0
    return A


def _inverse(d: np.ndarray, power: float) -> np.ndarray:
    """``d^power`` where ``d > 0``, else 0."""
    out = np.zeros_like(d)
    out[d > 0] = d[d > 0] ** power
    return out


def _normalised(A: sp.csr_matrix) -> sp.csr_matrix:
    """``S = D^{-1/2} A D^{-1/2}`` (an isolated node's row and column are 0)."""
    s = sp.diags(_inverse(np.asarray(A.sum(1)).ravel(), -0.5))  # D^{-1/2}
    return (s @ A @ s).tocsr()


def laplacian_pe(edge_index: Tensor, num_nodes: int, k: int) -> Tensor:
    """Eigenvectors 2 … k+1 of ``L = I - D^{-1/2} A D^{-1/2}`` (by ascending eigenvalue): ``[N, k]`` float32."""
    L = (sp.identity(num_nodes) - _normalised(_adjacency(edge_index, num_nodes))).tocsc()  # [N, N] sparse
    wanted = min(k + 1, num_nodes)
    if num_nodes <= DENSE_MAX or wanted >= num_nodes - 1:
        values, vectors = np.linalg.eigh(L.toarray())  # a small graph: [N], [N, N]
    else:
        v0 = np.random.default_rng(0).random(num_nodes)  # fixed start: the same vectors (and signs) every time
        values, vectors = sla.eigsh(L, k=wanted, sigma=-1e-3, which="LM", v0=v0)  # nearest to 0: [k+1], [N, k+1]
    found = vectors[:, np.argsort(values, kind="stable")][:, 1:wanted]  # [N, min(k, N-1)]
    pe = np.zeros((num_nodes, k))
    pe[:, : found.shape[1]] = found
    return torch.from_numpy(pe).float()


def random_walk_pe(edge_index: Tensor, num_nodes: int, k: int) -> Tensor:
    """Return probabilities ``(M^s)_ii`` for ``s = 1 … k``, ``M = A D^{-1}``: ``[N, k]`` float32."""
    S = _normalised(_adjacency(edge_index, num_nodes))  # [N, N] sparse, symmetric
    powers = [sp.identity(num_nodes, format="csr")]  # S^0 … S^{⌈k/2⌉}
    while len(powers) <= (k + 1) // 2:
        powers.append((powers[-1] @ S).tocsr())
    pe = np.zeros((num_nodes, k))
    for step in range(1, k + 1):
        a, b = step // 2, step - step // 2
        pe[:, step - 1] = np.asarray(powers[a].multiply(powers[b]).sum(1)).ravel()  # (S^{a+b})_ii
    return torch.from_numpy(pe).float()


ENCODINGS = {"laplacian": laplacian_pe, "random_walk": random_walk_pe}


def _unions(graphs: list[Graph]) -> list[list[int]]:
    """Consecutive groups of graph indices with at most about :data:`UNION_NODES` nodes each."""
    groups: list[list[int]] = [[]]
    nodes = 0
    for n, g in enumerate(graphs):
        if groups[-1] and nodes + g.num_nodes > UNION_NODES:
            groups.append([])
            nodes = 0
        groups[-1].append(n)
        nodes += g.num_nodes
    return groups if groups[0] else []


def _random_walk_of_union(graphs: list[Graph], k: int) -> list[Tensor]:
    """The random-walk encodings of several graphs from one block-diagonal union (the blocks do not mix)."""
    sizes = [g.num_nodes for g in graphs]
    offsets = np.cumsum([0, *sizes[:-1]])
    edge_index = torch.cat([g.edge_index + int(o) for g, o in zip(graphs, offsets)], dim=1)  # [2, ΣE]
    return list(torch.split(random_walk_pe(edge_index, sum(sizes), k), sizes))  # each [N_g, k]


def add_encoding(graphs: list[Graph], kind: str, k: int) -> list[Graph]:
    """The graphs with ``pe`` set to the ``kind`` encoding of width ``k`` (the input graphs are not changed)."""
    if kind not in ENCODINGS:
        raise ConfigError(f"data.pe must be one of none, {', '.join(ENCODINGS)}; got {kind!r}")
    if k < 1:
        raise ConfigError(f"data.pe_dim must be >= 1, got {k}")
    if kind == "laplacian":
        return [g.replace(pe=laplacian_pe(g.edge_index, g.num_nodes, k)) for g in graphs]
    out: list[Graph] = []
    for group in _unions(graphs):
        pes = _random_walk_of_union([graphs[n] for n in group], k)
        out += [graphs[n].replace(pe=pe) for n, pe in zip(group, pes)]
    return out


def _structure_digest(splits: dict[str, list[Graph]]) -> str:
    """sha256 of every split's graphs' node counts and edge lists: what the encodings depend on."""
    digest = hashlib.sha256()
    for split in sorted(splits):
        digest.update(split.encode())
        for g in splits[split]:
            digest.update(np.int64(g.num_nodes).tobytes())
            digest.update(g.edge_index.numpy().astype(np.int64).tobytes())
    return digest.hexdigest()


def encode_splits(
    splits: dict[str, list[Graph]], kind: str, k: int, cache_dir: Path | None, *, name: str = "dataset"
) -> dict[str, list[Graph]]:
    """Every split's graphs with the ``kind`` encoding of width ``k``, from the dataset cache when it holds them
    (``cache_dir=None``: computed, not stored)."""
    if kind not in ENCODINGS:
        raise ConfigError(f"data.pe must be one of none, {', '.join(ENCODINGS)}; got {kind!r}")
    params = {"dataset": name, "kind": kind, "k": k, "graphs": _structure_digest(splits), "version": ENCODING_VERSION}
    stored = cached(f"{name.lower()}-pe-{kind}", params, lambda: _carriers(splits, kind, k), cache_dir)
    return {split: [g.replace(pe=c.x) for g, c in zip(graphs, stored[split])] for split, graphs in splits.items()}


def _carriers(splits: dict[str, list[Graph]], kind: str, k: int) -> dict[str, list[Graph]]:
    """What the cache stores: per graph, its encoding as the features of an edgeless graph (``x`` = pe ``[N, k]``)."""
    empty = torch.zeros(2, 0, dtype=torch.long)
    return {
        split: [Graph(x=_pe(g), edge_index=empty, name=g.name) for g in add_encoding(graphs, kind, k)]
        for split, graphs in splits.items()
    }


def _pe(graph: Graph) -> Tensor:
    if graph.pe is None:
        raise GraphError(f"{graph.name}: no positional encoding to store")
    return graph.pe  # [N, k]
