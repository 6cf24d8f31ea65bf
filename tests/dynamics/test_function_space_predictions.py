"""Linearised network and function-space predictions against independent computations."""

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from torch.func import functional_call, jacrev

import ntklab
from ntklab import ConfigError
from ntklab.dynamics import (FunctionSpaceModes, GradientDescent, HeavyBall, LinearizedNetwork, Nesterov, NesterovSC,
                             StabilityWarning, check_stability, flow_factors, stability_bound, train_full_batch)

OPTIMISERS = {
    "gd": lambda p, lr, b: GradientDescent(p, lr=lr),
    "heavy_ball": lambda p, lr, b: HeavyBall(p, lr=lr, momentum=b),
    "nag": lambda p, lr, b: Nesterov(p, lr=lr),
    "nag_sc": lambda p, lr, b: NesterovSC(p, lr=lr, momentum=b),
}


def _shallow(n=14, d=5, m=60, out_dim=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = ntklab.ScaledShallowNet(d, m, out_dim=out_dim, seed=seed, dtype=torch.float64)
    x = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    y = torch.randn(n, out_dim, generator=g, dtype=torch.float64)
    return net, x, y


def test_linearized_equals_first_order_taylor():
    """f_lin(θ0 + δ) = f(θ0) + J δ with J from jacrev (independent of the jvp path), for a tanh MLP."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2)).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    lin = LinearizedNetwork(net)
    theta0 = {k: v.detach().clone() for k, v in net.named_parameters()}
    delta = {k: 0.1 * torch.randn_like(v) for k, v in theta0.items()}
    with torch.no_grad():
        for k, p in lin.theta().items():
            p.add_(delta[k])
    jac = jacrev(lambda th: functional_call(net, th, (x,)))(theta0)
    expected = net(x) + sum(jac[k].reshape(5, 2, -1) @ delta[k].reshape(-1) for k in theta0)
    torch.testing.assert_close(lin(x), expected, rtol=1e-12, atol=1e-12)
    # the second-order remainder of the real net: halving δ quarters it (ratio 4 up to O(δ))
    gap = []
    for s in (1.0, 0.5):
        with torch.no_grad():
            for k, p in lin.theta().items():
                p.copy_(theta0[k] + s * delta[k])
        with torch.no_grad():
            gap.append(float((lin.real_output(x) - lin(x)).norm()))
    assert 3.5 < gap[0] / gap[1] < 4.5


def _fit(method, beta, steps, out_dim=1):
    net, x, y = _shallow(out_dim=out_dim)
    theta = ntklab.empirical_ntk(net, x)
    with torch.no_grad():
        e0 = net(x) - y
    modes = FunctionSpaceModes(theta, e0)
    lr = 1.0 / modes.lambda_max
    lin = LinearizedNetwork(net)
    keep = [1, 127, 128, 129, steps]  # both sides of a block boundary of the blocked recursion
    pred = modes.discrete(method, lr=lr, momentum=beta, steps=steps, keep=keep)
    opt = OPTIMISERS[method](lin.parameters(), lr, beta)
    errors = {}
    losses = np.empty(steps + 1)
    for k in range(steps + 1):
        e = lin(x) - y
        loss = (e ** 2).mean()
        losses[k] = float(loss.detach())
        if k in keep:
            errors[k] = e.detach().numpy()
        if k < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    return pred, losses, errors, e0.numpy()


@pytest.mark.parametrize("method,beta,out_dim", [("gd", 0.0, 1), ("heavy_ball", 0.7, 1), ("nag", 0.0, 1),
                                                 ("nag_sc", 0.5, 1), ("heavy_ball", 0.5, 2)])
def test_linearized_training_equals_discrete_prediction(method, beta, out_dim):
    """The optimiser on the linearised net and the per-mode recursion agree to float64 precision.

    Both sides carry rounding of order eps ||e_0|| per step through contractions (every mode is stable), so
    the difference of the error vectors stays at a few hundred eps ||e_0||; 1e-12 ||e_0|| bounds it tightly
    while any wrong factor (2/n, a shifted beta_k) would be off by O(1).
    """
    pred, losses, errors, e0 = _fit(method, beta, 140, out_dim)
    scale = np.linalg.norm(e0)
    for k, e in errors.items():
        assert np.abs(e - pred.errors[k]).max() <= 1e-12 * scale, k
    assert np.abs(np.sqrt(losses) - np.sqrt(pred.loss)).max() <= 1e-12 * np.sqrt(losses[0])


def test_train_full_batch_records_the_loss_the_prediction_gives():
    net, x, y = _shallow(out_dim=2)
    with torch.no_grad():
        e0 = net(x) - y
    modes = FunctionSpaceModes(ntklab.empirical_ntk(net, x), e0)
    lr = 1.0 / modes.lambda_max
    lin = LinearizedNetwork(net)
    losses = train_full_batch(lin, x, y, Nesterov(lin.parameters(), lr=lr), steps=30)
    pred = modes.discrete("nag", lr=lr, steps=30).loss
    np.testing.assert_allclose(np.sqrt(losses), np.sqrt(pred), rtol=0, atol=1e-12 * np.sqrt(pred[0]))


def _direct(theta, e0, method, lr, beta, steps):
    """The recursions in the original basis with the dense matrix (no eigendecomposition, no blocks)."""
    n = e0.size
    A = 2.0 / n * theta
    M = np.eye(n) - lr * A
    e_prev, e = e0.copy(), e0.copy()
    out, out_it = [e0 @ e0 / n], [e0 @ e0 / n]
    for k in range(steps):
        if method == "heavy_ball":
            e_prev, e = e, M @ e + beta * (e - e_prev)
            y = e
        else:
            b = (k - 1) / (k + 2) if k >= 1 else 0.0
            bn = k / (k + 3)
            if method == "nag_sc":
                b = bn = beta
            e_prev, e = e, M @ (e + b * (e - e_prev))
            y = e + bn * (e - e_prev)
        out.append(y @ y / n)
        out_it.append(e @ e / n)
    return np.array(out), np.array(out_it)


@pytest.mark.parametrize("method,beta", [("heavy_ball", 0.8), ("nag", 0.0), ("nag_sc", 0.6)])
def test_mode_recursions_equal_dense_recursions(method, beta):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 40))
    theta = X @ X.T / 40
    e0 = rng.standard_normal(30)
    modes = FunctionSpaceModes(theta, e0)
    lr = 1.0 / modes.lambda_max
    pred = modes.discrete(method, lr=lr, momentum=beta, steps=400)
    loss, loss_it = _direct(theta, e0, method, lr, beta, 400)
    # compare sqrt(loss) against the initial scale: rounding of O(100 eps) relative to ||e_0||
    np.testing.assert_allclose(np.sqrt(pred.loss), np.sqrt(loss), rtol=0, atol=1e-12 * np.sqrt(loss[0]))
    it = pred.loss_iterate if pred.loss_iterate is not None else pred.loss
    np.testing.assert_allclose(np.sqrt(it), np.sqrt(loss_it), rtol=0, atol=1e-12 * np.sqrt(loss[0]))
    for steps in (0, 1, 2, 129):  # short runs: blocks of one step, a partial last block
        short = modes.discrete(method, lr=lr, momentum=beta, steps=steps, keep=[steps])
        np.testing.assert_allclose(short.loss, pred.loss[:steps + 1], rtol=1e-12)
        assert np.sum(short.errors[steps] ** 2) / 30 == pytest.approx(pred.loss[steps], rel=1e-12)


def _ivp(kind, a, t_end, damping=None):
    """solve_ivp on c'' + g(t) c' + a c = 0 (or c' = -a c), c(0) = 1, c'(0) = 0, at rtol 1e-12."""
    ts = np.linspace(0, t_end, 50)
    if kind == "gradient_flow":
        sol = solve_ivp(lambda t, c: -a * c, (0, t_end), [1.0], t_eval=ts, rtol=1e-12, atol=1e-14, method="DOP853")
        return ts, sol.y[0]
    t0 = 0.0
    c0, v0 = 1.0, 0.0
    if kind == "nesterov":  # start past the 3/t singularity on the series 1 - a t^2/8 (error O(t^4) ~ 1e-24)
        t0 = 1e-6
        c0, v0 = 1 - a * t0 ** 2 / 8, -a * t0 / 4
    fric = (lambda t: 3 / t) if kind == "nesterov" else (lambda t: damping)
    sol = solve_ivp(lambda t, s: [s[1], -fric(t) * s[1] - a * s[0]], (t0, t_end), [c0, v0],
                    t_eval=np.maximum(ts, t0), rtol=1e-12, atol=1e-14, method="DOP853")
    return ts, sol.y[0]


