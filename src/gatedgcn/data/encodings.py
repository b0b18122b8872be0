"""Positional encodings of the nodes, added to the node embedding by the model.

Laplacian (Dwivedi et al.): the eigenvectors of the symmetric normalised Laplacian

    L = I - D^{-1/2} A D^{-1/2}

for the ``k`` smallest eigenvalues after the first (trivial) one; graphs with ``N - 1 < k``
get zero columns.  An eigenvector's sign is arbitrary: the model flips it at random per graph
in training (``ModelSpec.pe_sign_flip``).

Random walk (Dwivedi et al. 2022): the probabilities of returning to the start after
``1 … k`` steps of the random walk ``M = A D^{-1}``,

    p_i = [M_ii, (M²)_ii, …, (M^k)_ii].

``A`` is the symmetrised adjacency of ``edge_index`` (a directed edge counts both ways),
without self-loops; an isolated node has ``D^{-1} = 0``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gatedgcn.errors import ConfigError
from gatedgcn.graph import Graph

__all__ = ["ENCODINGS", "laplacian_pe", "random_walk_pe", "add_encoding"]


def _adjacency(edge_index: Tensor, num_nodes: int) -> np.ndarray:
    """Symmetric 0/1 adjacency without self-loops, float64: ``[N, N]``."""
    A = np.zeros((num_nodes, num_nodes))
    j, i = edge_index.numpy()
    A[i, j] = 1.0
    A = np.maximum(A, A.T)
    np.fill_diagonal(A, 0.0)
    return A


def _inverse(d: np.ndarray, power: float) -> np.ndarray:
    """``d^power`` where ``d > 0``, else 0."""
    out = np.zeros_like(d)
    out[d > 0] = d[d > 0] ** power
    return out


def laplacian_pe(edge_index: Tensor, num_nodes: int, k: int) -> Tensor:
    """Eigenvectors 2 … k+1 of ``L = I - D^{-1/2} A D^{-1/2}`` (by ascending eigenvalue): ``[N, k]`` float32."""
    A = _adjacency(edge_index, num_nodes)  # [N, N]
    s = _inverse(A.sum(1), -0.5)  # D^{-1/2}: [N]
    L = np.eye(num_nodes) - s[:, None] * A * s[None, :]  # [N, N]
    _, vectors = np.linalg.eigh(L)  # columns by ascending eigenvalue: [N, N]
    pe = np.zeros((num_nodes, k))
    found = vectors[:, 1 : k + 1]  # [N, min(k, N-1)]
    pe[:, : found.shape[1]] = found
    return torch.from_numpy(pe).float()


def random_walk_pe(edge_index: Tensor, num_nodes: int, k: int) -> Tensor:
    """Return probabilities ``(M^s)_ii`` for ``s = 1 … k``, ``M = A D^{-1}``: ``[N, k]`` float32."""
    A = _adjacency(edge_index, num_nodes)  # [N, N]
    M = A * _inverse(A.sum(0), -1.0)[None, :]  # column-stochastic: [N, N]
    pe = np.zeros((num_nodes, k))
    power = np.eye(num_nodes)
    for step in range(k):
        power = power @ M  # M^{step+1}: [N, N]
        pe[:, step] = np.diag(power)
    return torch.from_numpy(pe).float()


ENCODINGS = {"laplacian": laplacian_pe, "random_walk": random_walk_pe}


def add_encoding(graphs: list[Graph], kind: str, k: int) -> list[Graph]:
    """The graphs with ``pe`` set to the ``kind`` encoding of width ``k``."""
    if kind not in ENCODINGS:
        raise ConfigError(f"data.pe must be one of none, {', '.join(ENCODINGS)}; got {kind!r}")
    if k < 1:
        raise ConfigError(f"data.pe_dim must be >= 1, got {k}")
    encode = ENCODINGS[kind]
    return [g.replace(pe=encode(g.edge_index, g.num_nodes, k)) for g in graphs]
