"""Transfer: top-k features, ridge and MLP readouts, against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import ntklab
from ntklab import ConfigError, ScaledShallowNet
from ntklab.data import Dataset
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


def test_standardised_ridge_is_invariant_to_each_features_scale():
    """ridge_std: predictions do not change when each column is multiplied by its own constant (1e-3 .. 1e3, the
    spread of sqrt(lambda_j) and more), and equal the ridge fit on explicitly standardised columns."""
    rng = np.random.default_rng(2)
    f = torch.tensor(rng.normal(size=(40, 4)) + 3.0)
    y = torch.tensor(rng.normal(size=(40, 2)))
    scaled = f * torch.tensor([1e-3, 1.0, 30.0, 1e3])
    b1, b2 = fit_ridge(f, y, ridge=0.1, standardise=True), fit_ridge(scaled, y, ridge=0.1, standardise=True)
    torch.testing.assert_close(predict_ridge(b1, f), predict_ridge(b2, scaled), rtol=1e-10, atol=1e-12)
    z = (f - f.mean(0)) / f.std(0, correction=0)
    torch.testing.assert_close(predict_ridge(b1, f), predict_ridge(fit_ridge(z, y, ridge=0.1), z), rtol=1e-10,
                               atol=1e-12)
    # the plain ridge's relative penalty is not per-feature invariant: the same rescaling changes its fit
    p1, p2 = predict_ridge(fit_ridge(f, y, ridge=0.1), f), predict_ridge(fit_ridge(scaled, y, ridge=0.1), scaled)
    assert float((p1 - p2).abs().max()) > 1e-3


def test_mlp_repeats_are_the_single_fits_with_shifted_seeds():
    """Repeat r of (model, k) is the MLP seeded s + k + r * MLP_REPEAT_STRIDE: repeat 0 is the one-repeat fit,
    and repeat 1 the fit with that seed (the readouts differ from one another)."""
    from ntklab.transfer import MLP_REPEAT_STRIDE

    ds = ntklab.load_dataset("friedman1", n_samples=100)
    net = {"a": _nets()["a"]}
    kw = dict(ks=[4], readouts=("mlp",), hidden=8, steps=50)
    three = transfer_curves(net, ds, mlp_repeats=3, seed=7, **kw)
    assert sorted(three.repeat.unique()) == [0, 1, 2]
    one = transfer_curves(net, ds, seed=7, **kw)
    assert three[three.repeat == 0].value.tolist() == one.value.tolist()
    shifted = transfer_curves(net, ds, seed=7 + MLP_REPEAT_STRIDE, **kw)
    assert three[three.repeat == 1].value.tolist() == shifted.value.tolist()
    assert three[three.repeat == 1].value.tolist() != one.value.tolist()
    with pytest.raises(ConfigError, match="mlp_repeats"):
        transfer_curves(net, ds, mlp_repeats=0, **kw)


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


def test_mlps_against_torch_nn():
    g = torch.Generator().manual_seed(0)
    probs = [MLPProblem(torch.randn(9, k, generator=g, dtype=torch.float64), torch.randn(9, 2, generator=g,
                        dtype=torch.float64), torch.randn(4, k, generator=g, dtype=torch.float64),
                        torch.randn(4, 2, generator=g, dtype=torch.float64)) for k in (2, 5, 3)]
    out = fit_mlps(probs, hidden=6, lr=0.1, steps=25, seeds=[7, 8, 9], dtype=torch.float64)
    for p, s, (tr, _) in zip(probs, (7, 8, 9), out):
        ref = _sequential_fit(p.f_train, p.y_train, hidden=6, lr=0.1, steps=25, seed=s)
        # hand-written gradients against autograd: the same float64 arithmetic up to summation order
        torch.testing.assert_close(tr, ref, rtol=1e-10, atol=1e-12)


def test_transfer_curves_rows_and_ridge_consistency():
    lam = torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15], dtype=torch.float64)
    net = ScaledShallowNet(3, 5, lambdas=lam, out_dim=2, seed=0, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    data = {k: torch.randn(n, c, generator=g, dtype=torch.float64)
            for k, n, c in (("x_train", 12, 3), ("y_train", 12, 2), ("x_test", 8, 3), ("y_test", 8, 2))}
    curve = transfer_curves({"a": net}, data, ks=[1, 3], hidden=4, steps=3)
    assert set(curve.readout) == {"mlp", "ridge", "ridge_std"} and set(curve.k) == {1, 3}
    assert set(curve.metric) == {"train_risk", "test_risk"}  # regression: no accuracy
    f = transfer_features(net, data["x_train"], [1, 3, 4])  # top-3 by lambda (u^2 = 1 for both outputs)
    beta = fit_ridge(f, data["y_train"], ridge=1e-3)
    expect = float(((predict_ridge(beta, f) - data["y_train"]) ** 2).mean())
    got = curve[(curve.readout == "ridge") & (curve.k == 3) & (curve.metric == "train_risk")].value.item()
    assert got == pytest.approx(expect, rel=1e-12)


def _problem(g, n, k, K, n_test=None):
    n_test = n_test or n
    return MLPProblem(torch.randn(n, k, generator=g), torch.randn(n, K, generator=g),
                      torch.randn(n_test, k, generator=g), torch.randn(n_test, K, generator=g))


def test_a_problem_fitted_alone_equals_it_fitted_among_others():
    """float32 (the default), one output (the thin shape where MKL's batched GEMM used other kernels): the
    problem's predictions are bitwise those it gets alone, whatever the others' k, n, number and order."""
    g = torch.Generator().manual_seed(0)
    target = _problem(g, 88, 10, 1)
    others = [_problem(g, 88, 20, 1), _problem(g, 88, 5, 1), _problem(g, 40, 10, 1, n_test=17), _problem(g, 88, 10, 1)]
    kw = dict(hidden=16, lr=0.1, steps=300)
    alone = fit_mlps([target], seeds=[5], **kw)[0]
    for batch, seeds, at in (([target] + others, [5, 6, 7, 8, 9], 0), (others[:2] + [target], [6, 7, 5], 2),
                             (others + [target], [6, 7, 8, 9, 5], 4)):
        tr, te = fit_mlps(batch, seeds=seeds, **kw)[at]
        assert torch.equal(tr, alone[0]) and torch.equal(te, alone[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the default threads=1 trains with one thread whatever the caller's count
    try:
        assert torch.equal(fit_mlps([target], seeds=[5], **kw)[0][0], alone[0])
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before


def test_fit_mlps_refuses_mismatched_inputs():
    g = torch.Generator().manual_seed(0)
    p = _problem(g, 8, 3, 2)
    with pytest.raises(ConfigError, match="seeds"):
        fit_mlps([p], hidden=4, lr=0.1, steps=1, seeds=[1, 2])
    bad = MLPProblem(p.f_train, p.y_train, p.f_test[:, :2], p.y_test)
    with pytest.raises(ConfigError, match=r"problems\[0\]"):
        fit_mlps([bad], hidden=4, lr=0.1, steps=1, seeds=[1])


def _nets():
    lam = ntklab.node_scaling(30, gamma=0.0, alpha=0.5)
    return {"a": ScaledShallowNet(10, 30, lambdas=lam, seed=0), "b": ScaledShallowNet(10, 30, seed=1)}


def test_transfer_curves_take_a_dataset_and_its_transfer_split():
    ds = ntklab.load_dataset("friedman1", n_samples=100)
    nets = _nets()
    kw = dict(ks=[3, 5], hidden=8, steps=20)
    from_ds = transfer_curves(nets, ds, **kw)
    from_dict = transfer_curves(nets, ds.extra["transfer"], **kw)
    pd.testing.assert_frame_equal(from_ds, from_dict)
    # the Dataset's task decides classification: a regression set with one-hot-looking targets stays regression
    t = ds.extra["transfer"]
    onehot = {k: (torch.nn.functional.one_hot(torch.arange(len(v)) % 2, 2).to(torch.float64) if k.startswith("y")
                  else v) for k, v in t.items()}
    reg = Dataset("toy", ds.x_train, ds.y_train, ds.x_test, ds.y_test, task="regression", extra={"transfer": onehot})
    assert "test_acc" not in set(transfer_curves(nets, reg, ks=[3], readouts=("ridge",)).metric)
    assert "test_acc" in set(transfer_curves(nets, onehot, ks=[3], readouts=("ridge",)).metric)  # a dict: inferred
    with pytest.raises(ConfigError, match="transfer.models: no models given"):
        transfer_curves({}, ds, ks=[3])
    with pytest.raises(ConfigError, match="has no transfer split"):
        transfer_curves(nets, Dataset("bare", ds.x_train, ds.y_train, ds.x_test, ds.y_test), ks=[3])


def test_a_models_rows_do_not_depend_on_the_other_models():
    ds = ntklab.load_dataset("friedman1", n_samples=100)
    nets = _nets()
    kw = dict(ks=[2, 4], hidden=8, steps=200, seed={"a": 1000, "b": 2000})
    both = transfer_curves({"b": nets["b"], "a": nets["a"]}, ds, **kw)
    alone = transfer_curves({"a": nets["a"]}, ds, **kw)
    a = both[both.model == "a"].reset_index(drop=True)
    assert a.value.tolist() == alone.value.tolist() and len(a) == len(alone) == 2 * 3 * 2  # ks x readouts x risks
    with pytest.raises(ConfigError, match="no entry for model 'a'"):
        transfer_curves({"a": nets["a"]}, ds, ks=[2], seed={"b": 1})