@pytest.mark.parametrize("kind,a,damping", [
    ("gradient_flow", 0.7, None),
    ("heavy_ball", 2.0, 1.0),      # underdamped: gamma^2 < 4a
    ("heavy_ball", 0.1, 3.0),      # overdamped
    ("heavy_ball", 0.25, 1.0),     # critical: gamma^2 = 4a
    ("heavy_ball", 0.2500001, 1.0),  # next to critical (the sinh/d and sin/d limits)
    ("nesterov", 1.3, None),
    ("nesterov", 0.0, None),       # a null mode stays put
])
def test_flow_closed_forms_equal_solve_ivp(kind, a, damping):
    """Closed forms against an adaptive 8th-order integrator at rtol 1e-12: agreement to 1e-9 absolute
    (|c| <= 1) leaves room for the integrator's global error only."""
    ts, ref = _ivp(kind, a, 30.0, damping)
    got = flow_factors(kind, [a], ts, damping=damping)[:, 0]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


def test_discrete_tends_to_ode_as_step_shrinks():
    """HB with beta = 1 - gamma sqrt(eta) at k = t / sqrt(eta) approaches the HB ODE at t as eta -> 0."""
    a = np.array([0.3, 1.0, 2.5])
    modes = FunctionSpaceModes(np.diag(a), np.ones(3), normalisation="half_sum")
    errs = []
    for eta in (1e-2, 1e-4):
        beta = 1 - 1.0 * np.sqrt(eta)
        steps = int(round(5.0 / np.sqrt(eta)))
        disc = modes.discrete("heavy_ball", lr=eta, momentum=beta, steps=steps).loss[-1]
        ode = modes.flow("heavy_ball", [5.0], damping=1.0).loss[0]
        errs.append(abs(disc - ode))
    assert errs[1] < errs[0] / 5  # first order in sqrt(eta): 10x smaller step, ~10x smaller gap


