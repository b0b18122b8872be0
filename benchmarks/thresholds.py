"""Where each fused path starts to pay: every layer's fast path forced on, against its plain equations, by size.

For edge tensors of 2^14 to 2^22 elements (E·d, d = 70, 20 in-edges per node from groups of 30 nodes) one
forward + backward of each layer, round robin over

- gated GCN, plain (``impl="reference"``), fused with the compiled CPU sweeps, fused with the PyTorch kernels;
- GCN (mean), plain and fused (``gather_scatter``);
- graph attention, plain and fused (``edge_dot`` + ``gather_scatter``);
- the layers' tail ``y = r + ReLU(BN(t))`` alone (``norm_relu_residual``) on an ``[E, d]`` tensor, plain and fused.

"Fused" runs inside :func:`gatedgcn.ops.fused_kernels` (every op's fused kernels at every size, the usual
chunks).  The recommended threshold of a path is the smallest size from which its fused form is at least
:data:`MARGIN` × as fast as the plain one at that size and at every larger one.
"""

from __future__ import annotations

import contextlib
import statistics
import time

import torch

DIM, DEGREE, GROUP = 70, 20, 30
POWERS = tuple(range(14, 23))
MARGIN = 1.05  # fused must win by 5 %: below that the sizes are within the noise of this machine
# path -> (layer kind, plain impl, fused: compiled sweeps or not)
RUNS = {
    "gated, plain": ("gated", "reference", None),
    "gated, compiled": ("gated", "fast", True),
    "gated, PyTorch kernels": ("gated", "fast", False),
    "gcn, plain": ("gcn", "reference", None),
    "gcn, fused": ("gcn", "fast", True),
    "attention, plain": ("attention", "reference", None),
    "attention, fused": ("attention", "fast", True),
    "norm tail, plain": ("norm", "reference", None),
    "norm tail, fused": ("norm", "fast", True),
}
PATHS = {  # fused path -> (its run, the plain run it replaces, the op's threshold in gatedgcn.ops.MIN_ELEMENTS)
    "gated, compiled": ("gated, plain", "gated_edges_compiled"),
    "gated, PyTorch kernels": ("gated, plain", "gated_edges"),
    "gcn, fused": ("gcn, plain", "gather_scatter"),
    "attention, fused": ("attention, plain", "edge_dot"),
    "norm tail, fused": ("norm tail, plain", "norm_relu_residual"),
}


class NormTail(torch.nn.Module):
    """``y = t + ReLU(BN(t))`` through :func:`gatedgcn.ops.norm_relu_residual` (the tail of every layer)."""

    def __init__(self, dim: int, impl: str) -> None:
        super().__init__()
        from gatedgcn.nn import BatchNorm

        self.bn, self.impl = BatchNorm(dim), impl

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        from gatedgcn.ops import norm_relu_residual

        return norm_relu_residual(t, t, self.bn, impl=self.impl)  # [R, d]


def _maker(make_layer):
    return lambda kind, impl, dim: NormTail(dim, impl) if kind == "norm" else make_layer(kind, impl, dim)


def _stepper(step):
    def run(layer, kind, x, edge_index, e):
        if kind != "norm":
            return step(layer, kind, x, edge_index, e)
        e.grad = None
        layer(e).sum().backward()

    return run


