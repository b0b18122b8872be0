"""What a dataset hands to the model and the trainer: its graphs per split and its task."""

from __future__ import annotations

from dataclasses import dataclass, field

from gatedgcn.graph import Graph

__all__ = ["Task", "Dataset"]

KINDS = ("classification", "multilabel", "regression")


@dataclass(frozen=True)
class Task:
    """What is predicted, where, and how it is scored.

    level: ``graph`` | ``node`` | ``edge``; kind: ``classification`` | ``multilabel`` (binary tasks, one logit
    each) | ``regression``; num_outputs: classes, tasks or regression targets; metric: a name of :data:`gatedgcn.train.metrics.METRICS`;
    balance_classes: weight the cross-entropy of each batch by its class sizes (the SBM benchmarks).
    """

    level: str
    kind: str
    num_outputs: int
    metric: str
    balance_classes: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task kind must be one of {KINDS}, got {self.kind!r}")


@dataclass
class Dataset:
    """Graphs per split (``train``, ``val``, ``test``) with their task and input description.

    in_dim / node_vocab: float node feature width, or number of node categories (one of them 0);
    edge_in_dim / edge_vocab: the same for edges (both 0 when edges carry nothing).
    """

    name: str
    task: Task
    splits: dict[str, list[Graph]]
    in_dim: int = 0
    node_vocab: int = 0
    edge_in_dim: int = 0
    edge_vocab: int = 0
    info: dict = field(default_factory=dict)

    def counts(self) -> dict:
        """What ``train`` prints and ``summary.json`` stores: graphs, nodes and edges of the distinct graphs, the
        outputs (classes, tasks or targets) and the size of each split (graphs, or labelled nodes / edges of one
        big graph)."""
        # one graph per split with the other splits' labels masked (a node task) is one graph: its edges are shared
        distinct = {id(g.edge_index): g for graphs in self.splits.values() for g in graphs}.values()
        sizes = {}
        for split, graphs in self.splits.items():
            if self.task.level == "graph" or len(graphs) != 1 or graphs[0].y is None:
                sizes[split] = len(graphs)
            else:  # one big graph, its labels outside the split set to -1
                y = graphs[0].y
                sizes[split] = int((y >= 0).sum()) if not y.is_floating_point() else int((~y.isnan()).sum())
        return {
            "graphs": len(distinct),
            "nodes": sum(g.num_nodes for g in distinct),
            "edges": sum(g.num_edges for g in distinct),
            "task": f"{self.task.level} {self.task.kind}",
            "outputs": self.task.num_outputs,
            "splits": sizes,
        }

    def summary_line(self) -> str:
        """:meth:`counts` in one line, e.g. ``cora: 1 graph, 2,708 nodes, 10,556 edges; node classification, 7 outputs;
        train 140 / val 500 / test 1,000``."""
        c = self.counts()
        splits = " / ".join(f"{name} {n:,}" for name, n in c["splits"].items())
        return (
            f"{self.name}: {c['graphs']:,} graph{'s' if c['graphs'] != 1 else ''}, {c['nodes']:,} nodes, "
            f"{c['edges']:,} edges; {c['task']}, {c['outputs']} output{'s' if c['outputs'] != 1 else ''}; {splits}"
        )
