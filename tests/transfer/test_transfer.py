"""Transfer: top-k features, ridge and MLP readouts, against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ntklab import ScaledShallowNet
from ntklab.transfer import MLPProblem, fit_mlps, fit_ridge, predict_ridge, transfer_curves, transfer_features


def test_ridge_against_lstsq():
    rng = np.random.default_rng(0)
    f, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 2))
    for ridge in (0.0, 0.1, 3.0):
        beta = fit_ridge(torch.tensor(f), torch.tensor(y), ridge=ridge).numpy()
        rho = ridge * (f ** 2).sum() / 5
        # independent form: least squares of [A; sqrt(P)] beta = [y; 0], A = [f, 1], P = diag(rho.., 0)
        a = np.c_[f, np.ones(30)]
        big = np.r_[a, np.sqrt(rho) * np.eye(6)[:5]]
        ref = np.linalg.lstsq(big, np.r_[y, np.zeros((5, 2))], rcond=None)[0]
        np.testing.assert_allclose(beta, ref, rtol=1e-9, atol=1e-12)  # two float64 solvers of one system
    np.testing.assert_allclose(predict_ridge(torch.tensor(beta), torch.tensor(f)).numpy(), a @ beta, rtol=1e-12)


def test_transfer_features_by_hand():
    lam = torch.tensor([0.1, 0.5, 0.15, 0.25], dtype=torch.float64)
    net = ScaledShallowNet(3, 4, lambdas=lam, seed=1, dtype=torch.float64)
    x = torch.randn(6, 3, dtype=torch.float64)
    W = net.W.detach().numpy()
    h = np.maximum(x.numpy() @ W.T / math.sqrt(3), 0) * np.sqrt(lam.numpy())
    np.testing.assert_allclose(transfer_features(net, x, [1, 3]).numpy(), h[:, [1, 3]], rtol=1e-14)


def _sequential_fit(f, y, *, hidden, lr, steps, seed):
    """The paper's readout written directly with torch.nn (an independent implementation)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(f.shape[1], hidden), torch.nn.ReLU(),
                                  torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, y.shape[1]))
    net = net.double()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(f), y).backward()
        opt.step()
    with torch.no_grad():
        return net(f)


def test_batched_mlps_equal_separate_training():
    g = torch.Generator().manual_seed(0)
    probs = [MLPProblem(torch.randn(9, k, generator=g, dtype=torch.float64), torch.randn(9, 2, generator=g,
                        dtype=torch.float64), torch.randn(4, k, generator=g, dtype=torch.float64),
                        torch.randn(4, 2, generator=g, dtype=torch.float64)) for k in (2, 5, 3)]
    out = fit_mlps(probs, hidden=6, lr=0.1, steps=25, seeds=[7, 8, 9], dtype=torch.float64)
    for p, s, (tr, _) in zip(probs, (7, 8, 9), out):
        ref = _sequential_fit(p.f_train, p.y_train, hidden=6, lr=0.1, steps=25, seed=s)
        # same float64 arithmetic up to summation order (zero-padded inputs contribute exact zeros)
        torch.testing.assert_close(tr, ref, rtol=1e-10, atol=1e-12)


def test_transfer_curves_rows_and_ridge_consistency():
    lam = torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15], dtype=torch.float64)
    net = ScaledShallowNet(3, 5, lambdas=lam, out_dim=2, seed=0, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    data = {k: torch.randn(n, c, generator=g, dtype=torch.float64)
            for k, n, c in (("x_train", 12, 3), ("y_train", 12, 2), ("x_test", 8, 3), ("y_test", 8, 2))}
    curve = transfer_curves({"a": net}, data, ks=[1, 3], hidden=4, steps=3)
    assert set(curve.readout) == {"mlp", "ridge"} and set(curve.k) == {1, 3}
    assert set(curve.metric) == {"train_risk", "test_risk"}  # regression: no accuracy
    f = transfer_features(net, data["x_train"], [1, 3, 4])  # top-3 by lambda (u^2 = 1 for both outputs)
    beta = fit_ridge(f, data["y_train"], ridge=1e-3)
    expect = float(((predict_ridge(beta, f) - data["y_train"]) ** 2).mean())
    got = curve[(curve.readout == "ridge") & (curve.k == 3) & (curve.metric == "train_risk")].value.item()
    assert got == pytest.approx(expect, rel=1e-12)
