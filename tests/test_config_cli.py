"""``gatedgcn config show``: the resolved config, loadable again, with the meaning of every key."""

from __future__ import annotations

import yaml

from gatedgcn.app.config import Config, key_help
from gatedgcn.cli import main


def test_every_key_has_its_meaning():
    docs = key_help()
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


def test_a_model_option_is_a_key_a_flag_and_a_line_of_config_show(capsys):
    """Every field of ModelOptions reaches the config, the CLI and ``config show`` with no other edit; shown with
    ``head_dropout``, an option added to gatedgcn/spec.py (and used in gatedgcn/model.py) alone."""
    import dataclasses

    from gatedgcn.cli.parser import parse
    from gatedgcn.spec import ModelOptions

    config = Config().with_overrides(["model.head_dropout=0.25"])
    assert config.model.head_dropout == 0.25 and Config().model.head_dropout == 0.0
    assert parse(["train", "--head-dropout", "0.25"]).head_dropout == 0.25
    assert "model.head_dropout must be in [0, 1)" in _error(["train", "--head-dropout", "1.5"], capsys)
    for f in dataclasses.fields(ModelOptions):
        assert f"model.{f.name}" in key_help() and key_help()[f"model.{f.name}"] == f.metadata["help"]
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        assert flag in _help(["train", "--help"], capsys), flag
    line = next(line for line in Config().describe().splitlines() if line.startswith("  head_dropout:"))
    assert line.split("#")[0].split() == ["head_dropout:", "0.0"]
    assert line.endswith("# dropout on the readout's output, the MLP head's input (training only)")


def _help(argv, capsys) -> str:
    import pytest

    with pytest.raises(SystemExit):
        main(argv)
    return capsys.readouterr().out


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err
