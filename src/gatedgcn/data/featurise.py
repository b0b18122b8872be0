"""Molecules as graphs: RDKit parsing and the two featurisations (element / bond type, and OGB's).

A molecule is a graph with one node per atom and two directed edges per bond (``j -> i`` and
``i -> j``, with the same features).

``element``: a node is one category, its element symbol numbered in a vocabulary (the sorted
symbols of the training file, stored with the run); an edge is its bond type (single, double,
triple, aromatic, other: 5 categories).

``ogb``: the 9 atom and 3 bond categorical features of the Open Graph Benchmark
(``ogb.utils.smiles2graph``; Hu et al. 2020), each an index into a fixed list whose last entry
catches every other value:

    atom: atomic number 1..118 | chirality tag (unspecified, tetrahedral CW, CCW, other) |
          total degree 0..10 | formal charge -5..5 | total H count 0..8 | radical electrons 0..4 |
          hybridisation (SP, SP2, SP3, SP3D, SP3D2) | aromatic (no, yes) | in a ring (no, yes)
    bond: type (single, double, triple, aromatic) | stereo (none, Z, E, cis, trans, any) | conjugated

:func:`ogb_atom_features` / :func:`ogb_bond_features` give OGB's own ids (as its ``AtomEncoder``
reads them).  In a :class:`Graph` the ids of feature ``k`` are shifted by the sizes of features
``0..k-1`` (:func:`shared_ids`), so that ``x [N, 9]`` indexes one embedding table of
``sum(ATOM_FEATURE_DIMS)`` rows, and the model's sum over the 9 rows is OGB's ``AtomEncoder``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gatedgcn.errors import DataError
from gatedgcn.graph import Graph

__all__ = [
    "FEATURISATIONS",
    "ATOM_FEATURES",
    "BOND_FEATURES",
    "ATOM_FEATURE_DIMS",
    "BOND_FEATURE_DIMS",
    "BOND_TYPES",
    "ELEMENT_VOCAB",
    "BOND_VOCAB",
    "parse_smiles",
    "ogb_atom_features",
    "ogb_bond_features",
    "shared_ids",
    "mol_to_graph",
    "smiles_to_graph",
]

FEATURISATIONS = ("ogb", "element")
MISC = "misc"

# name -> the values it can take; a value not in the list is the last entry (misc)
ATOM_FEATURES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("atomic_num", (*range(1, 119), MISC)),
    ("chirality", ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER", MISC)),
    ("degree", (*range(0, 11), MISC)),
    ("formal_charge", (*range(-5, 6), MISC)),
    ("num_hs", (*range(0, 9), MISC)),
    ("radical_electrons", (*range(0, 5), MISC)),
    ("hybridization", ("SP", "SP2", "SP3", "SP3D", "SP3D2", MISC)),
    ("is_aromatic", (False, True)),
    ("is_in_ring", (False, True)),
)
BOND_FEATURES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("bond_type", ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC", MISC)),
    ("stereo", ("STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY")),
    ("is_conjugated", (False, True)),
)
ATOM_FEATURE_DIMS = tuple(len(values) for _, values in ATOM_FEATURES)  # (119, 5, 12, 12, 10, 6, 6, 2, 2)
BOND_FEATURE_DIMS = tuple(len(values) for _, values in BOND_FEATURES)  # (5, 6, 2)
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")  # element featurisation: anything else is category 4
ELEMENT_VOCAB = ATOM_FEATURE_DIMS[0]  # element featurisation without a file's vocabulary: atomic number 1..118, misc
BOND_VOCAB = len(BOND_TYPES) + 1


def _index(values: tuple[Any, ...], value: Any) -> int:
    """Position of ``value`` in ``values``; the last position for a value not listed."""
    return values.index(value) if value in values else len(values) - 1


def _positions(features: tuple[tuple[str, tuple[Any, ...]], ...]) -> tuple[dict[Any, int], ...]:
    """Per feature, value -> its position in the list (what :func:`_index` finds, as one dict look-up)."""
    return tuple({value: k for k, value in enumerate(values)} for _, values in features)


_ATOM_POSITIONS = _positions(ATOM_FEATURES)
_BOND_POSITIONS = _positions(BOND_FEATURES)


def ogb_atom_features(atom: Any) -> list[int]:
    """The 9 OGB ids of an RDKit atom (each in ``[0, ATOM_FEATURE_DIMS[k])``)."""
    raw = (
        atom.GetAtomicNum(),
        str(atom.GetChiralTag()),
        atom.GetTotalDegree(),
        atom.GetFormalCharge(),
        atom.GetTotalNumHs(),
        atom.GetNumRadicalElectrons(),
        str(atom.GetHybridization()),
        atom.GetIsAromatic(),
        atom.IsInRing(),
    )
    return [pos.get(v, len(pos) - 1) for pos, v in zip(_ATOM_POSITIONS, raw)]


def ogb_bond_features(bond: Any) -> list[int]:
    """The 3 OGB ids of an RDKit bond (each in ``[0, BOND_FEATURE_DIMS[k])``)."""
    raw = (str(bond.GetBondType()), str(bond.GetStereo()), bond.GetIsConjugated())
    return [pos.get(v, len(pos) - 1) for pos, v in zip(_BOND_POSITIONS, raw)]


def _atoms(mol: Any) -> list[Any]:
    """The molecule's atoms in index order (``GetAtomWithIdx``: RDKit's ``GetAtoms()`` sequence costs a Python
    ``__getitem__`` per atom, more than the atom's features)."""
    return [mol.GetAtomWithIdx(k) for k in range(mol.GetNumAtoms())]


