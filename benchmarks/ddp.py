"""Throughput of data-parallel training here: `gatedgcn train` in 1 process and with --nproc 2 (torchrun, gloo).

    python benchmarks/ddp.py [--epochs 3] [--train 350]

Default experiment (4 gated GCN layers of width 100, mini set, global batch 50), no validation/test
split in the epochs (so that an epoch is training only); every process gets one intra-op thread.
With --sync-bn the gated layers run their plain code (the fused kernels compute plain batch norm; at
these batch sizes they are not used anyway: the edge tensors are far below the size where they pay).
Training graphs per second are taken from the epochs after the first (RUN/metrics.jsonl "seconds").
Writes the table to docs/distributed.md (between the markers) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "distributed.md"
BEGIN, END = "<!-- ddp-table:begin -->", "<!-- ddp-table:end -->"


def run(label: str, extra: list[str], threads: int, epochs: int, train: int, out: Path) -> dict:
    args = [
        sys.executable,
        "-m",
        "gatedgcn",
        "train",
        *extra,
        "--out",
        str(out),
        "--overwrite",
        "--quiet",
        "--epochs",
        str(epochs),
        "--set",
        f"data.num_train={train}",
        "--set",
        "data.num_val=0",
        "--set",
        "data.num_test=0",
    ]
    start = time.perf_counter()
    subprocess.run(args, check=True, env=os.environ | {"OMP_NUM_THREADS": str(threads)}, cwd=ROOT)
    wall = time.perf_counter() - start
    seconds = [json.loads(line)["seconds"] for line in (out / "metrics.jsonl").read_text().splitlines()][1:]
    per_epoch = sum(seconds) / len(seconds)
    return {
        "setup": label,
        "threads_per_process": threads,
        "s_per_epoch": per_epoch,
        "graphs_per_s": train / per_epoch,
        "wall_s": wall,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train", type=int, default=350)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            run("1 process, 1 thread", [], 1, a.epochs, a.train, Path(tmp) / "p1t1"),
            run("1 process, 2 threads", [], 2, a.epochs, a.train, Path(tmp) / "p1t2"),
            run("2 processes (--nproc 2), 1 thread each", ["--nproc", "2"], 1, a.epochs, a.train, Path(tmp) / "p2t1"),
            run(
                "2 processes, --sync-bn, 1 thread each",
                ["--nproc", "2", "--sync-bn"],
                1,
                a.epochs,
                a.train,
                Path(tmp) / "p2sync",
            ),
        ]
    load = os.getloadavg()
    base = rows[0]["graphs_per_s"]
    table = (
        "\n".join(
            ["| setup | s / epoch | training graphs / s | vs 1 process |", "| --- | ---: | ---: | ---: |"]
            + [
                f"| {r['setup']} | {r['s_per_epoch']:.2f} | {r['graphs_per_s']:.0f} | {r['graphs_per_s'] / base:.2f}x |"
                for r in rows
            ]
        )
        + f"\n\n{os.cpu_count()} cores; load average while measuring {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min); `python benchmarks/ddp.py --epochs {a.epochs} --train {a.train}`."
    )
    print(table)
    text = DOC.read_text()
    DOC.write_text(re.sub(f"{re.escape(BEGIN)}.*{re.escape(END)}", f"{BEGIN}\n{table}\n{END}", text, flags=re.S))


if __name__ == "__main__":
    main()
