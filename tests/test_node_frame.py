"""`gatedgcn train --dataset cora` (any Planetoid set) starts from the papers' node-task frame of the chosen model:
the config the CLI builds equals the written-out preset configs/cora_*_kipf.yaml, flags still override it, and a
graph dataset keeps the graph-classification defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatedgcn.app.config import Config
from gatedgcn.cli import _config
from gatedgcn.cli.parser import parse

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = {"gcn": "cora_gcn_kipf", "gated_gcn": "cora_gated_gcn", "graph_attention": "cora_graph_attention_kipf"}


def built(*argv: str) -> Config:
    return _config(parse(["train", *argv]))


@pytest.mark.parametrize("layer", sorted(PRESETS))
def test_a_planetoid_set_without_config_gets_the_frame_of_its_model(layer, capsys):
    config = built("--dataset", "cora", "--model", layer)
    preset = Config.load(CONFIGS / f"{PRESETS[layer]}.yaml")
    assert config.model == preset.model
    assert config.train == preset.train
    assert "node-task frame" in capsys.readouterr().out


def test_the_default_model_on_cora_is_the_gated_frame_and_flags_override_it():
    assert built("--dataset", "cora").model == Config.load(CONFIGS / "cora_gated_gcn.yaml").model
    config = built("--dataset", "citeseer", "--model", "gcn", "--hidden", "32", "--set", "train.lr=0.02")
    assert (config.model.hidden, config.train.lr, config.model.embed, config.model.head) == (32, 0.02, False, "none")


def test_a_config_file_or_a_graph_dataset_keeps_its_own_values():
    assert built("--config", str(CONFIGS / "cora_gcn.yaml")).model == Config.load(CONFIGS / "cora_gcn.yaml").model
    assert built("--config", str(CONFIGS / "cora_gcn.yaml")).model != built("--dataset", "cora", "--model", "gcn").model
    assert built("--dataset", "mini").model == Config().model
    assert built("--dataset", "cora", "--model", "mlp").model.hidden == Config().model.hidden  # no frame for mlp
