"""The frame the node-classification papers trained their models in, as the defaults of a Planetoid set.

``gatedgcn train --dataset cora`` (or citeseer, pubmed, any Planetoid set found in the data folder) with no
``--config`` starts from these values for the chosen ``--model`` instead of the graph-classification defaults:

    gcn              Kipf & Welling (ICLR 2017): 2 layers F -> 16 -> C, D^-1/2 (A + I) D^-1/2, no embedding,
                     no batch norm or residual, the last layer outputs the classes; dropout 0.5 on the input and
                     the hidden layer; Adam lr 0.01, weight decay 5e-4 on the first layer, 200 epochs
    gated_gcn        the frame around our gated layer: a linear embedding F -> 64, 2 gated layers of 64 (own batch
                     norm and residual off, one learned edge state), a linear head; input dropout 0.6, dropout 0.5,
                     weight decay 5e-4 on every weight, lr 0.01 halved after 50 epochs without progress, 400 epochs
    graph_attention  Veličković et al. (ICLR 2018): a linear embedding F -> 64, 2 layers of 8 additive heads of 8 over
                     the in-neighbours and the node itself (self-loops),
                     concatenated, ELU, dropout 0.6 (input, hidden, attention), Adam lr 0.005, weight decay 5e-4
                     on the first layer, a linear head

Flags and ``--set`` still override every value; configs/cora_gcn_kipf.yaml, cora_gated_gcn.yaml and
cora_graph_attention_kipf.yaml are these frames written out.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FRAMES", "frame_overrides"]

_COMMON: dict[str, Any] = {
    "model.batch_norm": False,
    "model.residual": False,
    "model.graph_size_norm": False,
    "model.head_layers": 0,
    "model.edge_features": False,
    "train.epochs": 200,
    "train.weight_decay": 5e-4,
    "train.weight_decay_layers": "first",
    "train.lr_patience": 1000,  # no plateau decay: the papers' constant learning rate
}

FRAMES: dict[str, dict[str, Any]] = {
    "gcn": {
        "model.layers": 2,
        "model.hidden": 16,
        "model.embed": False,
        "model.head": "none",
        "model.input_dropout": 0.5,
        "model.dropout": 0.5,
        "model.gcn_norm": "symmetric",
        "model.self_loops": True,
        "model.gcn_self_weight": False,
        "train.lr": 0.01,
    },
    "gated_gcn": {  # configs/cora_gated_gcn.yaml: at Kipf's width 16 it reached 70.4 ± 3.3 % (10 seeds)
        "model.layers": 2,
        "model.hidden": 64,
        "model.input_dropout": 0.6,
        "model.dropout": 0.5,
        "train.lr": 0.01,
        "train.epochs": 400,
        "train.weight_decay_layers": "all",
        "train.lr_factor": 0.5,
        "train.lr_patience": 50,
    },
    "graph_attention": {
        "model.layers": 2,
        "model.hidden": 64,
        "model.heads": 8,
        "model.score": "additive",
        "model.heads_join": "concat",
        "model.activation": "elu",
        "model.input_dropout": 0.6,
        "model.dropout": 0.6,
        "model.attention_dropout": 0.6,
        "model.self_loops": True,  # attention over N(i) and i itself (without: x_i never reaches h_i)
        "train.lr": 0.005,
    },
}


def frame_overrides(layer: str) -> list[str] | None:
    """``--set`` assignments of the node-task frame of ``layer`` (None: the layer has no frame)."""
    if layer not in FRAMES:
        return None
    values = {**_COMMON, **FRAMES[layer]}
    return [f"{key}={_yaml(value)}" for key, value in values.items()]


def _yaml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
