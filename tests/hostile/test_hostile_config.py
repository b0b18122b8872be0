"""Hostile configs: YAML files and --set values, each refused in one line naming the file or the key."""

from __future__ import annotations

import pytest
from harness import SMALL, refused

BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join([f'*{chr(97 + k)}'] * 9)}]\n" for k in range(8)
)  # nine levels of nine aliases: 9^9 = 387 million strings

FILE_CASES = {
    "not UTF-8": (b"model:\n  hidden: 8\n  layer: \xff\xfe\n", ["cfg.yaml", "UTF-8"]),
    "UTF-16": ("model:\n  hidden: 8\n".encode("utf-16"), ["cfg.yaml", "UTF-8"]),
    "billion laughs": (BOMB, ["cfg.yaml", "alias"]),
    "one alias": ("model: &m {hidden: 8}\ntrain: *m\n", ["cfg.yaml", "alias", "line 2"]),
    "python object tag": ("train: !!python/object/apply:os.system [ls]\n", ["cfg.yaml", "line 1"]),
    "unclosed bracket": ("model: {hidden: 8\n", ["cfg.yaml", "line 2"]),
    "a tab for indent": ("model:\n\thidden: 8\n", ["cfg.yaml", "line 2"]),
    "nested 10,000 deep": ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", ["cfg.yaml"]),
    "a list": ("- model\n- train\n", ["cfg.yaml", "mapping"]),
    "a section of a string": ("model: big\n", ["cfg.yaml", "model"]),
    "unknown section": ("optimizer: {lr: 1}\n", ["cfg.yaml", "optimizer"]),
    "unknown key": ("model: {width: 8}\n", ["model.width"]),
    "hidden a string": ("model: {hidden: wide}\n", ["model.hidden"]),
    "hidden a float": ("model: {hidden: 8.5}\n", ["model.hidden"]),
    "layers a boolean": ("model: {layers: yes}\n", ["model.layers"]),
    "lr .inf": ("train: {lr: .inf}\n", ["train.lr", "finite"]),
    "lr 1e400": ("train: {lr: 1.0e+400}\n", ["train.lr", "finite"]),
    "weight decay .nan": ("train: {weight_decay: .nan}\n", ["train.weight_decay"]),
    "min_lr .inf": ("train: {min_lr: .inf}\n", ["train.min_lr", "finite"]),
    "time budget .nan": ("train: {time_budget_s: .nan}\n", ["train.time_budget_s"]),
    "checkpoint minutes .inf": ("train: {checkpoint_minutes: .inf}\n", ["train.checkpoint_minutes"]),
    "dropout .nan": ("model: {dropout: .nan}\n", ["model.dropout"]),
    "train seed -1": ("train: {seed: -1}\n", ["train.seed"]),
    "data seed -1": ("data: {seed: -1}\n", ["data.seed"]),
    "train seed 2^64": ("train: {seed: 18446744073709551616}\n", ["train.seed"]),
    "head of zero width": ("model: {head_layers: 40}\n", ["model.head_layers", "width of 0"]),
    "hidden 10^12": ("model: {hidden: 1000000000000}\n", ["model.hidden", "TiB"]),
    "layers 10^9": ("model: {layers: 1000000000}\n", ["model.layers"]),
    "heads 10^9": ("model: {heads: 1000000000}\n", ["model.heads"]),
    "max_nodes 10^9": ("data: {max_nodes: 1000000000}\n", ["data.max_nodes", "TiB"]),
    "num_train 10^12": ("data: {num_train: 1000000000000}\n", ["data.num_train"]),
    "workers 10^5": ("data: {workers: 100000}\n", ["data.workers"]),
    "pe_dim 10^9": ("data: {pe: laplacian, pe_dim: 1000000000}\n", ["data.pe_dim"]),
    "batch 10^12": ("train: {batch_size: 1000000000000}\n", ["train.batch_size"]),
    "epochs 0": ("train: {epochs: 0}\n", ["train.epochs"]),
    "lr_factor 1": ("train: {lr_factor: 1.0}\n", ["train.lr_factor"]),
    "fanout words": ("train: {fanout: 'ten,five'}\n", ["train.fanout"]),
    "device tpu": ("train: {device: tpu}\n", ["train.device"]),
    "dtype float16": ("train: {dtype: float16}\n", ["train.dtype"]),
    "dataset unknown": ("data: {name: imagenet}\n", ["data.name", "imagenet"]),
    "fold outside folds": ("data: {folds: 5, fold: 5}\n", ["data.fold"]),
    "a 2 MiB file": ("# " + "x" * (2 << 20) + "\n", ["cfg.yaml", "bytes"]),
}

SET_CASES = {
    "unclosed list": ("model.hidden=[1, 2", ["model.hidden", "not valid YAML"]),
    "unclosed string": ("data.name='mini", ["data.name", "not valid YAML"]),
    "an alias": ("model.hidden=*a", ["model.hidden", "alias"]),
    "a python tag": ("train.lr=!!python/name:os.system", ["train.lr"]),
    "lr 1e400": ("train.lr=1e400", ["train.lr", "finite"]),
    "lr -inf": ("train.lr=-.inf", ["train.lr"]),
    "seed -1": ("train.seed=-1", ["train.seed"]),
    "hidden 10^12": ("model.hidden=1000000000000", ["model.hidden"]),
    "no dot": ("hidden=8", ["hidden=8", "section.key"]),
    "no equals": ("model.hidden", ["model.hidden", "section.key"]),
    "unknown section": ("optim.lr=1", ["optim"]),
    "unknown key": ("model.width=8", ["model.width"]),
    "a mapping for a number": ("model.hidden={a: 1}", ["model.hidden"]),
    "nested 10,000 deep": ("model.hidden=" + "[" * 10_000, ["model.hidden"]),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
@pytest.mark.parametrize("command", ["train", "config show"])
def test_a_hostile_config_file_is_refused_in_one_line(box, case, command):
    content, names = FILE_CASES[case]
    path = box.write("cfg.yaml", content)
    argv = (
        ["train", "--config", path, "--out", box.run, *SMALL]
        if command == "train"
        else ["config", "show", "--config", path]
    )
    refused(box, argv, *names, code=2)
    assert not box.run.exists()  # refused before the run folder is made


@pytest.mark.parametrize("case", sorted(SET_CASES))
def test_a_hostile_set_value_is_refused_in_one_line_naming_the_key(box, case):
    value, names = SET_CASES[case]
    refused(box, ["train", "--set", value, "--out", box.run, "--quiet"], *names, code=2)  # no flag overrides the key
    refused(box, ["config", "show", "--set", value], *names, code=2)
    assert not box.run.exists()


def test_a_config_file_that_is_a_device_or_a_folder_is_not_read(box):
    (box.data / "folder.yaml").mkdir()
    refused(box, ["config", "show", "--config", box.data / "folder.yaml"], "folder.yaml", code=2)
    (box.data / "zero.yaml").symlink_to("/dev/zero")
    refused(box, ["config", "show", "--config", box.data / "zero.yaml"], "zero.yaml", "plain file", code=2)
    refused(box, ["config", "show", "--config", box.data / "missing.yaml"], "missing.yaml", code=2)
