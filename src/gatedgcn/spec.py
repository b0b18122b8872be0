"""ModelSpec: the one definition of an architecture, every field with its meaning.

:class:`ModelOptions` are what a user chooses (the config's ``model`` section, the CLI's model flags and the
help of ``gatedgcn config show`` are all read from these fields); :class:`ModelSpec` adds what the dataset
fixes (input and output sizes, task level, positional-encoding width).  A new model option is one field here
(``option(default, help, ...)``) and its use in :mod:`gatedgcn.model`.

Pure Python, no torch: the command line builds its flags from this module before any heavy import.
:class:`gatedgcn.model.GraphNet` builds the network a spec describes.
"""

from __future__ import annotations

from dataclasses import dataclass

from gatedgcn.errors import ConfigError
from gatedgcn.options import check_options, option

__all__ = ["LAYERS", "LEVELS", "ModelOptions", "ModelSpec"]

LAYERS = ("gated_gcn", "gcn", "graph_attention", "attention", "mlp")
LEVELS = ("graph", "node", "edge")
READOUT_NAMES = ("mean", "sum", "max")  # gatedgcn.model.READOUTS maps each to its segment reduction
ACTIVATION_NAMES = ("relu", "elu")  # f of a block: gatedgcn.model.ACTIVATIONS
IMPL_NAMES = ("fast", "reference")  # gatedgcn.ops.IMPLS


@dataclass(frozen=True)
class ModelOptions:
    """The architecture as a user chooses it: one field per option, its metadata the option's meaning and range."""

    layer: str = option(
        "gated_gcn",
        "one of gated_gcn, gcn, graph_attention, attention, mlp (node-wise, the graph unread)",
        choices=LAYERS,
        flag="--model",
    )
    layers: int = option(4, "number of layers L", low=1)
    hidden: int = option(100, "width of node (and edge) states", low=4)
    readout: str = option("mean", "graph readout: mean, sum or max (sum sees the graph size)", choices=READOUT_NAMES)
    batch_norm: bool = option(True, "batch norm after each layer")
    residual: bool = option(True, "residual connection h = x + ... around each layer")
    dropout: float = option(0.0, "dropout on node (and edge) states after each layer", low=0.0, below=1.0)
    graph_size_norm: bool = option(False, "scale states by 1/sqrt(|V|), 1/sqrt(|E|) of their graph before BN")
    heads: int = option(1, "attention heads", low=1)
    gcn_norm: str = option(
        "mean", "GCN weights: mean (1/d_i) or symmetric (1/sqrt(d_i d_j))", choices=("mean", "symmetric")
    )
    impl: str = option(
        "fast", "layer code: fast (fused kernels) or reference (the plain equations; same results)", choices=IMPL_NAMES
    )
    input_dropout: float = option(
        0.0, "dropout on the raw float node features before the embedding (training only)", low=0.0, below=1.0
    )
    head_layers: int = option(
        2, "halving hidden layers of the MLP head: hidden -> hidden/2 -> ... (0: one Linear)", low=0
    )
    head_dropout: float = option(
        0.0, "dropout on the readout's output, the MLP head's input (training only)", low=0.0, below=1.0
    )
    self_loops: bool = option(
        False, "add an edge i -> i for every node (gcn and graph_attention layers; Kipf & Welling's A + I)"
    )
    gcn_self_weight: bool = option(
        True, "GCN layer with its separate self weight U x (false: h = f(V X a d^-1) only, as Kipf & Welling)"
    )
    attention_activation: str = option(
        "relu",
        "f of the graph-attention block h = x + f(BN(attention)): relu, or elu (the benchmark's GAT block)",
        choices=ACTIVATION_NAMES,
    )

    def __post_init__(self) -> None:
        check_options(self, "model")
        only = {
            "self_loops": ("gcn", "graph_attention"),
            "gcn_self_weight": ("gcn",),
            "attention_activation": ("graph_attention",),
        }
        for name, layers in only.items():
            value, default = getattr(self, name), type(self).__dataclass_fields__[name].default
            if value != default and self.layer not in layers:
                raise ConfigError(
                    f"model.{name}={value!r} applies to the {' and '.join(layers)} layer"
                    f"{'s' if len(layers) > 1 else ''}, not to model.layer={self.layer!r}"
                )


@dataclass(frozen=True)
class ModelSpec(ModelOptions):
    """Everything that fixes the architecture (and so the shapes of the weights): the options and what the data fixes."""

    out_dim: int = option(8, "outputs per row: classes, or regression targets", low=1)
    level: str = option("graph", "task level: one output per graph, node or edge", choices=LEVELS)
    in_dim: int = option(1, "float node features (0 if the nodes carry category ids)", low=0)
    node_vocab: int = option(0, "number of node categories (0 if the features are floats)", low=0)
    edge_in_dim: int = option(0, "float edge features (0: none, or category ids)", low=0)
    edge_vocab: int = option(0, "number of edge categories (0: none, or float features)", low=0)
    pe_dim: int = option(0, "width k of the nodes' positional encoding, added to the node embedding (0: none)", low=0)
    pe_sign_flip: bool = option(False, "flip the sign of each PE column per graph at random in training (Laplacian PE)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.in_dim > 0) == (self.node_vocab > 0):
            raise ConfigError(
                "exactly one of in_dim (float node features) and node_vocab (node categories) must be > 0"
            )
        if self.input_dropout > 0 and self.node_vocab > 0:
            raise ConfigError(
                "model.input_dropout drops float node features; this model's nodes carry category ids (node_vocab > 0)"
            )
