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
