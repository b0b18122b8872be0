"""The text of ``gatedgcn data list`` (every name ``--dataset`` accepts) and ``gatedgcn data info NAME``: the
catalog's pins and published statistics, and the statistics measured from the files in the data folder."""

from __future__ import annotations

from pathlib import Path

from gatedgcn.data.catalog import CATALOG, Entry, entry
from gatedgcn.errors import ConfigError

__all__ = ["listing", "describe"]


def _status(e: Entry, data_dir: Path | None) -> str:
    if data_dir is None:
        return "no data folder"
    present = [f for f in e.files if (data_dir / f.path).is_file()]
    if not present:
        return "not here"
    return "here" if len(present) == len(e.files) else f"{len(present)} of {len(e.files)} files here"


def listing(data_dir: Path | None) -> str:
    """One line per name ``--dataset`` accepts: kind, where its files are, size of the pinned files, whether they are
    in ``data_dir``, and the optional package it needs."""
    from gatedgcn.data import DATASETS
    from gatedgcn.data.names import EXTRAS, accepted_names, present

    head = "in " + str(data_dir) if data_dir else "status"
    lines = [f"{'name':<16} {'kind':<10} {'size':>9}  {head:<14}  {'needs':<8}  files"]
    for info in accepted_names(list(DATASETS), data_dir):
        pinned = CATALOG.get(info.name)
        size = f"{pinned.size / 1e6:>6.2f} MB" if pinned else f"{'-':>9}"
        status = _status(pinned, data_dir) if pinned else present(info, data_dir)
        needs = f"[{EXTRAS[info.needs][1]}]" if info.needs else "-"
        lines.append(f"{info.name:<16} {info.kind:<10} {size}  {status:<14}  {needs:<8}  {info.where}")
    return "\n".join(lines)


def _measured_molecules(path: Path) -> str:
    from gatedgcn.data.smiles import read_smiles_table

    t = read_smiles_table(path)
    filled = int((t.targets == t.targets).sum())
    return (
        f"{len(t.smiles)} rows, SMILES column {t.smiles_column!r}, {len(t.target_columns)} target(s) "
        f"{', '.join(t.target_columns[:12])}{' ...' if len(t.target_columns) > 12 else ''}; "
        f"{filled} of {t.targets.size} labels filled"
    )


def _measured_peptides(folder: Path) -> str:
    from gatedgcn.data.lrgb import CSV, SPLIT, read_peptides, read_split

    smiles, labels = read_peptides(folder / CSV)
    split = read_split(folder / SPLIT, len(smiles))
    sizes = " / ".join(f"{len(split[name]):,}" for name in ("train", "val", "test"))
    return f"{len(smiles):,} peptides, {labels.shape[1]} tasks ({int(labels.sum()):,} positive labels); split {sizes}"


def _measured(e: Entry, data_dir: Path) -> str:
    """Statistics counted from the files themselves."""
    if e.format == "molecules":
        return _measured_molecules(data_dir / e.files[0].path)
    if e.format == "LRGB":
        return _measured_peptides(data_dir / e.folder)
    if e.format == "TU":
        from gatedgcn.data.tu import read_tu

        tu = read_tu(data_dir / "TU" / e.name, e.name)
        nodes = sum(g.num_nodes for g in tu.graphs)
        edges = sum(g.num_edges for g in tu.graphs)
        return (
            f"{len(tu.graphs)} graphs, {nodes} nodes, {edges} directed edges, {len(tu.classes)} classes "
            f"(labels {', '.join(map(str, tu.classes.tolist()))}), node features {tu.in_dim}, edge features {tu.edge_in_dim}"
        )
    from gatedgcn.data.planetoid import read_planetoid

    graph, split = read_planetoid(data_dir / e.folder, e.name)
    assert graph.y is not None  # a Planetoid graph carries its classes
    return (
        f"{graph.num_nodes} nodes, {graph.x.shape[1]} features, {int(graph.y.max()) + 1} classes, "
        f"{graph.num_edges // 2} undirected edges; split {len(split['train'])} / {len(split['val'])} / {len(split['test'])}"
    )


def describe(name: str, data_dir: Path | None) -> str:
    """``gatedgcn data info NAME``: format, size, published and measured statistics, terms, files."""
    if name not in CATALOG:
        return _describe_other(name, data_dir)
    e = entry(name)
    lines = [
        f"{e.name}: {e.format} format, {len(e.files)} files, {e.size / 1e6:.2f} MB, folder DATA_DIR/{e.folder}",
        f"published: {e.statistics}",
        f"terms: {e.terms}",
    ]
    if data_dir is not None and _status(e, data_dir) == "here":
        lines.append(f"measured:  {_measured(e, data_dir)}")
    else:
        lines.append(f"measured:  - (files not in {data_dir}; gatedgcn data fetch {e.name})")
    lines += [f"  {f.path}  {f.size} bytes  sha256 {f.sha256}\n    {f.url}" for f in e.files]
    return "\n".join(lines)


def _describe_other(name: str, data_dir: Path | None) -> str:
    """A name without pinned files: what it is, where it is looked for, what it needs, and what is measured cheaply."""
    from gatedgcn.data import DATASETS, is_dataset
    from gatedgcn.data.names import EXTRAS, info_of, present

    if not is_dataset(name, data_dir):
        raise ConfigError(f"unknown dataset {name!r}; gatedgcn data list shows every name --dataset accepts")
    info = info_of(name)
    builder = DATASETS.get(name)
    doc = (getattr(getattr(builder, "func", builder), "__doc__", None) or "").strip().splitlines()
    under = (
        ""
        if info.kind in ("generated", "user file")
        else f" (under {data_dir})"
        if data_dir
        else " (no data folder: --data-dir, or $GATEDGCN_DATA_DIR)"
    )
    lines = [f"{name}: {info.kind}, files: {info.where}{under}"]
    if doc:
        lines.append(f"about: {doc[0]}")
    if info.needs:
        lines.append(f"needs: {EXTRAS[info.needs][0]} (pip install 'gatedgcn[{EXTRAS[info.needs][1]}]')")
    if data_dir is not None and info.kind in ("TU", "Planetoid"):
        if present(info, data_dir) == "here":
            lines.append(
                f"measured:  {_measured(Entry(name, info.where.split('/')[0], info.kind, '', '', ()), data_dir)}"
            )
        else:
            lines.append(f"measured:  - (its files are not in {data_dir})")
    if data_dir is not None and info.kind == "molecules" and (Path(data_dir) / info.where).is_file():
        lines.append(f"measured:  {_measured_molecules(Path(data_dir) / info.where)}")
    return "\n".join(lines)
