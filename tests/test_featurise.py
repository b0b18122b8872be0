"""OGB featurisation: atom and bond ids derived by hand from the chemistry (not from the code), the shared-table
offsets, both directions of each bond, and the model's sum of embedding rows (OGB's AtomEncoder) against a dense sum."""

import pytest
import torch

pytest.importorskip("rdkit")

from gatedgcn.data.featurise import (  # noqa: E402
    ATOM_FEATURE_DIMS,
    BOND_FEATURE_DIMS,
    mol_to_graph,
    ogb_atom_features,
    ogb_bond_features,
    parse_smiles,
    smiles_to_graph,
)
from gatedgcn.errors import DataError  # noqa: E402
from gatedgcn.graph import collate  # noqa: E402
from gatedgcn.model import GraphNet, ModelSpec  # noqa: E402

# [atomic number - 1, chirality, total degree, formal charge + 5, total H, radicals, hybridisation, aromatic, ring]
# hybridisation ids: SP 0, SP2 1, SP3 2, ...; misc = the last id of each list
ATOMS = {
    "CCO": [[5, 0, 4, 5, 3, 0, 2, 0, 0], [5, 0, 4, 5, 2, 0, 2, 0, 0], [7, 0, 2, 5, 1, 0, 2, 0, 0]],
    "c1ccccc1": [[5, 0, 3, 5, 1, 0, 1, 1, 1]] * 6,
    "[NH4+]": [[6, 0, 4, 6, 4, 0, 2, 0, 0]],
    # '@' is counter-clockwise: chirality id 2 on the centre
    "C[C@H](N)O": [
        [5, 0, 4, 5, 3, 0, 2, 0, 0],
        [5, 2, 4, 5, 1, 0, 2, 0, 0],
        [6, 0, 3, 5, 2, 0, 2, 0, 0],
        [7, 0, 2, 5, 1, 0, 2, 0, 0],
    ],
    "C#N": [[5, 0, 2, 5, 1, 0, 0, 0, 0], [6, 0, 1, 5, 0, 0, 0, 0, 0]],
}
# [bond type (single 0, double 1, triple 2, aromatic 3), stereo (none 0, Z 1, E 2, ...), conjugated]
BONDS = {
    "CCO": [[0, 0, 0], [0, 0, 0]],
    "c1ccccc1": [[3, 0, 1]] * 6,
    "C/C=C/C": [[0, 0, 0], [1, 2, 0], [0, 0, 0]],
    "C/C=C\\C": [[0, 0, 0], [1, 1, 0], [0, 0, 0]],
    "C#N": [[2, 0, 0]],
    "C=CC=C": [[1, 0, 1], [0, 0, 1], [1, 0, 1]],
}


def test_feature_sizes_are_ogbs():
    assert ATOM_FEATURE_DIMS == (119, 5, 12, 12, 10, 6, 6, 2, 2)
    assert BOND_FEATURE_DIMS == (5, 6, 2)


@pytest.mark.parametrize("smiles", sorted(ATOMS))
def test_atom_features_hand_derived(smiles):
    assert [ogb_atom_features(a) for a in parse_smiles(smiles).GetAtoms()] == ATOMS[smiles]


@pytest.mark.parametrize("smiles", sorted(BONDS))
def test_bond_features_hand_derived(smiles):
    assert [ogb_bond_features(b) for b in parse_smiles(smiles).GetBonds()] == BONDS[smiles]


def test_values_outside_the_lists_are_misc():
    # formal charge +6 is beyond -5..5: the misc id 11; Fe has no listed hybridisation here: misc id 5
    (fe,) = [ogb_atom_features(a) for a in parse_smiles("[Fe+6]").GetAtoms()]
    assert fe[0] == 25 and fe[3] == 11 and fe[6] == 5


def test_graph_has_both_directions_and_shared_ids():
    g = smiles_to_graph("C#N")
    assert g.edge_index.tolist() == [[0, 1], [1, 0]]
    offsets = [0, 119, 124, 136, 148, 158, 164, 170, 172]  # cumulative sums of the atom feature sizes
    assert g.x.tolist() == [[a + o for a, o in zip(row, offsets)] for row in ATOMS["C#N"]]
    assert g.edge_attr.tolist() == [[2, 5, 11], [2, 5, 11]]  # bond offsets 0, 5, 11
    assert smiles_to_graph("[NH4+]").edge_attr.shape == (0, 3)


def test_element_featurisation_and_unknown_elements():
    g = mol_to_graph(parse_smiles("C#N"), "element", vocab={"C": 0, "N": 1})
    assert g.x.tolist() == [0, 1] and g.edge_attr.tolist() == [2, 2]
    with pytest.raises(DataError, match="element 'O' is not in the vocabulary"):
        mol_to_graph(parse_smiles("CO"), "element", vocab={"C": 0})


def test_unreadable_smiles():
    assert parse_smiles("C1CC") is None and parse_smiles("") is None
    with pytest.raises(DataError, match="cannot read the SMILES 'C1CC'"):
        smiles_to_graph("C1CC", name="row 3")


def test_model_sums_the_embedding_rows_of_the_nine_ids():
    spec = ModelSpec(layer="gated_gcn", layers=1, hidden=8, out_dim=1, in_dim=0, node_vocab=174, edge_vocab=13)
    model = GraphNet(spec).double()
    batch = collate([smiles_to_graph("CCO"), smiles_to_graph("c1ccccc1")])
    h = model.node_input(batch)  # [N, 8]
    W = model.embed_h.weight  # [174, 8]
    dense = torch.stack([W[row].sum(0) for row in batch.x])  # an independent sum of the rows
    torch.testing.assert_close(h, dense)
    E = model.embed_e.weight
    torch.testing.assert_close(model.edge_input(batch), torch.stack([E[row].sum(0) for row in batch.edge_attr]))


def test_feature_look_ups_are_the_list_positions():
    """The dict look-ups of ogb_atom_features / ogb_bond_features give each listed value its position in the list,
    and any other value the last (misc) position: what ``values.index`` finds."""
    from gatedgcn.data.featurise import _ATOM_POSITIONS, _BOND_POSITIONS, ATOM_FEATURES, BOND_FEATURES, _index

    for features, positions in ((ATOM_FEATURES, _ATOM_POSITIONS), (BOND_FEATURES, _BOND_POSITIONS)):
        for (name, values), pos in zip(features, positions):
            for value in (*values, "not listed", -99, 1000):
                assert pos.get(value, len(pos) - 1) == _index(values, value), (name, value)