def graph(power: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x ``[N, d]``, edge_index ``[2, E]``, e ``[E, d]`` with E·d = 2^power."""
    E = (1 << power) // DIM
    N = max(GROUP, E // DEGREE)
    g = torch.Generator().manual_seed(seed + power)
    i = torch.randint(0, N, (E,), generator=g)  # receivers: [E]
    j = ((i // GROUP) * GROUP + torch.randint(0, GROUP, (E,), generator=g)).clamp_(max=N - 1)  # senders nearby: [E]
    x = torch.randn(N, DIM, generator=g).requires_grad_(True)
    e = torch.randn(E, DIM, generator=g).requires_grad_(True)
    return x, torch.stack([j, i]), e


def _context(compiled: bool | None):
    from gatedgcn.ops import fused_kernels

    return contextlib.nullcontext() if compiled is None else fused_kernels(chunk_rows=None, compiled=compiled)


def bench(make_layer, step, reps: int, powers: tuple[int, ...] = POWERS) -> dict:
    """``make_layer(kind, impl, dim)`` and ``step(layer, kind, x, edge_index, e)`` are bench.py's."""
    rows = []
    make_layer, step = _maker(make_layer), _stepper(step)
    for p in powers:
        x, edge_index, e = graph(p)
        layers = {name: make_layer(kind, impl, DIM) for name, (kind, impl, _) in RUNS.items()}
        times: dict[str, list[float]] = {name: [] for name in RUNS}
        for k in range(reps + 1):  # the first round is the warm-up
            for name, (kind, _, compiled) in RUNS.items():
                with _context(compiled):
                    start = time.perf_counter()
                    step(layers[name], kind, x, edge_index, e)
                    if k:
                        times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) for name, t in times.items()}
        rows.append(
            {"log2_elements": p, "edges": edge_index.shape[1], "nodes": x.shape[0], "times": times, "median": med}
        )
        print(
            f"2^{p} ({edge_index.shape[1]:,} edges): "
            + "  ".join(f"{path} {med[plain] / med[path]:.2f}x" for path, (plain, _) in PATHS.items()),
            flush=True,
        )
    return {"dim": DIM, "degree": DEGREE, "reps": reps, "margin": MARGIN, "rows": rows, "recommended": recommend(rows)}


def recommend(rows: list[dict]) -> dict[str, int | None]:
    """Fused path -> the smallest log2 size from which it wins by :data:`MARGIN` everywhere above (None: nowhere)."""
    out: dict[str, int | None] = {}
    for path, (plain, _) in PATHS.items():
        best = None
        for row in sorted(rows, key=lambda r: -r["log2_elements"]):
            if row["median"][plain] / row["median"][path] < MARGIN:
                break
            best = row["log2_elements"]
        out[path] = best
    return out


def render(r: dict, title: str, machine_line: str) -> list[str]:
    from gatedgcn.ops import MIN_ELEMENTS

    paths = list(PATHS)
    out = [
        title,
        "",
        f"One layer, d = {r['dim']}, {r['degree']} in-edges per node from groups of {GROUP} nodes, forward + backward, "
        f"median of {r['reps']} round-robin repetitions after a warm-up; fused paths forced on at every size "
        "(`gatedgcn.ops.fused_kernels`). Cells: plain / fused (above 1: the fused path is faster), and the plain time.",
        "",
        machine_line,
        "",
        "| elements (E·d) | edges | "
        + " | ".join(f"{p}" for p in paths)
        + " | plain gated / GCN / attention / norm tail (ms) |",
        "| --- | --- | " + " | ".join("---" for _ in paths) + " | --- |",
    ]
    for row in r["rows"]:
        md = row["median"]
        cells = [f"{md[PATHS[p][0]] / md[p]:.2f}×" if p in md else "–" for p in paths]
        plain = " / ".join(f"{1e3 * md[k]:.2f}" for k in dict.fromkeys(PATHS[p][0] for p in paths) if k in md)
        out.append(f"| 2^{row['log2_elements']} | {row['edges']:,} | " + " | ".join(cells) + f" | {plain} |")
    out += [
        "",
        f"Recommended thresholds (the smallest size from which the fused path wins by ≥ {r['margin']:.2f}× at every "
        "larger size), against those in `gatedgcn.ops.MIN_ELEMENTS` when the table was rendered (one sweep is within "
        "±10 % of the next on this machine: where the code's value is larger, a second sweep recommended it; "
        "`ops/_select.py` quotes both):",
        "",
        "| fused path | op threshold | recommended | in the code |",
        "| --- | --- | --- | --- |",
    ]
    for path, p in r["recommended"].items():
        op = PATHS[path][1]
        now = MIN_ELEMENTS.get(op)
        code = "–" if now is None else f"2^{now.bit_length() - 1}"
        out.append(f"| {path} | `{op}` | {'not within 2^22' if p is None else f'2^{p}'} | {code} |")
    out.append("")
    return out
