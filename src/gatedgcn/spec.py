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

__all__ = ["LAYERS", "LEVELS", "RENAMED", "ModelOptions", "ModelSpec", "renamed"]

LAYERS = ("gated_gcn", "gcn", "graph_attention", "attention", "mlp", "gps")
LEVELS = ("graph", "node", "edge")
READOUT_NAMES = ("mean", "sum", "max")  # gatedgcn.model.READOUTS maps each to its segment reduction
ACTIVATION_NAMES = ("relu", "gelu", "elu")  # f of a block and of the FFN: gatedgcn.nn.ffn.ACTIVATIONS
RENAMED = {"attention_activation": "activation"}  # old option -> the option that replaced it (same values)
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
    activation: str = option(
        "relu",
        "f of the blocks h = x + f(BN(layer(x))) and of the FFN: relu, gelu or elu (elu: the benchmark's GAT block); "
        "the gated layer's own f is ReLU, so with gated_gcn it needs ffn (replaces attention_activation)",
        choices=ACTIVATION_NAMES,
    )
    ffn: bool = option(
        False, "a feed-forward block h = BN(h + Drop(W2 Drop(f(W1 h)))) after each layer (GraphGPS, GNN+; not gps)"
    )
    ffn_factor: int = option(
        2, "width of the FFN's hidden layer W1: ffn_factor x hidden (also the gps layer's FFN)", low=1
    )
    score: str = option(
        "dot",
        "graph-attention score: dot (beta k_j.q_i) or additive (Velickovic's GAT: LeakyReLU(a^T [W x_i || W x_j]))",
        choices=("dot", "additive"),
    )
    heads_join: str = option(
        "linear",
        "attention heads (graph_attention, attention, gps): linear (W_h over H full-width heads), "
        "concat (H heads of hidden/H side by side) or mean",
        choices=("linear", "concat", "mean"),
    )
    attention_dropout: float = option(
        0.0, "dropout on the graph-attention weights a_ij (training only)", low=0.0, below=1.0
    )
    pe_encoder: str = option(
        "linear",
        "encoder of data.pe: linear, or bn_linear (batch norm of the raw encoding, then linear: GraphGPS's RWSE)",
        choices=("linear", "bn_linear"),
    )
    pe_combine: str = option(
        "add",
        "the encoding's embedding added to the node embedding, or concat: pe_hidden of the hidden channels beside it",
        choices=("add", "concat"),
    )
    pe_hidden: int = option(
        16, "with pe_combine=concat: channels of the encoding (the node embedding gets the rest)", low=1
    )

    embed: bool = option(
        True,
        "map the inputs to the hidden width before the first layer (false: the first gcn layer reads the raw "
        "features, as Kipf & Welling)",
    )
    head: str = option(
        "mlp",
        "mlp: readout and MLP head; none: the last gcn layer outputs the classes itself (no norm, activation or "
        "dropout after it; Kipf & Welling's second layer)",
        choices=("mlp", "none"),
    )

    def __post_init__(self) -> None:
        check_options(self, "model")
        if (not self.embed or self.head == "none") and (self.layer != "gcn" or self.residual):
            raise ConfigError(
                "model.embed=false and model.head=none change the width inside the stack (Kipf & Welling's frame): "
                f"they need model.layer=gcn and model.residual=false, not {self.layer} with residual={self.residual}"
            )
        only = {
            "self_loops": ("gcn", "graph_attention"),
            "gcn_self_weight": ("gcn",),
            "score": ("graph_attention",),
            "attention_dropout": ("graph_attention",),
            "heads_join": ("graph_attention", "attention", "gps"),
        }
        for name, layers in only.items():
            value, default = getattr(self, name), type(self).__dataclass_fields__[name].default
            if value != default and self.layer not in layers:
                raise ConfigError(
                    f"model.{name}={value!r} applies to the {' and '.join(layers)} layer"
                    f"{'s' if len(layers) > 1 else ''}, not to model.layer={self.layer!r}"
                )
        self._check_blocks()

    def _check_blocks(self) -> None:
        """The block options that depend on each other: the FFN, f, the heads' join."""
        if self.ffn and self.layer == "gps":
            raise ConfigError("model.ffn: the gps layer carries its own FFN (model.ffn applies to the other layers)")
        if self.activation != "relu" and self.layer == "gated_gcn" and not self.ffn:
            raise ConfigError(
                f"model.activation={self.activation!r}: the gated layer's own f is ReLU (its equation); "
                "activation applies to the FFN (set model.ffn) and to the blocks of the other layers"
            )
        if self.heads_join == "concat" and self.hidden % self.heads:
            raise ConfigError(
                f"model.heads_join=concat needs model.hidden divisible by model.heads, got {self.hidden} and {self.heads}"
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
    last_edge_update: bool = option(
        True, "the last gated layer computes its edge state e' (read by nothing); runs since 2026-12-02 do not build it"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.in_dim > 0) == (self.node_vocab > 0):
            raise ConfigError(
                "exactly one of in_dim (float node features) and node_vocab (node categories) must be > 0"
            )
        if self.head == "none" and self.level == "edge":
            raise ConfigError("model.head=none gives node outputs; an edge task needs the MLP head over [h_j, h_i]")
        if (not self.embed) and (self.node_vocab > 0 or self.pe_dim > 0):
            raise ConfigError("model.embed=false reads float node features, without positional encodings")
        if self.input_dropout > 0 and self.node_vocab > 0:
            raise ConfigError(
                "model.input_dropout drops float node features; this model's nodes carry category ids (node_vocab > 0)"
            )
        if self.pe_dim > 0 and self.pe_combine == "concat" and not self.pe_hidden < self.hidden:
            raise ConfigError(
                f"model.pe_hidden must be < model.hidden ({self.hidden}) with pe_combine=concat, got {self.pe_hidden}"
            )


def renamed(fields: dict) -> dict:
    """Model fields as an older config or stored spec wrote them, with each :data:`RENAMED` option under its new name
    (``attention_activation: elu`` -> ``activation: elu``; an explicit new option wins over the old one's default)."""
    out = dict(fields)
    for old, new in RENAMED.items():
        if old in out:
            value = out.pop(old)
            if out.get(new, "relu") == "relu":
                out[new] = value
    return out