def test_stability_bounds_and_bad_hyperparameters():
    modes = FunctionSpaceModes(np.diag([0.1, 1.0]), np.ones(2), normalisation="half_sum")
    assert stability_bound("heavy_ball", 0.5) == 3.0 and stability_bound("nag") == pytest.approx(4 / 3)
    with pytest.warns(StabilityWarning, match="optimizer.lr"):
        pred = modes.discrete("gd", lr=2.5, steps=50)
    assert pred.loss[-1] > pred.loss[0]  # it does diverge
    # just inside NAG-SC's bound 2(1+b)/(1+2b) the iteration is stable; just outside it grows
    b = 0.5
    bound = stability_bound("nag_sc", b)
    assert modes.discrete("nag_sc", lr=0.99 * bound, momentum=b, steps=400).loss[-1] < 1e-6
    with pytest.warns(StabilityWarning):
        assert modes.discrete("nag_sc", lr=1.01 * bound, momentum=b, steps=400).loss[-1] > 1
    with pytest.raises(ConfigError, match="optimizer.momentum"):
        check_stability("heavy_ball", lr=0.1, momentum=1.0, lambda_max=1.0)
    with pytest.raises(ConfigError, match="theta"):
        FunctionSpaceModes(np.eye(3), np.ones(2))


# --- neural-tangents' conventions (docs/neural_tangents.md), written out: CI has neither neural-tangents nor JAX ----

def _per_output_problem(n=9, K=3, seed=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 12))
    theta = X @ X.T / 12  # an (n, n) kernel, the same for every output
    return theta, rng.standard_normal((n, K))


@pytest.mark.parametrize("normalisation,factor", [("mean", lambda N: 2.0), ("half_sum", lambda N: float(N)),
                                                  ("sum", lambda N: 2.0 * N)])
