"""train.class_weights: which loss an experiment gets (the dataset's rule, batch-balanced, plain), checked on
hand-computed cross-entropies; bad values are ConfigErrors naming the key."""

import pytest
import torch
import torch.nn.functional as F

from gatedgcn.app.config import Config
from gatedgcn.app.experiment import Experiment
from gatedgcn.errors import ConfigError
from gatedgcn.train.objective import balances_batches


def test_balances_batches_follows_the_dataset_unless_told():
    assert balances_batches("auto", "classification", True) and not balances_batches("auto", "classification", False)
    assert balances_batches("batch", "classification", False)
    assert not balances_batches("none", "classification", True)
    with pytest.raises(ConfigError, match="classification task; this task is a regression"):
        balances_batches("batch", "regression", False)
    with pytest.raises(ConfigError, match="train.class_weights"):
        balances_batches("inverse", "classification", False)


def test_config_rejects_an_unknown_class_weight_rule():
    with pytest.raises(ConfigError, match="train.class_weights"):
        Config().with_overrides(["train.class_weights=inverse"])


def _tsp(tmp_path, rule: str) -> Experiment:
    return Experiment.build(
        Config().with_overrides(
            [
                "data.name=TSP",
                "data.num_train=2",
                "data.num_val=1",
                "data.num_test=1",
                "data.min_nodes=20",
                "data.max_nodes=25",
                f"data.cache_dir={tmp_path / 'cache'}",
                "model.layers=1",
                "model.hidden=8",
                f"train.class_weights={rule}",
            ]
        )
    )


def test_tsp_loss_is_plain_cross_entropy_by_default_and_batch_balanced_on_request(tmp_path):
    out = torch.tensor([[2.0, -1.0], [0.5, 0.5], [1.0, 0.0], [-1.0, 1.0]])
    y = torch.tensor([0, 0, 0, 1])  # R = 4, R_0 = 3, R_1 = 1 -> weights (4 - 3) / 4 and (4 - 1) / 4
    nll = -torch.log_softmax(out, -1)[torch.arange(4), y]  # [4]
    plain = float(nll.mean())
    w = torch.tensor([0.25, 0.25, 0.25, 0.75])
    balanced = float((w * nll).sum() / w.sum())
    assert float(_tsp(tmp_path, "auto").objective.loss(out, y)) == pytest.approx(
        plain, rel=1e-6
    )  # the benchmark's TSP loss
    assert float(_tsp(tmp_path, "batch").objective.loss(out, y)) == pytest.approx(balanced, rel=1e-6)
    assert abs(balanced - plain) > 0.05  # the two rules differ on this batch
    assert float(F.cross_entropy(out, y)) == pytest.approx(plain, rel=1e-6)


def test_sbm_loss_can_be_made_plain(tmp_path):
    base = [
        "data.name=SBM_CLUSTER",
        "data.num_train=2",
        "data.num_val=1",
        "data.num_test=1",
        f"data.cache_dir={tmp_path}",
        "model.layers=1",
        "model.hidden=8",
    ]
    assert Experiment.build(Config().with_overrides(base)).objective.balance_batches
    assert not Experiment.build(Config().with_overrides(base + ["train.class_weights=none"])).objective.balance_batches
