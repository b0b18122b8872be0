"""What ``gatedgcn data list / info / fetch`` know about the real datasets: files, pins, statistics, terms
(:mod:`gatedgcn.data.listing` writes them out).

Every file is pinned by its size and sha256, with its canonical public address (the repository
and commit it is published at).  The statistics are the published ones, and the tests check
the readers against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gatedgcn.errors import ConfigError

__all__ = ["RemoteFile", "Entry", "CATALOG", "entry"]


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


# local folder -> (repository, commit, folder in the repository, its files: (name, bytes, sha256))
_PINS: dict[str, tuple[str, str, str, tuple[tuple[str, int, str], ...]]] = {
    "TU/MUTAG": (
        "ysig/GraKeL",
        "24d496d8dac4",
        "grakel/tests/data/MUTAG",
        (
            ("MUTAG_A.txt", 76940, "d9656ca7493f3445d737c711710bb36fd432dddd1c0ea32e1d4713c86ebd28e2"),
            ("MUTAG_edge_labels.txt", 14884, "4669ce755075ff86c3240709345745886400908fa637a49310459b9c267b3e56"),
            ("MUTAG_graph_indicator.txt", 11532, "7d520a4d6c7961c0cdeabe076d8fe27e795b6d373485c9a2b744987e560a2056"),
            ("MUTAG_graph_labels.txt", 439, "a1518ea39ba3426bd42f57396b9c4baffe68e9adc718caeeab0119c6591a5f2c"),
            ("MUTAG_node_labels.txt", 6742, "678f429965490e84dd27713017538c995fc05d1621beac910848b600015ee863"),
            ("README.txt", 2611, "66de65e4826e112482ec680bbbdf7c0af56d826ce935c110786d130b79b76b06"),
        ),
    ),
    "TU/ENZYMES": (
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/ENZYMES",
        (
            ("ENZYMES_A.txt", 885124, "5553c84f8f562f3e199dfd27192174f485e85c44c1357661098668937a739cbf"),
            ("ENZYMES_graph_indicator.txt", 74914, "95ba0fa47eba6f02e6b754a215dc66d5b49de3f45f57a128514301a8d7ed5f46"),
            ("ENZYMES_graph_labels.txt", 1200, "04743e08967e61e65cdacbb90f8df6ee53742b3d2e7b84675b85ebac70506856"),
            (
                "ENZYMES_node_attributes.txt",
                3876850,
                "305a8fc3b12f79fb844ef3374d6a3c8ceeb4887dd4f86bbfe37932c4c5434e7b",
            ),
            ("ENZYMES_node_labels.txt", 39160, "8263eb9b64efa231a5886343483ccfc0342f2407014763a8f738fd51c32ce770"),
            ("README.txt", 2568, "32d5fef501200221a2c0e1af3366797fa443ab8f490231c5fb4a8719e1df48cf"),
        ),
    ),
    "TU/PROTEINS_full": (
        "JiaxuanYou/graph-generation",
        "3444b8ad2fd7",
        "dataset/PROTEINS_full",
        (
            ("PROTEINS_full_A.txt", 2022990, "4c4b33e272fc95cac6d27ed6d5d12b9a852c8610e91fff59f8f0dbdd5a20df67"),
            (
                "PROTEINS_full_graph_indicator.txt",
                169673,
                "8d4ff1e852a5c28561e9bffb44cf9490bc552b13a3b6156dd12dc7f44e9afc4a",
            ),
            (
                "PROTEINS_full_graph_labels.txt",
                2226,
                "c0ef9810c440775252872318d0c8adc385588e14bc4c47a2c34aa96ee3c7cdcd",
            ),
            (
                "PROTEINS_full_node_labels.txt",
                86942,
                "f758e8ad3d6e3c026b50833d75f6f90735b94eb3345e4243707f495ca8afea8d",
            ),
            ("README.txt", 1999, "c963e23fff12e621111659b6d84937209193f18d78cd01d5a7a599b36a979351"),
        ),
    ),
    "TU/NCI1": (
        "AlessandroBregoli/rgclass",
        "2945ba42d809",
        "datasets/NCI1",
        (
            ("NCI1_A.txt", 3235898, "2c028eda59a5fe96e2265a63d9ac236901bd9a7dc658498be13cd704a703076d"),
            ("NCI1_graph_indicator.txt", 585267, "ffe5acfa754b057d5ce0dc725c5aadb631628161886cc040d38c719635257dc5"),
            ("NCI1_graph_labels.txt", 8220, "fae44681e70113f496256ae87eaac33b7836e3a97fe8e023933b84fde6a5c8a2"),
        ),
    ),
    "planetoid": (
        "kimiyoung/planetoid",
        "af6abf468a77",
        "data",
        (
            ("ind.cora.allx", 257305, "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543"),
            ("ind.cora.ally", 47959, "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71"),
            ("ind.cora.graph", 59847, "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d"),
            ("ind.cora.test.index", 5000, "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"),
            ("ind.cora.tx", 148025, "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a"),
            ("ind.cora.ty", 28135, "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad"),
            ("ind.cora.x", 22119, "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab"),
            ("ind.cora.y", 4054, "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1"),
        ),
    ),
    # the molecule files: sizes and sha256s computed from the copies in the shared data folder (which match its
    # SOURCES.tsv; the two LRGB files also have the MD5s LRGB's own loader checks, gatedgcn.data.lrgb.MD5)
    "molecules/aqsoldb": (
        "mcsorkun/AqSolDB",
        "8e02b548fd9a",
        "results",
        (("data_curated.csv", 3750252, "363a42a4e4ea8e6039758146d34efdd95cde2da81c665316cacc1869e0a805ed"),),
    ),
    "molecules/esol": (
        "deepchem/deepchem",
        "fbe3b911a94a",
        "datasets",
        (("delaney-processed.csv", 96699, "8c06a76f0c6487d29ab0f903e6a7a7139f189ab3c1178f159c8be8964602f189"),),
    ),
    "molecules/moleculenet": (
        "HICAI-ZJU/KANO",
        "766b478fde81",
        "data",
        (
            ("hiv.csv", 1988198, "3a3c7a4ea9626211fe959ef988394670dd76d556ca3c6173b70c88256e4c3555"),
            ("bace.csv", 103230, "5fb6e2a87a148ec7393c1d874d26ec40ee74eb6223ea7d2bfa16d153eb75eb55"),
            ("bbbp.csv", 111265, "a61e17872cbec0743a6147dc802a1f7550acfe8dc1053f881f4c42a3ce2dc597"),
            ("tox21.csv", 458635, "b58cc1f683e78e3c7a1bf7116e9aac0119804018d100f7b8cdb0857941c31aca"),
            ("clintox.csv", 94829, "cc561402d058a0d996a9f5e5d02bc20f6652b7003525b32c3598b8da4b24e9b7"),
            ("sider.csv", 183743, "87b937d1ddb1879bb14e8f23d94ceffcb9ad3e534ae59602820b3bcf03844fbf"),
        ),
    ),
    "lrgb/peptides-functional": (
        "benfinkelshtein/CoGNN",
        "2494bd77a0ea",
        "datasets/peptides-functional",
        (
            (
                "raw/peptide_multi_class_dataset.csv.gz",
                769970,
                "e314f7dfb1ac46ef83fe5f5aa4fe502ad4527da633b64e6b997cb0c452511de3",
            ),
            (
                "splits_random_stratified_peptide.pickle",
                124533,
                "4573079852cce8867ad2d734c5dd22d77538bbe9f628223a8d4b3b531f6fffd0",
            ),
        ),
    ),
}


def _files(folder: str, only: str | None = None) -> tuple[RemoteFile, ...]:
    """The pinned files of ``folder`` (``only``: the one of that name); a name ``raw/NAME`` in the repository lies
    as ``NAME`` in the data folder."""
    repo, commit, source, files = _PINS[folder]
    return tuple(
        RemoteFile(
            f"{folder}/{Path(name).name}", f"https://github.com/{repo}/raw/{commit}/{source}/{name}", size, sha256
        )
        for name, size, sha256 in files
        if only is None or Path(name).name == only
    )


_MOLECULENET_TERMS = "MIT (HICAI-ZJU/KANO); data from MoleculeNet, cite Wu et al. 2018"
_MOLECULENET = {  # name -> published statistics
    "hiv": "41,127 molecules, 1 task (HIV_active, 1,443 actives); scaffold split 32,901 / 4,113 / 4,113 (ogbg-molhiv)",
    "bace": "1,513 molecules, 1 task (Class)",
    "bbbp": "2,039 molecules, 1 task (p_np)",
    "tox21": "7,831 molecules, 12 tasks, empty cells: missing labels",
    "clintox": "1,478 molecules, 2 tasks (FDA_APPROVED, CT_TOX)",
    "sider": "1,427 molecules, 27 tasks (side-effect organ classes)",
}


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
        Entry(
            "AQSOL",
            "molecules/aqsoldb",
            "molecules",
            "9,982 molecules (AqSolDB curated), target Solubility; AQSOL: Bemis-Murcko scaffold split 80/10/10",
            "CC0 (AqSolDB, Sorkun et al. 2019); AQSOL as in Dwivedi et al. (Benchmarking GNNs)",
            _files("molecules/aqsoldb"),
        ),
        Entry(
            "ESOL",
            "molecules/esol",
            "molecules",
            "1,128 molecules (Delaney), target measured log solubility in mols per litre",
            "MIT (deepchem/deepchem); cite Delaney 2004 and Wu et al. 2018",
            _files("molecules/esol"),
        ),
        *(
            Entry(
                name,
                "molecules/moleculenet",
                "molecules",
                stats,
                _MOLECULENET_TERMS,
                _files("molecules/moleculenet", f"{name}.csv"),
            )
            for name, stats in _MOLECULENET.items()
        ),
        Entry(
            "peptides-func",
            "lrgb/peptides-functional",
            "LRGB",
            "15,535 peptides (~150.9 atoms each), 10 binary tasks; split 10,873 / 2,331 / 2,331; metric AP",
            "data CC BY-NC 4.0 (Dwivedi et al. 2022, Long Range Graph Benchmark); files from benfinkelshtein/CoGNN (MIT)",
            _files("lrgb/peptides-functional"),
        ),
    )
}


def entry(name: str) -> Entry:
    if name not in CATALOG:
        raise ConfigError(f"unknown dataset {name!r} for data info / fetch; known: {', '.join(CATALOG)}")
    return CATALOG[name]
