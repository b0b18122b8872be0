"""Optional TensorBoard logging, as a trainer callback (needs ``pip install 'gatedgcn[tensorboard]'``).

Per epoch: every number of the epoch record as a scalar (``loss/train``, ``accuracy/val``, ``lr``,
``seconds``) and a histogram of each layer's weights on one fixed batch (η ``[E, d]`` of the gated
GCN, a of the attention layers, a/d of the GCN), computed in eval mode without gradients.  Once,
at the start: the graph of the model, traced on that batch.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gatedgcn.errors import GatedGCNError
from gatedgcn.graph import Batch
from gatedgcn.model import GraphNet

__all__ = ["TensorBoardLogger", "scalars"]


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of an epoch record as TensorBoard tags: ``{"loss/train": ..., "lr": ...}``."""
    tags = {}
    for key, value in record.items():
        if isinstance(value, dict):
            tags.update({f"{name}/{key}": float(v) for name, v in value.items() if isinstance(v, (int, float))})
        elif isinstance(value, (int, float)) and key != "epoch":
            tags[key] = float(value)
    return tags


class _BatchInput(nn.Module):
    """The model seen as a function of the batch's tensors, for tracing (the batch is a dataclass)."""

    def __init__(self, model: GraphNet, fields: list[str]) -> None:
        super().__init__()
        self.model, self.fields = model, fields

    def forward(self, *tensors: Tensor) -> Tensor:
        fields: dict[str, Any] = {**dict.fromkeys(Batch.__dataclass_fields__), **dict(zip(self.fields, tensors))}
        return self.model(Batch(**fields))


class TensorBoardLogger:
    """``logger(record)`` after each epoch; ``writer`` is a ``SummaryWriter`` (or anything with its methods)."""

    def __init__(self, writer: Any, model: GraphNet, batch: Batch) -> None:
        self.writer, self.model, self.batch = writer, model, batch

    @classmethod
    def open(cls, log_dir: str | Path, model: GraphNet, batch: Batch) -> TensorBoardLogger:
        """A logger writing event files into ``log_dir``, with the model's graph added."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise GatedGCNError(
                "--tensorboard needs the tensorboard package: pip install 'gatedgcn[tensorboard]'"
            ) from None
        logger = cls(SummaryWriter(str(log_dir)), model, batch)
        logger.add_graph()
        return logger

    def _on_device(self) -> Batch:
        return self.batch.to(next(self.model.parameters()).device)

    def add_graph(self) -> None:
        batch = self._on_device()
        fields = [f for f in Batch.__dataclass_fields__ if getattr(batch, f) is not None]
        training = self.model.training
        self.model.eval()
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", torch.jit.TracerWarning
            )  # sizes become constants of the trace: fine for a picture
            warnings.simplefilter("ignore", DeprecationWarning)  # SummaryWriter.add_graph traces with torch.jit
            self.writer.add_graph(_BatchInput(self.model, fields), tuple(getattr(batch, f) for f in fields))
        self.model.train(training)

    def gates(self) -> list[Tensor]:
        """Each layer's weights on the fixed batch (eval mode, no gradients; the model's mode is restored)."""
        training = self.model.training
        self.model.eval()
        with torch.no_grad():
            _, weights = self.model(self._on_device(), return_weights=True)
        self.model.train(training)
        return [w.detach().cpu() for w in weights]

    def __call__(self, record: dict[str, Any]) -> None:
        step = int(record["epoch"])
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, step)
        for k, w in enumerate(self.gates()):
            self.writer.add_histogram(f"weights/layer{k}", w, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
