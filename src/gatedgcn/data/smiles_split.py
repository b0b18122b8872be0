"""Which rows of a SMILES table train, validate and test (``data.split``).

``scaffold``: Bemis-Murcko scaffolds with chirality; the sets in descending (size, first row) order fill train
up to 80 %, then validation up to 90 %, then test (the rule of OGB and pretrain-gnns).  ``random``: seeded,
80 / 10 / 10.  Or the name of a column whose cells say ``train``, ``val`` (``valid``) or ``test``.
"""

from __future__ import annotations

import numpy as np

from gatedgcn.data.smiles_table import SmilesTable
from gatedgcn.errors import ConfigError, DataError

__all__ = ["SPLITS", "SPLIT_NAMES", "scaffolds_of", "split_rows"]

SPLITS = ("scaffold", "random")  # or a column name
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def scaffolds_of(mols: list) -> list[str]:
    """The Bemis-Murcko scaffold SMILES of each molecule, with chirality ("" for one RDKit cannot reduce)."""
    from rdkit import rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    out = []
    with rdBase.BlockLogs():
        for m in mols:
            try:
                out.append(MurckoScaffold.MurckoScaffoldSmiles(mol=m, includeChirality=True))
            except (RuntimeError, ValueError):  # an unsanitised molecule RDKit cannot take apart
                out.append("")
    return out


def _scaffold_split(scaffolds: list[str]) -> dict[str, list[int]]:
    from gatedgcn.data.molecules import scaffold_split

    return scaffold_split(scaffolds)


def split_rows(table: SmilesTable, keep: list[int], mols: list, split: str, seed: int) -> dict[str, list[int]]:
    """Positions in ``keep`` (the readable rows) per split, as ``data.split`` says."""
    n = len(keep)
    if split == "scaffold":
        parts = _scaffold_split(scaffolds_of(mols))
    elif split == "random":
        order = np.random.default_rng(seed).permutation(n)
        n_val = n_test = int(round(0.1 * n))
        cut = n - n_val - n_test
        cuts = {"train": order[:cut], "val": order[cut : cut + n_val], "test": order[cut + n_val :]}
        parts = {k: sorted(v.tolist()) for k, v in cuts.items()}
    elif split in table.columns:
        k = table.columns.index(split)
        parts = {"train": [], "val": [], "test": []}
        for pos, r in enumerate(keep):
            cell = table.cells[r][k].strip().lower()
            if cell not in SPLIT_NAMES:
                raise DataError(
                    f"{table.path}, line {table.lines[r]}: split column {split} = {cell!r}; expected train, val or test"
                )
            parts[SPLIT_NAMES[cell]].append(pos)
    else:
        raise ConfigError(f"data.split must be scaffold, random or a column of {table.path}; got {split!r}")
    for name in ("train", "val", "test"):
        if not parts[name]:
            hint = "use data.split=random" if split == "scaffold" else "give every split some rows"
            raise DataError(f"{table.path}: the {split} split leaves 0 molecules for {_role(name)}: {hint}")
    return parts


def _role(split: str) -> str:
    return {"train": "training", "val": "validation", "test": "testing"}[split]
