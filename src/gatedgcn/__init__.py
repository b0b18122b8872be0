"""gatedgcn: a graph convolution is attention whose attention vector is given by the graph."""

from gatedgcn.errors import ConfigError, GatedGCNError, GraphError
from gatedgcn.graph import Batch, Graph, collate, from_networkx, to_networkx

__version__ = "0.1.0"
__all__ = [
    "Graph",
    "Batch",
    "collate",
    "from_networkx",
    "to_networkx",
    "GatedGCNError",
    "GraphError",
    "ConfigError",
    "load",
]


def load(run_dir, **options):
    """A trained run in one call: ``run = gatedgcn.load("runs/default")`` gives ``run.model``, ``run.config``,
    ``run.dataset`` and ``run.predict(graphs)``; options as :func:`gatedgcn.app.predict.load` (``device``, ``batch_size``)."""
    from gatedgcn.app.predict import load as load_run  # imported on use: ``import gatedgcn`` stays light

    return load_run(run_dir, **options)
