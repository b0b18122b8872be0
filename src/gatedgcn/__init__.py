"""gatedgcn: a graph convolution is attention whose attention vector is given by the graph.

``import gatedgcn`` loads nothing heavy: the names below are imported from their modules on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from gatedgcn.errors import ConfigError, GatedGCNError, GraphError

if TYPE_CHECKING:
    from gatedgcn.graph import Batch, Graph, collate
    from gatedgcn.interop import from_networkx, from_pyg, to_networkx, to_pyg

__all__ = [
    "Graph",
    "Batch",
    "collate",
    "from_networkx",
    "to_networkx",
    "from_pyg",
    "to_pyg",
    "GatedGCNError",
    "GraphError",
    "ConfigError",
    "load",
]

_LAZY = dict.fromkeys(("Graph", "Batch", "collate"), "gatedgcn.graph") | dict.fromkeys(
    ("from_networkx", "to_networkx", "from_pyg", "to_pyg"), "gatedgcn.interop"
)


def __getattr__(name: str) -> Any:
    """The lazily imported names, and ``__version__`` (the installed package's, from importlib.metadata)."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name == "__version__":
        from importlib.metadata import version

        return version("gatedgcn")
    raise AttributeError(f"module 'gatedgcn' has no attribute {name!r}")


def load(run_dir: Any, **options: Any) -> Any:
    """A trained run in one call: ``run = gatedgcn.load("runs/default")`` gives ``run.model``, ``run.config``,
    ``run.dataset`` and ``run.predict(graphs)``; options as :func:`gatedgcn.app.predict.load` (``device``, ``batch_size``)."""
    from gatedgcn.app.predict import load as load_run

    return load_run(run_dir, **options)
