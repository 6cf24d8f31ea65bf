"""Pruning: node orders and cumulative removal through the mask, against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ntklab import ConfigError, ScaledShallowNet
from ntklab.data import Dataset
from ntklab.prune import node_importance, prune_nodes, prune_order, pruning_counts, pruning_curve, top_nodes


def _net(lams, K=2, d=3, seed=0):
    lam = torch.tensor(lams, dtype=torch.float64)
    return ScaledShallowNet(d, len(lams), out_dim=K, lambdas=lam, seed=seed, dtype=torch.float64)


def test_importance_order_by_hand():
    net = _net([0.1, 0.4, 0.05, 0.3, 0.15], K=2)
    with torch.no_grad():
        net.u.copy_(torch.tensor([[1.0, -1.0, 2.0, 1.0, 0.0], [1.0, 1.0, 0.0, -1.0, 1.0]]))
    # I_j = (u_1j^2 + u_2j^2) lambda_j = 0.2, 0.8, 0.2, 0.6, 0.15
    np.testing.assert_allclose(node_importance(net).numpy(), [0.2, 0.8, 0.2, 0.6, 0.15], rtol=1e-15)
    order = prune_order(net, seed=3).tolist()
    assert order[0] == 4 and set(order[1:3]) == {0, 2} and order[3:] == [3, 1]
    assert top_nodes(net, 2).tolist() == [1, 3]


def test_ties_broken_by_seeded_random_order():
    net = _net([0.25] * 8, K=1)  # gamma = 1: every importance equal
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(5))
    assert prune_order(net, seed=5).tolist() == perm.tolist()  # the documented tie-break
    assert prune_order(net, seed=5).tolist() == prune_order(net, seed=5).tolist()
    assert prune_order(net, seed=5).tolist() != prune_order(net, seed=6).tolist()


def test_displacement_and_random_orders():
    net = _net([0.25] * 4)
    assert prune_order(net, by="displacement", displacement=torch.tensor([3.0, 0.5, 2.0, 1.0])).tolist() == [1, 3, 2, 0]
    r = prune_order(net, by="random", seed=1)
    assert sorted(r.tolist()) == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="prune.displacement"):
        prune_order(net, by="displacement")
    with pytest.raises(ConfigError, match="prune.by.*allowed"):
        prune_order(net, by="size")


def test_pruning_counts():
    assert pruning_counts(20) == list(range(0, 21))
    assert pruning_counts(2000)[:3] == [0, 100, 200] and pruning_counts(2000)[-1] == 2000
    assert pruning_counts(30, 0.25) == [0, 8, 16, 24, 30]


def _data(d=3, K=2, n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = lambda k: torch.randn(k, d, generator=g, dtype=torch.float64)  # noqa: E731
    y = lambda k: torch.randn(k, K, generator=g, dtype=torch.float64)  # noqa: E731
    return Dataset("toy", x(n), y(n), x(n + 1), y(n + 1))


def test_pruning_curve_matches_numpy():
    lams = [0.3, 0.05, 0.2, 0.1, 0.25, 0.1]
    net, data = _net(lams), _data()
    order = prune_order(net, seed=0)
    curve = pruning_curve(net, data, order=order, step_fraction=1 / 3)
    W, u, lam = net.W.detach().numpy(), net.u.detach().numpy(), np.array(lams)
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}").numpy(), getattr(data, f"y_{split}").numpy()
        h = np.maximum(x @ W.T / math.sqrt(3), 0) * np.sqrt(lam)  # (n, m)
        for c in (0, 2, 4, 6):
            keep = np.ones(6)
            keep[order[:c].numpy()] = 0
            expect = np.mean(((h * keep) @ u.T - y) ** 2)  # the authors' MSE: mean over samples and outputs
            got = curve[(curve.n_pruned == c) & (curve.metric == f"{split}_risk")].value.item()
            assert got == pytest.approx(expect, rel=1e-12)
    assert curve[curve.n_pruned == 6].fraction.iloc[0] == 1.0
    assert torch.all(net.mask == 1)  # the trained network is untouched


def test_prune_nodes_is_cumulative_and_exact():
    net, data = _net([0.25] * 4), _data()
    prune_nodes(net, [1])
    prune_nodes(net, [3])
    assert net.mask.tolist() == [1.0, 0.0, 1.0, 0.0]
    full = _net([0.25] * 4)
    with torch.no_grad():
        manual = (full.features(data.x_train)[:, [0, 2]]) @ full.u[:, [0, 2]].T
    torch.testing.assert_close(net(data.x_train), manual, rtol=0, atol=0)


def test_classification_accuracy_and_fine_tuning():
    net = _net([0.3, 0.3, 0.2, 0.2], K=3)
    data = _data(K=3)
    data = Dataset("c", data.x_train, torch.eye(3)[torch.arange(7) % 3].double(), data.x_test,
                   torch.eye(3)[torch.arange(8) % 3].double(), task="classification", n_classes=3)
    plain = pruning_curve(net, data, order=prune_order(net), step_fraction=0.5)
    tuned = pruning_curve(net, data, order=prune_order(net), step_fraction=0.5, fine_tune_steps=20, fine_tune_lr=0.5)
    assert {"train_acc", "test_acc"} <= set(plain.metric)
    at = lambda c, n: c[(c.n_pruned == n) & (c.metric == "train_risk")].value.item()  # noqa: E731
    assert at(tuned, 2) < at(plain, 2)  # fine-tuning the pruned net lowers its train risk
    assert at(tuned, 0) == at(plain, 0) and at(tuned, 4) == at(plain, 4)  # nothing to tune at 0 and m
