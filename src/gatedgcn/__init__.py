"""gatedgcn: a graph convolution is attention whose attention vector is given by the graph."""

from gatedgcn.errors import ConfigError, GatedGCNError, GraphError
from gatedgcn.graph import Batch, Graph, collate, from_networkx, to_networkx

__version__ = "0.1.0"
__all__ = ["Graph", "Batch", "collate", "from_networkx", "to_networkx", "GatedGCNError", "GraphError", "ConfigError"]
