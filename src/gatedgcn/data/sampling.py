"""Neighbour sampling: mini-batches of one big graph for node classification (fan-outs per layer).

A mini-batch is a small subgraph: ``B`` seed receivers (labelled nodes of the split), up to ``f_1``
sampled senders of each seed, up to ``f_2`` sampled senders of each of those, ... (one fan-out per
layer, ``--fanout 15,10``).  Its edges are the sampled ones, ``j -> i``; the seeds keep their labels and
every other node is ``UNLABELLED``, so the loss and the metric see the seeds only.  A receiver with at
most ``f`` senders keeps all of them; one with more gets ``f`` draws with replacement (duplicates
dropped).  Memory is bounded by ``B · f_1 · f_2 ···`` nodes, not by the graph.

With fan-outs at least the largest in-degree the subgraph holds every path of length ``L`` into the
seeds, so an ``L``-layer model in eval mode gives the seeds the outputs of the full graph.

Shapes: graph with ``N`` nodes and ``E`` edges; a batch has ``n ≤ B (1 + f_1 + f_1 f_2 + ...)`` nodes, seeds first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

from gatedgcn.graph import UNLABELLED, Batch, Graph, collate

__all__ = ["NeighbourSampler", "by_receiver"]


def by_receiver(edge_index: Tensor, num_nodes: int) -> tuple[Tensor | None, Tensor]:
    """The edges grouped by receiver (CSR): edge ids sorted by ``i`` (stably) ``[E]``, and ``indptr [N + 1]`` such that
    the in-edges of receivers ``a .. b-1`` are ``order[indptr[a] : indptr[b]]``.  ``order`` is ``None`` where the edges
    are grouped already (``i`` non-decreasing): then the edge ids are the positions (no ``[E]`` index, no sort)."""
    i = edge_index[1]  # [E]
    order = None if bool((i[1:] >= i[:-1]).all()) else torch.argsort(i, stable=True)  # [E]
    indptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)  # [N + 1]
    indptr[1:] = torch.cumsum(torch.bincount(edge_index[1], minlength=num_nodes), 0)
    return order, indptr


class NeighbourSampler:
    """An iterable of :class:`Batch` mini-batches of ``graph`` (usable as a trainer's loader).

    ``generator`` draws the seed order of an epoch and the neighbours, so a run can be resumed exactly."""

    def __init__(
        self,
        graph: Graph,
        fanouts: Sequence[int],
        batch_size: int,
        *,
        seed: int,
        shuffle: bool = True,
        collate_fn: Callable[[list[Graph]], Batch] = collate,
    ) -> None:
        if not fanouts or min(fanouts) < 1 or batch_size < 1:
            raise ValueError(
                f"NeighbourSampler: fan-outs must be >= 1 (one per layer) and batch_size >= 1, got {list(fanouts)}, {batch_size}"
            )
        self.graph, self.fanouts, self.batch_size, self.shuffle, self.collate_fn = (
            graph,
            list(fanouts),
            batch_size,
            shuffle,
            collate_fn,
        )
        self.order, self.indptr = by_receiver(graph.edge_index, graph.num_nodes)  # [E], [N + 1]
        self.senders = graph.edge_index[0] if self.order is None else graph.edge_index[0, self.order]  # [E]
        y = graph.y
        labelled = y is not None and y.dim() == 1
        self.seeds = (
            (y != UNLABELLED).nonzero().flatten() if y is not None and labelled else torch.arange(graph.num_nodes)
        )  # [S]
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.seeds) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = (
            torch.randperm(len(self.seeds), generator=self.generator) if self.shuffle else torch.arange(len(self.seeds))
        )
        for start in range(0, len(order), self.batch_size):
            yield self.sample(self.seeds[order[start : start + self.batch_size]])

    def _in_edges(self, frontier: Tensor, fanout: int) -> Tensor:
        """CSR positions of the sampled in-edges of ``frontier``: ``[M]``."""
        start, deg = self.indptr[frontier], self.indptr[frontier + 1] - self.indptr[frontier]  # [F], [F]
        k = deg.clamp(max=fanout)  # [F]
        first, d = torch.repeat_interleave(start, k), torch.repeat_interleave(deg, k)  # [M], [M]
        within = torch.arange(len(first)) - torch.repeat_interleave(
            torch.cumsum(k, 0) - k, k
        )  # 0..k-1 per receiver: [M]
        drawn = (torch.rand(len(first), generator=self.generator, dtype=torch.float64) * d).long()  # [M]
        return torch.unique(
            first + torch.where(d <= fanout, within, drawn)
        )  # all senders, or f draws without repeats: [M']

    def sample(self, seeds: Tensor) -> Batch:
        """The subgraph of ``seeds`` (nodes in order: seeds, then each hop's new senders)."""
        nodes, frontier, positions = [seeds], seeds, []
        for fanout in self.fanouts:
            pos = self._in_edges(frontier, fanout)  # [M]
            positions.append(pos)
            new = torch.unique(self.senders[pos])  # [M'']
            frontier = new[~torch.isin(new, torch.cat(nodes))]  # senders not in the subgraph yet (nothing of size N)
            nodes.append(frontier)
        nodes_t = torch.cat(nodes)  # [n]
        edge_ids = torch.unique(torch.cat(positions))  # each once: [m]
        edge_ids = edge_ids if self.order is None else self.order[edge_ids]  # original edge ids: [m]
        sorted_nodes, where = torch.sort(nodes_t)
        local = lambda ids: where[torch.searchsorted(sorted_nodes, ids)]  # noqa: E731  global -> local node id
        g = self.graph
        y = None
        if g.y is not None and g.y.dim() == 1:
            y = torch.full((len(nodes_t),), UNLABELLED, dtype=g.y.dtype)  # [n]
            y[: len(seeds)] = g.y[seeds]
        return self.collate_fn(
            [
                Graph(
                    x=g.x[nodes_t],
                    edge_index=torch.stack(
                        [local(g.edge_index[0, edge_ids]), local(g.edge_index[1, edge_ids])]
                    ),  # [2, m]
                    edge_attr=None if g.edge_attr is None else g.edge_attr[edge_ids],
                    y=y,
                    name=f"{g.name}[sampled]",
                )
            ]
        )
