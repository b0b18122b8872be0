"""Graphs and batches of graphs.

Convention everywhere: ``edge_index`` is a ``LongTensor [2, E]``; row 0 holds the
sender ``j``, row 1 the receiver ``i``, and a message flows ``j -> i``.

A :class:`Graph` is validated when it is built, so that a malformed input fails here,
with the field and the index named, instead of deep inside a layer.  A :class:`Batch`
is the block-diagonal union of graphs with a node -> graph index; :func:`collate`
builds one and can be passed to ``torch.utils.data.DataLoader(collate_fn=collate)``.
Conversions to and from networkx and PyTorch Geometric are in :mod:`gatedgcn.interop`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from gatedgcn.errors import GraphError

__all__ = ["Graph", "Batch", "collate", "check_layer_inputs", "UNLABELLED"]

UNLABELLED = -1  # class id y of a row without a label (e.g. a node outside the split's mask)


def _check_features(name: str, t: Tensor | None, rows: int, where: str) -> None:
    """Features are ``[rows, F]`` floats, or integer category ids: ``[rows]`` (one per row) or ``[rows, K]``
    (K per row, ids of one shared table whose embedding rows are summed, as OGB's atom encoder); all finite."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise GraphError(f"{where}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() not in (1, 2):
        raise GraphError(f"{where}: {name} must have shape [{rows}] or [{rows}, F], got {list(t.shape)}")
    if t.shape[0] != rows:
        raise GraphError(f"{where}: {name} has {t.shape[0]} rows, expected {rows}")
    if t.is_floating_point():
        bad = ~torch.isfinite(t)
        if bad.any():
            row = int(bad.nonzero()[0, 0])
            raise GraphError(f"{where}: {name} has a non-finite value (NaN or inf) in row {row}")
    elif t.dtype == torch.bool or t.is_complex():
        raise GraphError(f"{where}: {name} must be float or integer, got {t.dtype}")
    elif t.numel() and int(t.min()) < 0:
        raise GraphError(f"{where}: {name} has a negative category id in row {int((t < 0).nonzero()[0, 0])}")


def _check_edge_index(edge_index: Tensor, num_nodes: int, where: str) -> None:
    if not isinstance(edge_index, Tensor):
        raise GraphError(f"{where}: edge_index must be a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.dtype not in (torch.int64, torch.int32):
        raise GraphError(f"{where}: edge_index must hold integers (torch.long), got {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise GraphError(f"{where}: edge_index must have shape [2, E], got {list(edge_index.shape)}")
    if edge_index.numel() == 0 or torch.compiler.is_compiling():
        return  # compiled, a check of the values would break the graph: the ops check the ids they read
    lo, hi = torch.aminmax(edge_index)  # one pass over both rows; the offending entry is looked for only on failure
    if int(lo) >= 0 and int(hi) < num_nodes:
        return
    for row, role in ((0, "sender"), (1, "receiver")):
        ids = edge_index[row]
        bad = (ids < 0) | (ids >= num_nodes)
        if bad.any():
            k = int(bad.nonzero()[0, 0])
            raise GraphError(
                f"{where}: edge_index[{row}, {k}] = {int(ids[k])} is not a node id of this graph "
                f"({role} must be in [0, {num_nodes}))"
            )


def check_layer_inputs(
    where: str, x: Tensor, edge_index: Tensor, e: Tensor | None = None, dim: int | None = None, *, ids: bool = True
) -> None:
    """The structural checks a layer makes on raw tensors (cheap next to the layer itself):
    ``x [N, dim]``, ``edge_index [2, E]`` of integer ids in ``[0, N)`` (``ids=False``: its ids were checked already
    against these N nodes), ``e [E, dim]``.
    Finiteness is checked where data enters, when a :class:`Graph` is built.
    Raises :class:`GraphError` naming the layer and the field."""
    width = "F" if dim is None else dim
    if not isinstance(x, Tensor) or x.dim() != 2 or (dim is not None and x.shape[1] != dim):
        shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise GraphError(f"{where}: x must be a [N, {width}] tensor, got {shape}")
    if ids:
        _check_edge_index(edge_index, x.shape[0], where)
    if e is not None and (
        not isinstance(e, Tensor)
        or e.dim() != 2
        or e.shape[0] != edge_index.shape[1]
        or (dim is not None and e.shape[1] != dim)
    ):
        shape = list(e.shape) if isinstance(e, Tensor) else type(e).__name__
        raise GraphError(
            f"{where}: e must be a [{edge_index.shape[1]}, {width}] tensor (one row per edge), got {shape}"
        )


def _check_target(y: Tensor | None, where: str) -> None:
    if y is None:
        return
    if not isinstance(y, Tensor):
        raise GraphError(f"{where}: y must be a torch.Tensor, got {type(y).__name__}")
    if y.is_floating_point() and torch.isinf(y).any():  # NaN is a missing label (masked out of loss and metrics)
        raise GraphError(f"{where}: y has an infinite value (a missing label is NaN)")


class _Sizes:
    """``num_nodes`` and ``num_edges`` of anything with ``x [N, ...]`` and ``edge_index [2, E]``."""

    x: Tensor
    edge_index: Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])


@dataclass(frozen=True)
class Graph(_Sizes):
    """One graph.

    Shapes:
        x: ``[N, F]`` float features, or ``[N]`` / ``[N, K]`` integer category ids (embedded by the model; K ids
            of one table per node, their embeddings summed)
        edge_index: ``[2, E]`` long, row 0 sender ``j``, row 1 receiver ``i``
        edge_attr: ``[E, F_e]`` float or ``[E]`` integer ids, or ``None``
        y: graph target ``[]`` (or ``[1, k]``), node targets ``[N]`` / ``[N, k]``, or edge targets ``[E]``;
            a float NaN is a missing label (e.g. an empty cell of a multi-task file), an integer class -1 likewise
        pe: ``[N, k]`` float positional encoding of the nodes (see :mod:`gatedgcn.data.encodings`), or ``None``
        extra: other named tensors carried along and never read by the model (e.g. a PyG graph's ``train_mask``);
            :func:`collate` leaves them out
    """

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor | None = None
    y: Tensor | None = None
    name: str = field(default="graph", compare=False)
    pe: Tensor | None = None
    extra: Mapping[str, Tensor] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        where = self.name
        for key, value in self.extra.items():
            if not isinstance(value, Tensor):
                raise GraphError(f"{where}: extra[{key!r}] must be a torch.Tensor, got {type(value).__name__}")
        if not isinstance(self.x, Tensor):
            raise GraphError(f"{where}: x must be a torch.Tensor, got {type(self.x).__name__}")
        if self.x.dim() not in (1, 2):
            raise GraphError(f"{where}: x must have shape [N] or [N, F], got {list(self.x.shape)}")
        _check_features("x", self.x, self.x.shape[0], where)
        _check_edge_index(self.edge_index, self.num_nodes, where)
        _check_features("edge_attr", self.edge_attr, self.edge_index.shape[1], where)
        _check_target(self.y, where)
        if self.pe is not None and (
            not isinstance(self.pe, Tensor) or not self.pe.is_floating_point() or self.pe.dim() != 2
        ):
            raise GraphError(
                f"{where}: pe must be a float tensor [N, k], got {getattr(self.pe, 'shape', type(self.pe).__name__)}"
            )
        _check_features("pe", self.pe, self.num_nodes, where)

    def in_degree(self) -> Tensor:
        """``d_i`` = number of senders of each receiver ``i``: ``[N]`` long."""
        return torch.bincount(self.edge_index[1], minlength=self.num_nodes)

    def replace(self, **changes: Any) -> Graph:
        """A copy with some fields changed, validated again."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Batch(_Sizes):
    """The block-diagonal union of ``B`` graphs.

    Shapes:
        x ``[N, F]`` or ``[N]``, edge_index ``[2, E]`` (ids shifted per graph), edge_attr ``[E, ...]``,
        node_graph ``[N]`` graph id of each node, nodes_per_graph ``[B]``, edges_per_graph ``[B]``,
        y: graph targets stacked ``[B]`` / ``[B, k]``, node or edge targets concatenated,
        pe ``[N, k]`` positional encodings or ``None``.
    """

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor | None
    y: Tensor | None
    node_graph: Tensor
    nodes_per_graph: Tensor
    edges_per_graph: Tensor
    pe: Tensor | None = None

    @property
    def num_graphs(self) -> int:
        return int(self.nodes_per_graph.shape[0])

    @property
    def edge_graph(self) -> Tensor:
        """Graph id of each edge: ``[E]``."""
        return torch.repeat_interleave(torch.arange(self.num_graphs, device=self.x.device), self.edges_per_graph)

    def to(self, device: torch.device | str) -> Batch:
        moved: dict[str, Any] = {
            f: None if (t := getattr(self, f)) is None else t.to(device) for f in self.__dataclass_fields__
        }
        return Batch(**moved)


def _stack_targets(graphs: Sequence[Graph]) -> Tensor | None:
    has = [g.y is not None for g in graphs]
    if not any(has):
        return None
    if not all(has):
        k = has.index(False)
        raise GraphError(f"collate: graph {k} ({graphs[k].name}) has no target y while others have one")
    ys = [g.y for g in graphs if g.y is not None]  # every one, checked above
    if all(y.dim() == 0 for y in ys):
        return torch.stack(ys)  # graph targets, one scalar each: [B]
    if any(y.dim() == 0 for y in ys):
        raise GraphError("collate: some targets y are scalars and others are not")
    try:
        return torch.cat(ys)  # node / edge targets, or graph targets of shape [1, k]
    except RuntimeError as err:
        raise GraphError(f"collate: targets y do not fit together: {err}") from None


def _cat_optional(name: str, parts: list[Tensor | None], graphs: Sequence[Graph]) -> Tensor | None:
    missing = [p is None for p in parts]
    if all(missing):
        return None
    if any(missing):
        k = missing.index(True)
        raise GraphError(f"collate: graph {k} ({graphs[k].name}) has no {name} while others have one")
    try:
        return torch.cat([p for p in parts if p is not None])  # every one, checked above
    except RuntimeError as err:
        raise GraphError(f"collate: {name} of the graphs do not fit together: {err}") from None


def collate(graphs: Sequence[Graph]) -> Batch:
    """Join graphs into one :class:`Batch` (block-diagonal adjacency, node ids shifted)."""
    if len(graphs) == 0:
        raise GraphError("collate: got an empty list of graphs")
    for k, g in enumerate(graphs):
        if not isinstance(g, Graph):
            raise GraphError(f"collate: item {k} is a {type(g).__name__}, not a gatedgcn Graph")
    n = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long)  # [B]
    m = torch.tensor([g.num_edges for g in graphs], dtype=torch.long)  # [B]
    offsets = torch.cumsum(n, 0) - n  # [B]
    edge_index = torch.cat([g.edge_index.long() + off for g, off in zip(graphs, offsets.tolist())], dim=1)
    try:
        x = torch.cat([g.x for g in graphs])
    except RuntimeError as err:
        raise GraphError(f"collate: node features x of the graphs do not fit together: {err}") from None
    return Batch(
        x=x,
        edge_index=edge_index,
        edge_attr=_cat_optional("edge_attr", [g.edge_attr for g in graphs], graphs),
        y=_stack_targets(graphs),
        node_graph=torch.repeat_interleave(torch.arange(len(graphs)), n),
        nodes_per_graph=n,
        edges_per_graph=m,
        pe=_cat_optional("pe", [g.pe for g in graphs], graphs),
    )
