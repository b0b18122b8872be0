"""What ``gatedgcn data list / info / fetch`` know about the real datasets: files, pins, statistics, terms.

Every file is pinned by its size and sha256, with its canonical public address (the repository
and commit it is published at).  The statistics are the published ones, and the tests check
the readers against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gatedgcn.errors import ConfigError

__all__ = ["RemoteFile", "Entry", "CATALOG", "entry", "listing", "describe"]


@dataclass(frozen=True)
class RemoteFile:
    """``path``: where it lies under the data folder; ``url``: its canonical public address."""

    path: str
    url: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Entry:
    name: str
    folder: str
    format: str
    statistics: str
    terms: str
    files: tuple[RemoteFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


# local path, repository, commit, path in the repository, bytes, sha256
_PINS = (
    (
        "TU/MUTAG/MUTAG_A.txt",
        "ysig/GraKeL",
        "24d496d8dac4",
        "grakel/tests/data/MUTAG/MUTAG_A.txt",
        76940,
        "d9656ca7493f3445d737c711710bb36fd432dddd1c0ea32e1d4713c86ebd28e2",
    ),
    (
        "TU/MUTAG/MUTAG_edge_labels.txt",
        "ysig/GraKeL",
        "24d496d8dac4",
        "grakel/tests/data/MUTAG/MUTAG_edge_labels.txt",
        14884,
        "4669ce755075ff86c3240709345745886400908fa637a49310459b9c267b3e56",
    ),
    (
        "TU/MUTAG/MUTAG_graph_indicator.txt",
        "ysig/GraKeL",
        "24d496d8dac4",
        "grakel/tests/data/MUTAG/MUTAG_graph_indicator.txt",
        11532,
        "7d520a4d6c7961c0cdeabe076d8fe27e795b6d373485c9a2b744987e560a2056",
    ),
    (
        "TU/MUTAG/MUTAG_graph_labels.txt",
        "ysig/GraKeL",
        "24d496d8dac4",
        "grakel/tests/data/MUTAG/MUTAG_graph_labels.txt",
        439,
        "a1518ea39ba3426bd42f57396b9c4baffe68e9adc718caeeab0119c6591a5f2c",
    ),
    (
        "TU/MUTAG/MUTAG_node_labels.txt",
        "ysig/GraKeL",
        "24d496d8dac4",
        "grakel/tests/data/MUTAG/MUTAG_node_labels.txt",
        6742,
        "678f429965490e84dd27713017538c995fc05d1621beac910848b600015ee863",
    ),
    (
        "TU/MUTAG/README.txt",
        "ysig/GraKeL",
        "24d496d8dac4",
        "grakel/tests/data/MUTAG/README.txt",
        2611,
        "66de65e4826e112482ec680bbbdf7c0af56d826ce935c110786d130b79b76b06",
    ),
    (
        "TU/ENZYMES/ENZYMES_A.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/ENZYMES/ENZYMES_A.txt",
        885124,
        "5553c84f8f562f3e199dfd27192174f485e85c44c1357661098668937a739cbf",
    ),
    (
        "TU/ENZYMES/ENZYMES_graph_indicator.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/ENZYMES/ENZYMES_graph_indicator.txt",
        74914,
        "95ba0fa47eba6f02e6b754a215dc66d5b49de3f45f57a128514301a8d7ed5f46",
    ),
    (
        "TU/ENZYMES/ENZYMES_graph_labels.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/ENZYMES/ENZYMES_graph_labels.txt",
        1200,
        "04743e08967e61e65cdacbb90f8df6ee53742b3d2e7b84675b85ebac70506856",
    ),
    (
        "TU/ENZYMES/ENZYMES_node_attributes.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/ENZYMES/ENZYMES_node_attributes.txt",
        3876850,
        "305a8fc3b12f79fb844ef3374d6a3c8ceeb4887dd4f86bbfe37932c4c5434e7b",
    ),
    (
        "TU/ENZYMES/ENZYMES_node_labels.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/ENZYMES/ENZYMES_node_labels.txt",
        39160,
        "8263eb9b64efa231a5886343483ccfc0342f2407014763a8f738fd51c32ce770",
    ),
    (
        "TU/ENZYMES/README.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/ENZYMES/README.txt",
        2568,
        "32d5fef501200221a2c0e1af3366797fa443ab8f490231c5fb4a8719e1df48cf",
    ),
    (
        "TU/PROTEINS_full/PROTEINS_full_A.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/PROTEINS_full/PROTEINS_full_A.txt",
        2022990,
        "4c4b33e272fc95cac6d27ed6d5d12b9a852c8610e91fff59f8f0dbdd5a20df67",
    ),
    (
        "TU/PROTEINS_full/PROTEINS_full_graph_indicator.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/PROTEINS_full/PROTEINS_full_graph_indicator.txt",
        169673,
        "8d4ff1e852a5c28561e9bffb44cf9490bc552b13a3b6156dd12dc7f44e9afc4a",
    ),
    (
        "TU/PROTEINS_full/PROTEINS_full_graph_labels.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/PROTEINS_full/PROTEINS_full_graph_labels.txt",
        2226,
        "c0ef9810c440775252872318d0c8adc385588e14bc4c47a2c34aa96ee3c7cdcd",
    ),
    (
        "TU/PROTEINS_full/PROTEINS_full_node_labels.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/PROTEINS_full/PROTEINS_full_node_labels.txt",
        86942,
        "f758e8ad3d6e3c026b50833d75f6f90735b94eb3345e4243707f495ca8afea8d",
    ),
    (
        "TU/PROTEINS_full/README.txt",
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/PROTEINS_full/README.txt",
        1999,
        "c963e23fff12e621111659b6d84937209193f18d78cd01d5a7a599b36a979351",
    ),
    (
        "TU/NCI1/NCI1_A.txt",
        "AlessandroBregoli/rgclass",
        "2945ba42d809",
        "datasets/NCI1/NCI1_A.txt",
        3235898,
        "2c028eda59a5fe96e2265a63d9ac236901bd9a7dc658498be13cd704a703076d",
    ),
    (
        "TU/NCI1/NCI1_graph_indicator.txt",
        "AlessandroBregoli/rgclass",
        "2945ba42d809",
        "datasets/NCI1/NCI1_graph_indicator.txt",
        585267,
        "ffe5acfa754b057d5ce0dc725c5aadb631628161886cc040d38c719635257dc5",
    ),
    (
        "TU/NCI1/NCI1_graph_labels.txt",
        "AlessandroBregoli/rgclass",
        "2945ba42d809",
        "datasets/NCI1/NCI1_graph_labels.txt",
        8220,
        "fae44681e70113f496256ae87eaac33b7836e3a97fe8e023933b84fde6a5c8a2",
    ),
    (
        "planetoid/ind.cora.allx",
        "kimiyoung/planetoid",
        "af6abf468a77",
        "data/ind.cora.allx",
        257305,
        "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
    ),
    (
        "planetoid/ind.cora.ally",
        "kimiyoung/planetoid",
        "af6abf468a77",
        "data/ind.cora.ally",
        47959,
        "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
    ),
    (
        "planetoid/ind.cora.graph",
        "kimiyoung/planetoid",
        "af6abf468a77",
        "data/ind.cora.graph",
        59847,
        "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
    ),
    (
        "planetoid/ind.cora.test.index",
        "kimiyoung/planetoid",
        "af6abf468a77",
        "data/ind.cora.test.index",
        5000,
        "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
    ),
    (
        "planetoid/ind.cora.tx",
        "kimiyoung/planetoid",
        "af6abf468a77",
        "data/ind.cora.tx",
        148025,
        "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
    ),
    (
        "planetoid/ind.cora.ty",
        "kimiyoung/planetoid",
        "af6abf468a77",
        "data/ind.cora.ty",
        28135,
        "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
    ),
    (
        "planetoid/ind.cora.x",
        "kimiyoung/planetoid",
        "af6abf468a77",
        "data/ind.cora.x",
        22119,
        "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
    ),
    (
        "planetoid/ind.cora.y",
        "kimiyoung/planetoid",
        "af6abf468a77",
        "data/ind.cora.y",
        4054,
        "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
    ),
)


def _files(folder: str) -> tuple[RemoteFile, ...]:
    return tuple(
        RemoteFile(path, f"https://github.com/{repo}/raw/{commit}/{source}", size, sha256)
        for path, repo, commit, source, size, sha256 in _PINS
        if path.startswith(folder + "/")
    )


CATALOG: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            "MUTAG",
            "TU/MUTAG",
            "TU",
            "188 graphs, 3,371 nodes, 2 classes (labels -1/1), 7 node labels, 4 edge labels",
            "cite Morris et al. 2020 (TUDataset) and Debnath et al. 1991; files from ysig/GraKeL (New BSD licence)",
            _files("TU/MUTAG"),
        ),
        Entry(
            "ENZYMES",
            "TU/ENZYMES",
            "TU",
            "600 graphs, 19,580 nodes, 6 classes (labels 1..6), 3 node labels, 18 node attributes",
            "cite Morris et al. 2020 (TUDataset) and Borgwardt et al. 2005; files from JiaxuanYou/graph-generation (MIT)",
            _files("TU/ENZYMES"),
        ),
        Entry(
            "PROTEINS_full",
            "TU/PROTEINS_full",
            "TU",
            "1,113 graphs, 43,471 nodes (39.06 per graph), 2 classes (labels 1/2), 3 node labels",
            "cite Morris et al. 2020 (TUDataset) and Borgwardt et al. 2005; files from JiaxuanYou/graph-generation (MIT)",
            _files("TU/PROTEINS_full"),
        ),
        Entry(
            "NCI1",
            "TU/NCI1",
            "TU",
            "4,110 graphs, 122,747 nodes, 2 classes (labels 0/1), no node labels in this copy",
            "cite Morris et al. 2020 (TUDataset) and Wale et al. 2008; files from AlessandroBregoli/rgclass",
            _files("TU/NCI1"),
        ),
        Entry(
            "cora",
            "planetoid",
            "Planetoid",
            "2,708 nodes, 1,433 features, 7 classes, 5,278 undirected edges; split 140 / 500 / 1,000",
            "MIT (kimiyoung/planetoid); cite Yang et al. 2016 and McCallum et al. 2000",
            _files("planetoid"),
        ),
    )
}


def entry(name: str) -> Entry:
    if name not in CATALOG:
        raise ConfigError(f"unknown dataset {name!r} for data info / fetch; known: {', '.join(CATALOG)}")
    return CATALOG[name]


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


def _measured(e: Entry, data_dir: Path) -> str:
    """Statistics counted from the files themselves."""
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
    from gatedgcn.data.names import EXTRAS, info_of

    if not is_dataset(name, data_dir):
        raise ConfigError(f"unknown dataset {name!r}; gatedgcn data list shows every name --dataset accepts")
    info = info_of(name)
    builder = DATASETS.get(name)
    doc = (getattr(getattr(builder, "func", builder), "__doc__", None) or "").strip().splitlines()
    under = f" (under {data_dir})" if info.kind not in ("generated", "user file") else ""
    lines = [f"{name}: {info.kind}, files: {info.where}{under}"]
    if doc:
        lines.append(f"about: {doc[0]}")
    if info.needs:
        lines.append(f"needs: {EXTRAS[info.needs][0]} (pip install 'gatedgcn[{EXTRAS[info.needs][1]}]')")
    if data_dir is not None and info.kind in ("TU", "Planetoid"):
        lines.append(f"measured:  {_measured(Entry(name, info.where.split('/')[0], info.kind, '', '', ()), data_dir)}")
    if data_dir is not None and info.kind == "molecules" and (Path(data_dir) / info.where).is_file():
        from gatedgcn.data.smiles import read_smiles_table

        t = read_smiles_table(Path(data_dir) / info.where)
        filled = int((t.targets == t.targets).sum())
        lines.append(
            f"measured:  {len(t.smiles)} rows, SMILES column {t.smiles_column!r}, {len(t.target_columns)} target(s) "
            f"{', '.join(t.target_columns[:12])}{' ...' if len(t.target_columns) > 12 else ''}; "
            f"{filled} of {t.targets.size} labels filled"
        )
    return "\n".join(lines)