def test_gradient_flow_time_scales_match_neural_tangents_gradient_descent_mse(normalisation, factor):
    """nt.predict.gradient_descent_mse(k, y, learning_rate=1) follows the flow of (1 / 2N) ||f - y||^2 with N =
    y.size, i.e. e(T) = expm(-T (Theta (x) I_K) / N) e0 (neural-tangents 0.6.5, predict.py).  ntklab's "mean" at t
    is it at T = 2t, "half_sum" at T = N t, "sum" at T = 2 N t.  expm is accurate to ~1e-15 here, so 1e-12 |e0|."""
    theta, e0 = _per_output_problem()
    N = e0.size
    modes = FunctionSpaceModes(theta, e0, normalisation=normalisation)
    for T in (0.3, 4.0, 40.0):
        t = T / factor(N)
        ours = modes.flow("gradient_flow", [t], keep_times=[t]).errors[t]
        nt = (expm(-T * np.kron(theta, np.eye(e0.shape[1])) / N) @ e0.reshape(-1)).reshape(e0.shape)
        np.testing.assert_allclose(ours, nt, rtol=0, atol=1e-12 * np.abs(e0).max())


def test_heavy_ball_ode_matches_neural_tangents_momentum_ode():
    """nt.predict.gradient_descent(loss, k, y, learning_rate=eta, momentum=beta) integrates, in units
    tau = sqrt(eta) * step, f'' = -Theta grad loss(f) - ((1 - beta) / sqrt(eta)) f' from f'(0) = 0 (predict.py:
    learning_rate **= 0.5, momentum = (momentum - 1) / learning_rate).  With ntklab's loss, mean((f - y)^2), grad = 2 e /
    N, and ode("heavy_ball", lr=eta, momentum=beta) at step k equals it at step k.  solve_ivp at rtol 1e-12: 1e-9."""
    theta, e0 = _per_output_problem(n=6, K=2, seed=6)
    N, eta, beta = e0.size, 0.05, 0.9
    A = 2.0 / N * np.kron(theta, np.eye(2))
    gamma = (1 - beta) / np.sqrt(eta)
    steps = np.array([0.0, 10.0, 100.0, 400.0])
    sol = solve_ivp(lambda t, s: np.concatenate([s[N:], -A @ s[:N] - gamma * s[N:]]), (0, steps[-1] * np.sqrt(eta)),
                    np.concatenate([e0.reshape(-1), np.zeros(N)]), t_eval=steps * np.sqrt(eta), rtol=1e-12,
                    atol=1e-14, method="DOP853")
    nt_loss = (sol.y[:N] ** 2).mean(0)
    ours = FunctionSpaceModes(theta, e0).ode("heavy_ball", lr=eta, momentum=beta, steps=steps).loss
    np.testing.assert_allclose(ours, nt_loss, rtol=0, atol=1e-9 * nt_loss[0])


@pytest.mark.parametrize("method,beta", [("gd", 0.0), ("heavy_ball", 0.8), ("nag", 0.0), ("nag_sc", 0.5)])
def test_per_output_kernel_is_theta_times_identity(method, beta):
    """An (n, n) kernel with (n, K) errors is Theta (x) I_K, as neural-tangents takes it: every prediction equals the
    one from the explicit (nK, nK) Kronecker product (two eigendecompositions of the same spectrum: rounding only)."""
    theta, e0 = _per_output_problem()
    small, big = FunctionSpaceModes(theta, e0), FunctionSpaceModes(np.kron(theta, np.eye(3)), e0)
    assert small.lambda_max == pytest.approx(big.lambda_max, rel=1e-13)
    assert small.lambda_min == pytest.approx(big.lambda_min, abs=1e-13 * big.lambda_max)
    lr = 1.0 / small.lambda_max
    a = small.discrete(method, lr=lr, momentum=beta, steps=300, keep=[7, 300])
    b = big.discrete(method, lr=lr, momentum=beta, steps=300, keep=[7, 300])
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-11, atol=1e-14 * a.loss[0])
    for k in (7, 300):
        np.testing.assert_allclose(a.errors[k], b.errors[k], rtol=0, atol=1e-12 * np.abs(e0).max())
    t = [0.5, 5.0]
    np.testing.assert_allclose(small.flow("nesterov", t).loss, big.flow("nesterov", t).loss, rtol=1e-11)
    with pytest.raises(ConfigError, match="theta"):
        FunctionSpaceModes(theta[:-1, :-1], e0)
