"""``gatedgcn``: a thin command line over :mod:`gatedgcn.app` (parse -> config -> launch).

Parsing and building the config import no torch: ``--help``, an unknown flag or a bad ``--set`` answer at
once; the libraries load once a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gatedgcn.app.config import Config
from gatedgcn.cli.parser import FLAGS, parse
from gatedgcn.errors import ConfigError, GatedGCNError, TrainingInterrupted

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    try:
        if args.command == "train":
            return _train(args, argv)
        if args.command == "eval":
            from gatedgcn.app.launch import evaluate

            metrics = evaluate(args.run_dir, splits=tuple(args.split or ("train", "val", "test")))
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


def _train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``gatedgcn train``: the config from the flags, then one run, a cross-validation, or torchrun with ``--nproc``."""
    config = _config(args)
    from gatedgcn.app import launch
    from gatedgcn.train.distributed import World, world_from_env
    from gatedgcn.train.distributed import launch as torchrun

    if args.nproc is not None and world_from_env() is None:
        launch.check_nproc(config, args.nproc)
        return torchrun(args.nproc, _without_nproc(argv))  # every process validates again; rank 0 prints
    start = time.perf_counter()
    out = args.resume or args.out or f"runs/{config.data.name}-{config.model.layer}-{time.strftime('%Y%m%d-%H%M%S')}"
    options = {"progress": not args.quiet, "detect_anomaly": args.detect_anomaly, "tensorboard": args.tensorboard}
    finished = bool(args.resume) and launch.is_finished(config, out)  # no epoch left: scored and written again
    if args.resume:
        summary = launch.train(config, out, resume=True, **options)
    elif config.data.folds:
        summary = launch.cross_validate(config, out, overwrite=args.overwrite, progress=not args.quiet)
    else:
        summary = launch.train(config, out, overwrite=args.overwrite, **options)
    if not (world_from_env() or World()).main:
        return 0
    if finished:
        more = "" if args.epochs is None else f"; --epochs {args.epochs} is no more than that"
        done = _epochs(summary["epochs"])
        print(f"gatedgcn: {out} is complete ({done}){more}; to train it on: --epochs N", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(
        f"{summary['model']} on {summary['dataset']}: {summary['parameters']:,} parameters"
        f"{_against_published(summary['parameters'], config.model.published_parameters)}, "
        f"{_epochs(summary['epochs'])} in {summary.get('seconds', time.perf_counter() - start):.1f} s -> {out}"
    )
    print(_table({k: summary[k] for k in ("train", "val", "test") if k in summary}))
    return 0


def _against_published(ours: int, published: int) -> str:
    """`` (published 500,000: -3.8 %)`` where the config names the source's count (model.published_parameters)."""
    return f" (published {published:,}: {100 * (ours - published) / published:+.1f} %)" if published else ""


def _config(args: argparse.Namespace) -> Config:
    """The run's config: ``--resume``'s config.yaml, else the defaults (or ``--config``) with ``--set`` and the flags."""
    if args.resume:
        given = [
            f"--{flag.replace('_', '-')}" for flag in FLAGS if getattr(args, flag) is not None and flag != "epochs"
        ]
        given += [f"--{flag}" for flag in ("config", "set", "out", "overwrite") if getattr(args, flag)]
        if given:
            raise ConfigError(
                f"--resume continues the run as its config.yaml says (--epochs N: on to N epochs); drop {', '.join(given)}"
            )
        config = Config.load(Path(args.resume) / "config.yaml")
        if args.epochs is not None:
            config = config.with_overrides([f"train.epochs={args.epochs}"])
        if config.data.folds and (Path(args.resume) / "fold-0").is_dir():
            raise ConfigError(
                f"--resume {args.resume}: a cross-validation folder; resume each fold: --resume {args.resume}/fold-K"
            )
        return config
    config = Config.load(args.config) if args.config else Config()
    sets = [
        f"{key}={json.dumps(getattr(args, flag))}"
        for flag, (key, _) in FLAGS.items()
        if getattr(args, flag) is not None
    ]
    assignments = list(args.set) + sets
    chosen = config.with_overrides(assignments)
    frame = None if args.config else _node_frame(chosen)
    if frame is None:
        return chosen
    if not args.quiet:
        print(
            f"{chosen.data.name}: the node-task frame of {chosen.model.layer} (gatedgcn.app.node_frame); "
            "flags and --set override it, --config starts elsewhere"
        )
    return Config().with_overrides(frame + assignments)


def _node_frame(config: Config) -> list[str] | None:
    """The node-task frame's assignments when ``config`` trains on a Planetoid set (cora, citeseer, pubmed, or one
    found in the data folder), else None."""
    from gatedgcn.app.node_frame import frame_overrides
    from gatedgcn.data.names import info_of
    from gatedgcn.data.planetoid import has_planetoid

    name, data_dir = config.data.name, config.data.resolved_data_dir()
    found = data_dir is not None and has_planetoid(data_dir / "planetoid", name)
    return frame_overrides(config.model.layer) if info_of(name).kind == "Planetoid" or found else None


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


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


def _run_tool(args: argparse.Namespace) -> None:
    """Parse -> call for the day-to-day commands."""
    command = {"predict": _predict, "plot": _plot, "runs": _runs, "explain": _explain, "data": _data, "config": _show}
    try:
        command[args.command](args)
    except ModuleNotFoundError as err:
        if err.name != "matplotlib":
            raise
        raise ConfigError(f"gatedgcn {args.command} draws with matplotlib: pip install 'gatedgcn[plot]'") from None


def _predict(args: argparse.Namespace) -> None:
    from gatedgcn.app.predict_files import predict_run

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


def _plot(args: argparse.Namespace) -> None:
    from gatedgcn.app.plot import plot_runs

    print("\n".join(str(p) for p in plot_runs(args.run_dirs, args.out)))


def _runs(args: argparse.Namespace) -> None:
    from gatedgcn.app import runs

    if args.compare:
        print(runs.compare_configs(runs.find_runs(args.dirs), all_keys=args.all))
    else:
        rows = runs.runs_table(args.dirs, sort=args.sort, reverse=args.reverse)
        print(json.dumps(rows) if args.json else runs.format_table(rows))


def _explain(args: argparse.Namespace) -> None:
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


def _data(args: argparse.Namespace) -> None:
    from gatedgcn.app.config import DataConfig
    from gatedgcn.data import download, listing

    data_dir = DataConfig(data_dir=args.data_dir).resolved_data_dir()
    if args.action == "list":
        print(listing.listing(data_dir))
    elif args.action == "info":
        print(listing.describe(args.name, data_dir))
    else:
        if data_dir is None:
            raise ConfigError("data fetch: name the data folder with --data-dir or $GATEDGCN_DATA_DIR")
        fetcher = download.Fetcher(base_url=args.base_url, log=lambda message: print(message, file=sys.stderr))
        fetched = download.fetch_dataset(args.name, data_dir, fetcher)
        print(f"{args.name}: {len(fetched)} file(s) fetched, all verified, in {data_dir}")


def _show(args: argparse.Namespace) -> None:
    """``gatedgcn config show``."""
    config = Config.load(args.config) if args.config else Config()
    print(config.with_overrides(args.set).describe(), end="")