def shared_ids(ids: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """Column ``k`` of ``ids [R, K]`` shifted by ``dims[0] + ... + dims[k-1]``: ids of one table of ``sum(dims)`` rows."""
    offsets = torch.tensor([0, *dims[:-1]], dtype=torch.long).cumsum(0)  # [K]
    return ids + offsets  # [R, K]


def parse_smiles(smiles: str) -> Any | None:
    """The RDKit molecule of ``smiles``; one RDKit cannot sanitise (e.g. a valence it refuses) is read
    unsanitised, with its property cache and rings computed, as written.  ``None``: RDKit cannot parse it
    at all, or it has no atoms."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            mol = Chem.MolFromSmiles(smiles, sanitize=False)
            if mol is None:
                return None
            mol.UpdatePropertyCache(strict=False)
            Chem.FastFindRings(mol)
    return mol if mol.GetNumAtoms() > 0 else None


def _element_bond(bond: Any) -> int:
    name = str(bond.GetBondType())
    return BOND_TYPES.index(name) if name in BOND_TYPES else len(BOND_TYPES)


def mol_to_graph(
    mol: Any,
    featurisation: str = "ogb",
    *,
    vocab: dict[str, int] | None = None,
    y: torch.Tensor | None = None,
    name: str = "molecule",
) -> Graph:
    """The graph of an RDKit molecule.  ``ogb``: x ``[N, 9]``, edge_attr ``[E, 3]`` (shared ids);
    ``element``: x ``[N]`` the ids of ``vocab`` (symbol -> id; an unknown symbol is refused), without one the
    atomic number - 1 (:data:`ELEMENT_VOCAB` categories); edge_attr ``[E]`` the bond type (:data:`BOND_VOCAB`)."""
    senders, receivers, bond_rows = [], [], []
    for bond in (mol.GetBondWithIdx(k) for k in range(mol.GetNumBonds())):
        a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        row = ogb_bond_features(bond) if featurisation == "ogb" else [_element_bond(bond)]
        senders += [a, b]
        receivers += [b, a]
        bond_rows += [row, row]
    edge_index = torch.tensor([senders, receivers], dtype=torch.long).reshape(2, -1)  # [2, E] both directions
    if featurisation == "ogb":
        atoms = torch.tensor([ogb_atom_features(atom) for atom in _atoms(mol)], dtype=torch.long)  # [N, 9]
        x = shared_ids(atoms, ATOM_FEATURE_DIMS)  # [N, 9]
        edge_attr = shared_ids(torch.tensor(bond_rows, dtype=torch.long).reshape(-1, 3), BOND_FEATURE_DIMS)  # [E, 3]
    elif featurisation == "element" and vocab is None:  # the atomic number: OGB's first atom feature
        x = torch.tensor([_index(ATOM_FEATURES[0][1], a.GetAtomicNum()) for a in mol.GetAtoms()], dtype=torch.long)
        edge_attr = torch.tensor(bond_rows, dtype=torch.long).reshape(-1)  # [E] bond type ids
    elif featurisation == "element" and vocab is not None:  # a file's element vocabulary
        unknown = [a.GetSymbol() for a in mol.GetAtoms() if a.GetSymbol() not in vocab]
        if unknown:
            raise DataError(
                f"{name}: element {unknown[0]!r} is not in the vocabulary of the training data ({', '.join(vocab)})"
            )
        x = torch.tensor([vocab[a.GetSymbol()] for a in mol.GetAtoms()], dtype=torch.long)  # [N] element ids
        edge_attr = torch.tensor(bond_rows, dtype=torch.long).reshape(-1)  # [E] bond type ids
    else:
        raise ValueError(f"featurisation must be one of {FEATURISATIONS}, got {featurisation!r}")
    return Graph(x=x, edge_index=edge_index, edge_attr=edge_attr, y=y, name=name)


def smiles_to_graph(
    smiles: str,
    featurisation: str = "ogb",
    *,
    vocab: dict[str, int] | None = None,
    y: torch.Tensor | None = None,
    name: str | None = None,
) -> Graph:
    """:func:`mol_to_graph` of :func:`parse_smiles`; a SMILES RDKit cannot read is a :class:`DataError`."""
    mol = parse_smiles(smiles)
    if mol is None:
        raise DataError(f"{name or 'SMILES'}: RDKit cannot read the SMILES {smiles!r} (or it has no atoms)")
    return mol_to_graph(mol, featurisation, vocab=vocab, y=y, name=name or smiles)
