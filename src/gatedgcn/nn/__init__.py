"""The family: attention -> graph attention -> GCN -> residual gated GCN (and the MLP baseline, a = 0)."""

from gatedgcn.nn.attention import GraphAttention, SelfAttention
from gatedgcn.nn.ffn import FeedForward
from gatedgcn.nn.gated_gcn import GatedGCNLayer
from gatedgcn.nn.gcn import GCNLayer
from gatedgcn.nn.gps import GPSLayer
from gatedgcn.nn.mlp import MLPLayer
from gatedgcn.nn.norm import BatchNorm

__all__ = [
    "SelfAttention",
    "GraphAttention",
    "GCNLayer",
    "GatedGCNLayer",
    "MLPLayer",
    "BatchNorm",
    "FeedForward",
    "GPSLayer",
]
