"""Metrics against hand-computed values and an independent pair-counting ROC-AUC; missing labels never count."""

import math
import random

import pytest
import torch

from gatedgcn.train.metrics import accuracy, average_precision, mae, rmse, roc_auc
from gatedgcn.train.objective import Objective

NAN = float("nan")


def _pairs_auc(scores, labels):
    """P(score of a positive > score of a negative), ties half: counted over every pair."""
    pos = [s for s, t in zip(scores, labels) if t == 1]
    neg = [s for s, t in zip(scores, labels) if t == 0]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def test_regression_errors_skip_missing_targets():
    out = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    y = torch.tensor([[2.0, NAN], [0.0, 4.0]])  # errors -1, 3, -4 (the NaN entry is not one)
    assert mae(out, y) == pytest.approx((1 + 3 + 4) / 3)
    assert rmse(out, y) == pytest.approx(math.sqrt((1 + 9 + 16) / 3))


def test_roc_auc_and_ap_by_hand():
    out = torch.tensor([[0.9], [0.8], [0.7], [0.6], [0.55], [0.1]])
    y = torch.tensor([[1.0], [1.0], [0.0], [1.0], [0.0], [NAN]])
    # positives 0.9, 0.8 beat both negatives, 0.6 beats one: 5 of 6 pairs
    assert roc_auc(out, y) == pytest.approx(5 / 6)
    # precision at each recall step: 1 (1/3), 1 (2/3), 3/4 (3/3)
    assert average_precision(out, y) == pytest.approx((1 + 1 + 0.75) / 3)
    assert accuracy(out, y) == pytest.approx(3 / 5)  # every logit > 0 predicts 1: right on the 3 positives


def test_ties_enter_together():
    out = torch.tensor([[1.0], [1.0], [0.0]])
    y = torch.tensor([[1.0], [0.0], [0.0]])
    assert roc_auc(out, y) == pytest.approx(0.75)  # (0.5 + 1) / 2
    assert average_precision(out, y) == pytest.approx(0.5)  # the tied pair: recall 1 at precision 1/2


def test_tasks_without_both_classes_are_left_out_of_the_mean():
    out = torch.tensor([[0.2, 5.0, 1.0], [0.1, 4.0, 2.0], [0.3, 3.0, 3.0]])
    y = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, NAN], [0.0, 1.0, 1.0]])
    # task 0: positive 0.2 vs 0.1 (win), 0.3 (loss): 1/2; task 1: only positives; task 2: 3 > 1: 1
    assert roc_auc(out, y) == pytest.approx((0.5 + 1.0) / 2)
    assert math.isnan(roc_auc(out[:, 1:2], y[:, 1:2]))


def test_roc_auc_matches_pair_counting_on_random_data():
    rng = random.Random(3)
    scores = [round(rng.random(), 1) for _ in range(60)]  # rounded: many ties
    labels = [rng.randint(0, 1) for _ in range(60)]
    out, y = torch.tensor(scores)[:, None], torch.tensor(labels, dtype=torch.float64)[:, None]
    assert roc_auc(out, y) == pytest.approx(_pairs_auc(scores, labels))


def test_two_class_classification_scored_by_the_logit_difference():
    out = torch.tensor([[0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [3.0, 0.0], [5.0, 5.0]])
    y = torch.tensor([1, 0, 0, 1, -1])  # the last row has no label
    # logit differences: 2, -1, 1, -3: positives 2 (beats -1, 1), -3 (beats none): 2 of 4
    assert Objective("classification", "rocauc").score(out, y) == pytest.approx(0.5)


def test_a_row_with_one_label_trains_only_that_task():
    objective = Objective("multilabel", "rocauc")
    out = torch.zeros(2, 3, requires_grad=True)
    y = torch.tensor([[NAN, 1.0, NAN], [0.0, NAN, NAN]])
    loss = objective.loss(out, y)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(math.log(2))  # BCE at logit 0, averaged over the 2 labels
    # d loss / d logit = (sigmoid(0) - y) / 2 on the labelled entries, 0 elsewhere
    assert out.grad.tolist() == [[0.0, -0.25, 0.0], [0.25, 0.0, 0.0]]


def test_a_batch_without_labels_gives_a_finite_zero_loss():
    out = torch.ones(2, 2, requires_grad=True)
    loss = Objective("regression", "mae").loss(out, torch.full((2, 2), NAN))
    loss.backward()
    assert float(loss.detach()) == 0.0 and out.grad.abs().sum() == 0
