"""The command line's parser, built from the config's fields: one flag per model option, their help the
fields' own (:func:`gatedgcn.options.option`), and a suggestion for a mistyped flag.

Imports no torch (nor anything that does): ``gatedgcn --help`` and every mistake answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import typing
from collections.abc import Sequence
from typing import Any

from gatedgcn.app.config import DataConfig, ModelConfig, TrainConfig

__all__ = ["parser", "FLAGS", "parse"]

# flag -> (config key, help where the flag says more than the key's own help), the named shortcuts of --set;
# every model option is a flag of its own name (ModelConfig's fields, below)
DATA_TRAIN_FLAGS: dict[str, tuple[str, str | None]] = {
    "dataset": ("data.name", None),
    "data_dir": ("data.data_dir", None),
    "pe": ("data.pe", None),
    "pe_dim": ("data.pe_dim", None),
    "folds": (
        "data.folds",
        "stratified k-fold cross-validation: one run per fold in OUT/fold-K and the mean ± std in OUT/summary.json",
    ),
    "data_path": ("data.path", "the user's file for --dataset edgelist / jsonl"),
    "epochs": ("train.epochs", "epochs (with --resume: trains the run on to this many)"),
    "batch_size": ("train.batch_size", None),
    "lr": ("train.lr", None),
    "seed": ("train.seed", None),
    "device": ("train.device", None),
    "checkpoint_minutes": ("train.checkpoint_minutes", None),
    "fanout": (
        "train.fanout",
        "node classification on one big graph: mini-batches of --batch-size seed nodes with F_l sampled senders per layer (one value per layer)",
    ),
    "inference_chunk": ("train.inference_chunk", None),
    "sync_bn": ("train.sync_batch_norm", "with --nproc: batch norm over the rows of all processes (SyncBatchNorm)"),
}
SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def _model_flags() -> dict[str, tuple[str, str | None]]:
    """Every field of the model section as a flag: ``--<name>`` (or the field's ``flag``)."""
    flags: dict[str, tuple[str, str | None]] = {}
    for f in dataclasses.fields(ModelConfig):
        flag = f.metadata.get("flag") or f"--{f.name.replace('_', '-')}"
        flags[flag[2:].replace("-", "_")] = (f"model.{f.name}", None)
    return flags


FLAGS: dict[str, tuple[str, str | None]] = {**_model_flags(), **DATA_TRAIN_FLAGS}  # argparse dest -> key, help


def _add_option(group: Any, dest: str, key: str, help_text: str | None) -> None:
    """The flag of config ``key``: its type, choices, help and default read from the field."""
    section, name = key.split(".")
    cls = SECTIONS[section]
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    hint = typing.get_type_hints(cls)[name]
    hint = next((a for a in typing.get_args(hint) if a is not type(None)), hint)  # X | None -> X
    default = f.default
    shown = ("on" if default else "off") if hint is bool else default
    text = f"{help_text or f.metadata['help']} (default: {shown})".replace("%", "%%")
    flag = "--" + dest.replace("_", "-")
    if hint is bool:
        group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
        return
    choices = f.metadata.get("choices")
    kind = hint if hint in (int, float) else None
    group.add_argument(flag, dest=dest, type=kind, choices=choices, default=None, help=text)


class Parser(argparse.ArgumentParser):
    """An unknown flag is answered with the nearest known one: ``did you mean --epochs?``."""

    def error(self, message: str) -> typing.NoReturn:
        if message.startswith("unrecognized arguments:"):
            message += _suggestions(self, message.split(":", 1)[1].split())
        super().error(message)


def _suggestions(p: argparse.ArgumentParser, unknown: Sequence[str]) -> str:
    known = [s for action in _all_actions(p) for s in action.option_strings if s.startswith("--")]
    hints = []
    for word in (w.split("=")[0] for w in unknown if w.startswith("--")):
        near = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
        if near:
            hints.append(f"{word}: did you mean {near[0]}?")
    return ("; " + "; ".join(hints)) if hints else ""


def _all_actions(p: argparse.ArgumentParser) -> list[argparse.Action]:
    """The actions of ``p`` and of every subcommand under it."""
    actions = list(p._actions)
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                actions += _all_actions(sub)
    return actions


class _Version(argparse.Action):
    """``--version``: the installed package's version (importlib.metadata), read only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from importlib.metadata import version

        print(f"gatedgcn {version('gatedgcn')}")
        parser.exit()


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="gatedgcn",
        description="Graph convolutions as attention whose attention vector is given by the graph: "
        "train and evaluate self-attention, graph attention, GCN and residual gated GCN.",
    )
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    _train_parser(sub)
    e = sub.add_parser("eval", help="re-evaluate the saved weights of a run directory")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument(
        "--split", action="append", choices=("train", "val", "test"), help="split(s) to score (default: all)"
    )
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _tool_parsers(sub)
    _data_parsers(sub)
    return p


def parse(argv: Sequence[str]) -> argparse.Namespace:
    return parser().parse_args(argv)


def _train_parser(sub: Any) -> None:
    t = sub.add_parser(
        "train",
        help="train a model (no arguments: the lecture's mini graph classification experiment)",
        description="Train a model. Without arguments: 4 gated GCN layers of width 100 on the mini graph "
        "classification set (350 train / 100 val / 100 test graphs of 10-19 nodes), Adam lr 1e-4, batch 50, 40 epochs.",
    )
    t.add_argument("--config", metavar="FILE", help="YAML config (e.g. RUN_DIR/config.yaml); flags override it")
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any config key, e.g. --set model.hidden=128",
    )
    groups = {s: t.add_argument_group(f"{s} options (config section {s})") for s in SECTIONS}
    for dest, (key, help_text) in FLAGS.items():
        _add_option(groups[key.split(".")[0]], dest, key, help_text)
    r = t.add_argument_group("the run")
    r.add_argument("--out", metavar="DIR", help="run directory (default: runs/<dataset>-<model>-<time>)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    r.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its newest valid checkpoint (same config; no config flag but --epochs, "
        "which trains a finished run on)",
    )
    r.add_argument(
        "--tensorboard",
        action="store_true",
        help="TensorBoard logs in RUN_DIR/tensorboard: scalars per epoch, the model's graph, histograms of the gates (needs gatedgcn[tensorboard])",
    )
    r.add_argument(
        "--detect-anomaly",
        action="store_true",
        help="debugging: torch autograd anomaly detection; the first non-finite loss or gradient stops the run",
    )
    r.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="data-parallel training in N processes on this machine (torchrun, DDP); --batch-size is the global batch",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")


def _data_parsers(sub: Any) -> None:
    """``gatedgcn data list | info NAME | fetch NAME``: the real datasets and where they come from."""
    d = sub.add_parser(
        "data", help="real datasets: list, info NAME, fetch NAME (downloads only when asked)"
    ).add_subparsers(dest="action", required=True)
    d.add_parser("list", help="the known datasets, their size and whether they are in the data folder").add_argument(
        "--data-dir", help="data folder"
    )
    p = d.add_parser(
        "info", help="format, size, statistics (published and counted from the files), licence and citation, files"
    )
    p.add_argument("name")
    p.add_argument("--data-dir", help="data folder")
    p = d.add_parser(
        "fetch", help="download into the data folder from the canonical address, verifying the pinned sha256"
    )
    p.add_argument("name")
    p.add_argument(
        "--data-dir", help="data folder (default: $GATEDGCN_DATA_DIR, else ../shared/data beside the repository)"
    )
    p.add_argument("--base-url", help="a mirror: files are fetched from BASE_URL/<path in the data folder>")


def _tool_parsers(sub: Any) -> None:
    """The day-to-day commands: predict, plot, runs, explain, config show."""
    _run_tool_parsers(sub)
    _explain_parser(sub)
    _config_parser(sub)


def _run_tool_parsers(sub: Any) -> None:
    """predict, plot, runs: what a trained run gives."""
    p = sub.add_parser(
        "predict", help="predict with a trained run: one row per graph, node or edge (CSV or JSON lines)"
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "input",
        metavar="INPUT",
        help="graphs.jsonl, an edge list (edges.csv), a split of the run's dataset (test) or NAME:SPLIT",
    )
    p.add_argument("--nodes", metavar="FILE", help="node table of an edge list (default: nodes.csv beside it)")
    p.add_argument("--out", metavar="FILE", help="FILE.csv or FILE.jsonl (default: CSV on standard output)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:k] (default: cpu)")
    p.add_argument("--batch-size", type=int, help="graphs per batch (default: the run's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("plot", help="learning curves of one or more runs (PNG and SVG)")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument(
        "--out",
        metavar="STEM",
        help="writes STEM.png and STEM.svg (default: RUN_DIR/curves for one run, ./curves for several)",
    )

    p = sub.add_parser("runs", help="a table of the runs under a folder, or their configs side by side")
    p.add_argument("dirs", metavar="DIR", nargs="*", default=["runs"], help="folders of runs (default: runs)")
    p.add_argument("--sort", default="run", help="column to sort by, e.g. test, best_val, parameters (default: run)")
    p.add_argument("--reverse", action="store_true", help="sort in descending order")
    p.add_argument(
        "--compare", action="store_true", help="the configs of the runs side by side (only the keys that differ)"
    )
    p.add_argument("--all", action="store_true", help="with --compare: every key, differing ones marked *")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")


def _explain_parser(sub: Any) -> None:
    p = sub.add_parser(
        "explain", help="draw a graph with each edge coloured by its gate η_ij (or attention a_ij) in a layer"
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--graph", type=int, default=0, help="index K of the graph in the split (default: 0)")
    p.add_argument("--node", type=int, help="draw only the receptive field of this node (node tasks)")
    p.add_argument(
        "--hops", type=int, help="with --node: steps upstream (default: 2, or the number of layers if fewer)"
    )
    p.add_argument("--split", default="test", help="split to take the graph from (default: test)")
    p.add_argument("--layer", type=int, default=-1, help="layer whose weights colour the edges (default: -1, the last)")
    p.add_argument(
        "--relative",
        action="store_true",
        help="colour by d_i times the weight: 1 where the layer weighs the senders as the GCN does (1/d_i)",
    )
    p.add_argument("--gallery", action="store_true", help="one graph per class, side by side (graph classification)")
    p.add_argument("--out", metavar="FILE", help="PNG to write (default: in RUN_DIR)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:k] (default: cpu)")


def _config_parser(sub: Any) -> None:
    c = sub.add_parser("config", help="the resolved config with the meaning of each key").add_subparsers(
        dest="action", required=True
    )
    p = c.add_parser("show", help="print the resolved config (defaults, --config, --set) with the meaning of each key")
    p.add_argument("--config", metavar="FILE", help="YAML config (e.g. RUN_DIR/config.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a key")
