"""The run configuration: defaults, YAML round trip, validation naming the key."""

from __future__ import annotations

import pytest

from gatedgcn.app.config import Config
from gatedgcn.errors import ConfigError


def test_defaults_are_the_lecture_experiment():
    c = Config().check()
    assert (c.model.layer, c.model.layers, c.model.hidden) == ("gated_gcn", 4, 100)
    assert (c.train.lr, c.train.batch_size, c.train.epochs) == (1e-4, 50, 40)
    assert (c.data.name, c.data.num_train, c.data.num_test, c.data.min_nodes, c.data.max_nodes) == (
        "mini",
        350,
        100,
        10,
        20,
    )


def test_yaml_round_trip(tmp_path):
    c = Config().with_overrides(["model.hidden=64", "train.lr=3e-3", "model.graph_size_norm=false"])
    path = tmp_path / "c.yaml"
    path.write_text(c.dump())
    back = Config.load(path)
    assert back == c and back.model.hidden == 64 and back.train.lr == 3e-3 and back.model.graph_size_norm is False


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"modle": {}}, "unknown section 'modle'"),
        ({"model": {"hiden": 3}}, "model.hiden: unknown key"),
        ({"model": {"hidden": "wide"}}, "model.hidden: expected int"),
        ({"model": {"hidden": 2.5}}, "model.hidden: expected int"),
        ({"model": {"batch_norm": 1}}, "model.batch_norm: expected bool"),
        ({"model": {"layer": "gin"}}, "model.layer must be one of"),
        ({"model": {"dropout": 1.5}}, "model.dropout must be in [0, 1)"),
        ({"train": {"lr": -1}}, "train.lr must be > 0"),
        ({"train": {"epochs": 0}}, "train.epochs must be >= 1"),
        ({"train": {"device": "tpu"}}, "train.device"),
        ({"train": []}, "expected a mapping"),
        ([1, 2], "expected a mapping of sections"),
    ],
)
def test_bad_configs_name_the_key(raw, words):
    with pytest.raises(ConfigError) as info:
        Config.from_dict(raw)
    assert words in str(info.value)


def test_overrides_refuse_unknown_keys():
    with pytest.raises(ConfigError, match="unknown key 'model.size'"):
        Config().with_overrides(["model.size=3"])
    with pytest.raises(ConfigError, match="expected section.key=value"):
        Config().with_overrides(["hidden=3"])


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Config.load(path)
    with pytest.raises(ConfigError, match="cannot read config file"):
        Config.load(tmp_path / "missing.yaml")
