"""1-d nets: the stacked prefix-sum forward / vjp / jvp against autograd, the NTK against empirical_ntk, GD."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch.func import functional_call, jvp

import ntklab
from ntklab import ConfigError
from ntklab.approximation import (NetStack, ShallowNet1d, breakpoint_mass, gauss_legendre, gd_train, init_params,
                                  loglog_fit, make_target, ntk_spectrum, relative_weight_change, sphere_forward,
                                  sphere_init, sphere_monte_carlo, sphere_vjp)


def _stack(fast, activation="relu", trainable=("a", "w", "b")):
    f = make_target("cusp")
    qs = [gauss_legendre(300), gauss_legendre(300, breaks=f.singularities), gauss_legendre(300, breaks=(0.1,))]
    ps = [init_params(6, seed=0), init_params(10, seed=1, breakpoints="gaussian", output="random"),
          init_params(4, seed=2, scaling="standard")]
    ps[2]["w"][1] = 0.0  # a node with w = 0 (constant relu(b)) exercises the degenerate branch
    ps[2]["b"][1] = 0.7
    st = NetStack.from_params(ps, qs, fast=fast, activation=activation, trainable=trainable)
    return st, ps, qs, f


@pytest.mark.parametrize("fast,activation", [(True, "relu"), (False, "relu"), (False, "tanh")])
@pytest.mark.parametrize("trainable", [("a", "w", "b"), ("w", "b"), ("a",)])
def test_loss_and_gradient_match_autograd(fast, activation, trainable):
    st, ps, qs, f = _stack(fast, activation, trainable)
    loss, grad = st.loss_and_grad(st.params, f(st.x))
    for i, (p, q) in enumerate(zip(ps, qs)):
        net = ShallowNet1d.from_params(p, activation=activation, trainable=trainable)
        ref = 0.5 * (q.w * (net(q.x)[:, 0] - f(q.x)) ** 2).sum()
        ref.backward()
        m = p["a"].shape[0]
        assert float(loss[i]) == pytest.approx(ref.item(), rel=1e-12)  # float64 throughout: rounding only
        for k in ("a", "w", "b"):
            expect = getattr(net, k).grad if k in trainable else torch.zeros(m, dtype=torch.float64)
            torch.testing.assert_close(grad[k][i, :m], expect, rtol=1e-10, atol=1e-13)
            if grad[k].shape[1] > m:
                assert float(grad[k][i, m:].abs().max()) == 0.0  # padding never moves


@pytest.mark.parametrize("fast", [True, False])
def test_jvp_matches_torch_func(fast):
    st, ps, qs, _ = _stack(fast)
    gen = torch.Generator().manual_seed(5)
    t = {k: torch.randn(st.params[k].shape, generator=gen, dtype=torch.float64) for k in ("a", "w", "b")}
    out = st.jvp(st.params, t)
    for i, (p, q) in enumerate(zip(ps, qs)):
        net = ShallowNet1d.from_params(p)
        m = p["a"].shape[0]
        prm = {k: getattr(net, k).detach() for k in ("a", "w", "b")}
        with warnings.catch_warnings():  # torch.func.jvp's first use warns about torch.jit internals (torch 2.13)
            warnings.simplefilter("ignore", DeprecationWarning)
            _, ref = jvp(lambda pp: functional_call(net, pp, (q.x,))[:, 0], (prm,), ({k: t[k][i, :m] for k in prm},))
        torch.testing.assert_close(out[i], ref, rtol=1e-10, atol=1e-13)


def test_ntk_spectrum_and_top_eigenvalue_match_empirical_ntk():
    q = gauss_legendre(400)
    p = init_params(12, seed=3, output="random")
    net = ShallowNet1d.from_params(p)
    theta = ntklab.empirical_ntk(net, q.x[:, None], method="generic")  # torch.func, independent of the closed form
    sw = q.w.sqrt()
    ref = torch.linalg.eigvalsh(sw[:, None] * theta * sw[None, :]).flip(0).numpy()
    ev = ntk_spectrum(p, q)
    assert ev.size == 36  # rank <= 3m
    np.testing.assert_allclose(ev, ref[:36], rtol=1e-8, atol=1e-12 * ref[0])
    assert ref[36:].max() < 1e-10 * ref[0]
    st = NetStack.from_params([p], [q])
    assert float(st.top_eigenvalue(st.params, iters=200)[0]) == pytest.approx(ref[0], rel=1e-6)


def test_init_conventions():
    p = init_params(1000, seed=0)
    t = -p["b"] / p["w"]
    assert float(t.abs().max()) <= 1.0 and stats.kstest(t[:500].numpy(), "uniform", args=(-1, 2)).pvalue > 1e-3
    x = torch.linspace(-1, 1, 50, dtype=torch.float64)
    assert float(ShallowNet1d(64, seed=1)(x).detach().abs().max()) < 1e-12  # symmetric pairs: f_0 = 0
    assert float(ShallowNet1d(64, seed=1, output="random")(x).detach().abs().max()) > 1e-3
    assert float(p["c"]) == pytest.approx(1 / math.sqrt(1000))
    with pytest.raises(ConfigError):
        init_params(7, seed=0)  # symmetric needs even m
    with pytest.raises(ConfigError):
        init_params(8, seed=0, scaling="mup")
    with pytest.raises(ConfigError):
        ShallowNet1d(8, trainable=("u",))


def test_gd_on_outer_layer_matches_closed_form_iterates():
    """Training only a is GD on a quadratic: a_T = a_0 - V diag((1 - (1 - eta lam)^T) / lam) V^T (H a_0 - g)."""
    q = gauss_legendre(500)
    f = make_target("gaussian", s=0.5)
    p = init_params(6, seed=4, output="random")
    st = NetStack.from_params([p], [q], trainable=("a",))
    T = 700
    res = gd_train(st, f(q.x)[None], steps=T, lr_factor=1.0, every=100)
    z = torch.relu(q.x[:, None] * p["w"] + p["b"]) * p["c"]
    H, g = z.T @ (q.w[:, None] * z), z.T @ (q.w * f(q.x))
    lam, V = torch.linalg.eigh(H)
    eta = float(res.lr[0])
    assert eta * float(lam[-1]) == pytest.approx(1.0, rel=1e-6)  # eta = 1 / lambda_max(Theta_0)
    damp = torch.where(lam > 1e-14, (1 - (1 - eta * lam) ** T) / lam, eta * T * torch.ones_like(lam))
    a_T = p["a"] - V @ (damp * (V.T @ (H @ p["a"] - g)))
    torch.testing.assert_close(res.params["a"][0], a_T, rtol=1e-9, atol=1e-11)
    assert bool((res.curves.rel_error.diff().dropna() <= 1e-15).all())  # monotone: convex quadratic, eta < 2/L
    torch.testing.assert_close(res.params["w"], st.params["w"])  # frozen parameters stay


def test_sphere_net_gradient_and_jvp_match_autograd():
    x = sphere_monte_carlo(300, 4, seed=0).x
    p = {k: torch.stack([sphere_init(10, 4, seed=s, dtype=torch.float64)[k] for s in range(2)]) for k in "wba"}
    p["a"] = p["a"] + 0.3  # break the symmetric pairs so that f is not zero
    y = torch.sin(3 * x[:, 0])[None]
    g = sphere_vjp(p, x, 0.01 * (sphere_forward(p, x) - y))
    q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    loss = 0.5 * 0.01 * ((sphere_forward(q, x) - y) ** 2).sum()
    ref = torch.autograd.grad(loss, [q[k] for k in "wba"])
    for k, r in zip("wba", ref):
        torch.testing.assert_close(g[k], r, rtol=1e-10, atol=1e-13)
    t = {k: torch.randn(v.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) for k, v in p.items()}
    eps = 1e-6  # central difference of a piecewise-linear map: exact unless a kink is crossed (none at this eps)
    fd = (sphere_forward({k: p[k] + eps * t[k] for k in p}, x) - sphere_forward({k: p[k] - eps * t[k] for k in p}, x))
    torch.testing.assert_close(sphere_forward(p, x, t), fd / (2 * eps), rtol=1e-6, atol=1e-8)


def test_gd_stops_diverged_and_converged_nets():
    q = gauss_legendre(200)
    f = make_target("gaussian")
    st = NetStack.from_params([init_params(8, seed=0), init_params(8, seed=1)], [q, q])
    res = gd_train(st, f(st.x), steps=300, lr=50.0, every=10)
    assert res.status == ["diverged", "diverged"]
    # seed 0's loss rises once near its floor (a step at 0.1 / lambda_max(Theta_0) outgrows the curvature there):
    # the step is halved and the net runs on to the rule (the last three quarters of the run)
    res = gd_train(st, f(st.x), steps=20_000, lr_factor=0.1, every=50, tol=5e-2, on_rise="halve")
    assert set(res.status) == {"converged"} and int(res.steps_run.max()) < 20_000


def test_measures():
    init = {"a": torch.ones(1, 4), "w": torch.ones(1, 4), "b": torch.zeros(1, 4)}
    final = {"a": torch.ones(1, 4) * 2, "w": torch.ones(1, 4), "b": torch.zeros(1, 4)}
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    # ||theta_T - theta_0|| = sqrt(2), ||theta_0|| = sqrt(4) over the two real nodes
    assert float(relative_weight_change(init, final, mask)[0]) == pytest.approx(math.sqrt(2) / 2)
    assert breakpoint_mass(np.array([0.0, 0.05, 0.5, -0.2]), 0.0, 0.1) == 0.5


def test_loglog_fit_against_closed_form_ols():
    rng = np.random.default_rng(0)
    m = np.repeat([8, 16, 32, 64, 128], 3)
    y = 2.0 * m ** -1.3 * np.exp(0.1 * rng.standard_normal(m.size))
    fit = loglog_fit(pd.DataFrame({"m": m, "error": y}), level=0.9).iloc[0]
    X, Y = np.log(m), np.log(y)
    slope, icpt = np.polyfit(X, Y, 1)
    se = math.sqrt(np.sum((Y - slope * X - icpt) ** 2) / (m.size - 2) / np.sum((X - X.mean()) ** 2))
    half = stats.t.ppf(0.95, m.size - 2) * se
    assert fit.slope == pytest.approx(slope, rel=1e-12)
    assert (fit.ci_low, fit.ci_high) == pytest.approx((slope - half, slope + half), rel=1e-10)
    exact = loglog_fit(pd.DataFrame({"m": [8, 16, 32], "error": [1.0, 0.25, 0.0625]})).iloc[0]
    # an exact power law: the residuals are rounding (1e-16), so the interval closes to the slope
    assert exact.slope == pytest.approx(-2.0) and exact.ci_high - exact.ci_low == pytest.approx(0.0, abs=1e-5)
