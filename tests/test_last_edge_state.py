"""The last gated layer of a network computes no edge state (nothing reads it): the model a config builds has no
edge BN there, every parameter reaches the loss (DDP needs no find_unused_parameters), its outputs are those of
the network that computes e' and drops it; a run stored with the edge BN (built before) still loads."""

from __future__ import annotations

import json

import pytest
import torch

import gatedgcn
from gatedgcn import Graph, collate
from gatedgcn.app.config import Config
from gatedgcn.app.experiment import Experiment
from gatedgcn.cli import main
from gatedgcn.model import GraphNet, ModelSpec
from gatedgcn.train.run import RunDir

from helpers import random_graph


def _graphs():
    return [
        Graph(x=torch.randn(n, 3), edge_index=random_graph(n, m, seed=n), y=torch.tensor(n % 2))
        for n, m in ((6, 14), (4, 6), (7, 20))
    ]


@pytest.mark.parametrize("layer", ["gated_gcn", "gps"])
def test_the_network_without_the_last_edge_state_computes_the_same_outputs(layer):
    base = dict(layer=layer, layers=3, hidden=8, out_dim=2, in_dim=3, heads=2)
    full, lean = GraphNet(ModelSpec(**base)), GraphNet(ModelSpec(**base, last_edge_update=False))
    last = f"layers.2.{'local.' if layer == 'gps' else ''}bn_e."
    state = full.state_dict()
    assert any(k.startswith(last) for k in state) and not any(k.startswith(last) for k in lean.state_dict())
    lean.load_state_dict({k: v for k, v in state.items() if not k.startswith(last)})
    batch = collate(_graphs())
    for training in (True, False):
        full.train(training), lean.train(training)
        torch.testing.assert_close(lean(batch), full(batch))
    lean.train()
    lean(batch).square().sum().backward()
    assert lean.unused_parameters() == [] and all(p.grad is not None for p in lean.parameters())


def test_a_configs_model_builds_no_last_edge_state():
    config = Config().with_overrides(["data.num_train=8", "data.num_val=4", "data.num_test=4", "model.layers=2"])
    exp = Experiment.build(config, progress=False)
    assert exp.model.spec.last_edge_update is False and exp.model.unused_parameters() == []
    assert isinstance(exp.model.layers[1].bn_e, torch.nn.Identity) and not isinstance(
        exp.model.layers[0].bn_e, torch.nn.Identity
    )


def test_a_run_stored_with_the_last_edge_state_still_loads(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "1", "--hidden", "8", "--layers", "2", "--quiet"]) == 0
    # as a run of before: its spec has no last_edge_update (the default, True) and its weights the edge BN
    summary = json.loads((out / "summary.json").read_text())
    fields = {k: v for k, v in summary["spec"].items() if k != "last_edge_update"}
    (out / "summary.json").write_text(json.dumps({**summary, "spec": fields}))
    RunDir(out).save_weights(GraphNet(ModelSpec(**fields)))
    run = gatedgcn.load(out)
    assert run.model.spec.last_edge_update is True and "layers.1.bn_e.weight" in run.model.state_dict()
    capsys.readouterr()
    assert main(["predict", str(out), "test", "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["eval", str(out)]) == 0
