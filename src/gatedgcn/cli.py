"""``gatedgcn``: a thin command line over :mod:`gatedgcn.app.experiment` (parse -> config -> run)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from gatedgcn.app.config import Config
from gatedgcn.errors import ConfigError, GatedGCNError, TrainingInterrupted
from gatedgcn.model import LAYERS

# flag -> config key, for the named shortcuts of ``--set``
FLAGS = {
    "dataset": "data.name",
    "data_dir": "data.data_dir",
    "pe": "data.pe",
    "pe_dim": "data.pe_dim",
    "folds": "data.folds",
    "data_path": "data.path",
    "model": "model.layer",
    "layers": "model.layers",
    "hidden": "model.hidden",
    "readout": "model.readout",
    "dropout": "model.dropout",
    "heads": "model.heads",
    "graph_size_norm": "model.graph_size_norm",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "seed": "train.seed",
    "device": "train.device",
    "checkpoint_minutes": "train.checkpoint_minutes",
    "fanout": "train.fanout",
    "inference_chunk": "train.inference_chunk",
    "sync_bn": "train.sync_batch_norm",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gatedgcn",
        description="Graph convolutions as attention whose attention vector is given by the graph: "
        "train and evaluate self-attention, graph attention, GCN and residual gated GCN.",
    )
    sub = p.add_subparsers(dest="command", required=True)

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
    t.add_argument("--dataset", help="dataset name (default: mini)")
    t.add_argument(
        "--data-dir",
        help="folder of real datasets (default: $GATEDGCN_DATA_DIR, else ../shared/data beside the repository)",
    )
    t.add_argument(
        "--pe",
        choices=("none", "laplacian", "random_walk"),
        help="positional encoding added to the node embedding (default: none)",
    )
    t.add_argument("--pe-dim", type=int, help="width k of the positional encoding (default: 8)")
    t.add_argument(
        "--folds",
        type=int,
        help="stratified k-fold cross-validation: one run per fold in OUT/fold-K and the mean ± std in OUT/summary.json",
    )
    t.add_argument("--data-path", help="the user's file for --dataset edgelist / jsonl")
    t.add_argument("--model", choices=LAYERS, help="layer of the family (default: gated_gcn)")
    t.add_argument("--layers", type=int, help="number of layers L (default: 4)")
    t.add_argument("--hidden", type=int, help="hidden width (default: 100)")
    t.add_argument("--readout", choices=("mean", "sum", "max"), help="graph readout (default: sum)")
    t.add_argument("--dropout", type=float, help="dropout (default: 0)")
    t.add_argument("--heads", type=int, help="attention heads (default: 1)")
    t.add_argument(
        "--graph-size-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale states by 1/sqrt(|V|), 1/sqrt(|E|) of their graph (default: on)",
    )
    t.add_argument("--epochs", type=int, help="epochs (default: 40)")
    t.add_argument("--batch-size", type=int, help="graphs per batch (default: 50)")
    t.add_argument("--lr", type=float, help="Adam learning rate (default: 1e-4)")
    t.add_argument("--seed", type=int, help="training seed (default: 41)")
    t.add_argument("--device", help="cpu or cuda (default: cpu)")
    t.add_argument("--out", metavar="DIR", help="run directory (default: runs/<dataset>-<model>-<time>)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    t.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its newest valid checkpoint (same config; no other config flags)",
    )
    t.add_argument(
        "--checkpoint-minutes",
        type=float,
        help="a checkpoint after every epoch and every this many minutes within one (default: 10; 0: every step)",
    )
    t.add_argument(
        "--tensorboard",
        action="store_true",
        help="TensorBoard logs in RUN_DIR/tensorboard: scalars per epoch, the model's graph, histograms of the gates (needs gatedgcn[tensorboard])",
    )
    t.add_argument(
        "--detect-anomaly",
        action="store_true",
        help="debugging: torch autograd anomaly detection; the first non-finite loss or gradient stops the run",
    )
    t.add_argument(
        "--fanout",
        metavar="F1,F2,...",
        help="node classification on one big graph: mini-batches of --batch-size seed nodes with F_l sampled senders per layer",
    )
    t.add_argument(
        "--inference-chunk",
        type=int,
        metavar="C",
        help="evaluate a node task layer by layer, C receivers at a time (default with --fanout: 16384)",
    )
    t.add_argument(
        "--sync-bn",
        action="store_true",
        default=None,
        help="with --nproc: batch norm over the rows of all processes (SyncBatchNorm)",
    )
    t.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="data-parallel training in N processes on this machine (torchrun, DDP); --batch-size is the global batch",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--json", action="store_true", help="print the summary as JSON")

    e = sub.add_parser("eval", help="re-evaluate the saved weights of a run directory")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument(
        "--split", action="append", choices=("train", "val", "test"), help="split(s) to score (default: all)"
    )
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _tool_parsers(sub)
    _data_parsers(sub)
    return p


def _data_parsers(sub) -> None:
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


def _tool_parsers(sub) -> None:
    """The day-to-day commands: predict, plot, runs, explain, config show."""
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

    c = sub.add_parser("config", help="the resolved config with the meaning of each key").add_subparsers(
        dest="action", required=True
    )
    p = c.add_parser("show", help="print the resolved config (defaults, --config, --set) with the meaning of each key")
    p.add_argument("--config", metavar="FILE", help="YAML config (e.g. RUN_DIR/config.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a key")


def _run_tool(args: argparse.Namespace) -> None:
    """Parse -> call for the day-to-day commands."""
    if args.command == "predict":
        from gatedgcn.app.predict import predict_run

        rows = predict_run(
            args.run_dir,
            args.input,
            args.out,
            nodes=args.nodes,
            device=args.device,
            batch_size=args.batch_size,
            progress=False if args.quiet else None,
        )
        if args.out and not args.quiet:
            print(f"{len(rows)} rows -> {args.out}")
    elif args.command == "plot":
        from gatedgcn.app.plot import plot_runs

        print("\n".join(str(p) for p in plot_runs(args.run_dirs, args.out)))
    elif args.command == "runs":
        from gatedgcn.app import runs

        if args.compare:
            print(runs.compare_configs(runs.find_runs(args.dirs), all_keys=args.all))
        else:
            rows = runs.runs_table(args.dirs, sort=args.sort, reverse=args.reverse)
            print(json.dumps(rows) if args.json else runs.format_table(rows))
    elif args.command == "explain":
        from gatedgcn.app.explain import explain_run

        paths = explain_run(
            args.run_dir,
            graph=args.graph,
            node=args.node,
            hops=args.hops,
            split=args.split,
            layer=args.layer,
            relative=args.relative,
            gallery_of_classes=args.gallery,
            out=args.out,
            device=args.device,
        )
        print("\n".join(str(p) for p in paths))
    elif args.command == "data":
        from gatedgcn.app.config import DataConfig
        from gatedgcn.data import catalog, download

        data_dir = DataConfig(data_dir=args.data_dir).resolved_data_dir()
        if args.action == "list":
            print(catalog.listing(data_dir))
        elif args.action == "info":
            print(catalog.describe(args.name, data_dir))
        else:
            if data_dir is None:
                raise ConfigError("data fetch: name the data folder with --data-dir or $GATEDGCN_DATA_DIR")
            fetcher = download.Fetcher(base_url=args.base_url, log=lambda message: print(message, file=sys.stderr))
            fetched = download.fetch_dataset(args.name, data_dir, fetcher)
            print(f"{args.name}: {len(fetched)} file(s) fetched, all verified, in {data_dir}")
    else:
        config = Config.load(args.config) if args.config else Config().check()
        print(config.with_overrides(args.set).describe(), end="")


def _config(args: argparse.Namespace) -> Config:
    if args.resume:
        given = [f"--{flag.replace('_', '-')}" for flag in FLAGS if getattr(args, flag) is not None]
        given += [f"--{flag}" for flag in ("config", "set", "out", "overwrite") if getattr(args, flag)]
        if given:
            raise ConfigError(f"--resume continues the run as its config.yaml says; drop {', '.join(given)}")
        config = Config.load(Path(args.resume) / "config.yaml")
        if config.data.folds and (Path(args.resume) / "fold-0").is_dir():
            raise ConfigError(
                f"--resume {args.resume}: a cross-validation folder; resume each fold: --resume {args.resume}/fold-K"
            )
        return config
    config = Config.load(args.config) if args.config else Config().check()
    sets = [
        f"{key}={json.dumps(getattr(args, flag))}" for flag, key in FLAGS.items() if getattr(args, flag) is not None
    ]
    return config.with_overrides(list(args.set) + sets)


def _table(metrics: dict[str, dict[str, float]]) -> str:
    return "\n".join(
        f"  {split:<5} " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()) for split, values in metrics.items()
    )


def _without_nproc(argv: Sequence[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if not skip and arg != "--nproc" and not arg.startswith("--nproc="):
            out.append(arg)
        skip = arg == "--nproc"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    from gatedgcn.app import experiment  # after parsing: --help stays fast
    from gatedgcn.train.distributed import World, launch, world_from_env

    try:
        if args.command == "train":
            config = _config(args)
            if args.nproc is not None and world_from_env() is None:
                if args.nproc < 1:
                    raise ConfigError(f"--nproc must be >= 1, got {args.nproc}")
                if config.data.folds:
                    raise ConfigError("--nproc trains one run; it does not combine with --folds")
                if config.train.batch_size % args.nproc:
                    raise ConfigError(
                        f"--batch-size {config.train.batch_size} is the global batch: it must be a multiple of --nproc {args.nproc}"
                    )
                return launch(args.nproc, _without_nproc(argv))  # every process validates again; rank 0 prints
            start = time.perf_counter()
            out = (
                args.resume
                or args.out
                or f"runs/{config.data.name}-{config.model.layer}-{time.strftime('%Y%m%d-%H%M%S')}"
            )
            if args.resume:
                summary = experiment.train(
                    config,
                    out,
                    resume=True,
                    progress=not args.quiet,
                    detect_anomaly=args.detect_anomaly,
                    tensorboard=args.tensorboard,
                )
            elif config.data.folds:
                summary = experiment.cross_validate(config, out, overwrite=args.overwrite, progress=not args.quiet)
            else:
                summary = experiment.train(
                    config,
                    out,
                    overwrite=args.overwrite,
                    progress=not args.quiet,
                    detect_anomaly=args.detect_anomaly,
                    tensorboard=args.tensorboard,
                )
            if not (world_from_env() or World()).main:
                return 0
            if args.json:
                print(json.dumps(summary))
            else:
                print(
                    f"{summary['model']} on {summary['dataset']}: {summary['parameters']:,} parameters, "
                    f"{summary['epochs']} epochs in {summary.get('seconds', time.perf_counter() - start):.1f} s -> {out}"
                )
                print(_table({k: summary[k] for k in ("train", "val", "test") if k in summary}))
        elif args.command == "eval":
            metrics = experiment.evaluate(args.run_dir, splits=tuple(args.split or ("train", "val", "test")))
            print(json.dumps(metrics) if args.json else _table(metrics))
        else:
            _run_tool(args)
    except ConfigError as err:
        print(f"gatedgcn: error: {err}", file=sys.stderr)
        return 2
    except TrainingInterrupted as err:
        print(f"gatedgcn: {err}", file=sys.stderr)
        return 128 + err.signum
    except KeyboardInterrupt:
        print(
            "gatedgcn: interrupted at once (second Ctrl-C); a training run goes on from its last checkpoint with --resume RUN_DIR",
            file=sys.stderr,
        )
        return 130
    except GatedGCNError as err:
        print(f"gatedgcn: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
