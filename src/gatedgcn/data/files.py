"""Plain files a user writes by hand, one module each:

- an edge list (``.csv``: commas, ``.tsv``: tabs; white space is accepted too) with a node table beside it,
  integer or string node ids, integer or named classes: :mod:`gatedgcn.data.edgelist`, :mod:`gatedgcn.data.nodetable`
  (their shared table reading: :mod:`gatedgcn.data.tables`);
- JSON lines of graphs: :mod:`gatedgcn.data.jsonl`.

This module gathers their public names.
"""

from __future__ import annotations

from gatedgcn.data.edgelist import EdgeList, build_edgelist, read_edge_file, read_edgelist
from gatedgcn.data.jsonl import build_jsonl, read_jsonl
from gatedgcn.data.nodetable import NodeTable, node_table_of, read_node_table

__all__ = [
    "EdgeList",
    "NodeTable",
    "build_edgelist",
    "build_jsonl",
    "node_table_of",
    "read_edge_file",
    "read_edgelist",
    "read_jsonl",
    "read_node_table",
]
