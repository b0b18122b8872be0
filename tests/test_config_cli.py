"""``gatedgcn config show``: the resolved config, loadable again, with the meaning of every key."""

from __future__ import annotations

import yaml

from gatedgcn.cli import main
from gatedgcn.app.config import Config, key_docs


def test_every_key_has_its_meaning():
    docs = key_docs()
    keys = [f"{section}.{key}" for section, values in Config().to_dict().items() for key in values]
    assert sorted(docs) == sorted(keys)
    assert [k for k in keys if not docs[k]] == []
    assert docs["model.hidden"] == "width of node (and edge) states"
    assert docs["train.lr_patience"] == "epochs without a better validation loss before the lr is reduced"


def test_describe_is_the_config_with_comments():
    config = Config().with_overrides(["model.hidden=64", "train.lr=0.003", "data.data_dir=/tmp/x y"])
    text = config.describe()
    assert Config.from_dict(yaml.safe_load(text)) == config  # the comments change nothing
    lines = {line.split(":")[0].strip(): line for line in text.splitlines()}
    assert lines["hidden"].split("#")[0].split() == ["hidden:", "64"] and lines["hidden"].endswith(
        "# width of node (and edge) states"
    )
    assert lines["lr"].split("#")[0].split() == ["lr:", "0.003"]


def test_config_show_cli(tmp_path, capsys):
    assert main(["config", "show", "--set", "model.layer=gcn"]) == 0
    shown = capsys.readouterr().out
    assert Config.from_dict(yaml.safe_load(shown)) == Config().with_overrides(["model.layer=gcn"])
    assert "# one of gated_gcn, gcn, graph_attention, attention" in shown
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hidden: 32\ntrain:\n  epochs: 7\n")
    assert main(["config", "show", "--config", str(path), "--set", "train.epochs=9"]) == 0
    resolved = Config.from_dict(yaml.safe_load(capsys.readouterr().out))
    assert (resolved.model.hidden, resolved.train.epochs, resolved.model.layers) == (32, 9, Config().model.layers)


def test_config_show_names_a_bad_key(tmp_path, capsys):
    assert main(["config", "show", "--set", "model.width=3"]) == 2
    assert "unknown key 'model.width'" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("train:\n  epochs: many\n")
    assert main(["config", "show", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "train.epochs: expected int" in capsys.readouterr().err
