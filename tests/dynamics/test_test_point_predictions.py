"""Function-space predictions on test points and the infinite-width ensembles, against independent computations:
the linearised network stepped by each optimiser, matrix exponentials, solve_ivp and 50-digit arithmetic."""

import mpmath
import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import ntklab
from ntklab import ConfigError
from ntklab.dynamics import (FunctionSpaceModes, GradientDescent, HeavyBall, LinearizedNetwork, Nesterov, NesterovSC,
                             discrete_gains, flow_gains, gp_ensemble, gp_inference)

OPTIMISERS = {
    "gd": lambda p, lr, b: GradientDescent(p, lr=lr),
    "heavy_ball": lambda p, lr, b: HeavyBall(p, lr=lr, momentum=b),
    "nag": lambda p, lr, b: Nesterov(p, lr=lr),
    "nag_sc": lambda p, lr, b: NesterovSC(p, lr=lr, momentum=b),
}


def _problem(n=12, n_test=7, d=5, m=50, out_dim=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = ntklab.ScaledShallowNet(d, m, out_dim=out_dim, seed=seed, dtype=torch.float64,
                                  lambdas=ntklab.node_scaling(m, kind="zipf", gamma=0.5, alpha=0.7))
    x = torch.nn.functional.normalize(torch.randn(n + n_test, d, generator=g, dtype=torch.float64), dim=1)
    y = torch.randn(n, out_dim, generator=g, dtype=torch.float64)
    return net, x[:n], y, x[n:]


@pytest.mark.parametrize("method,beta,out_dim", [("gd", 0.0, 1), ("heavy_ball", 0.7, 1), ("nag", 0.0, 1),
                                                 ("nag_sc", 0.5, 1), ("heavy_ball", 0.5, 3), ("nag", 0.0, 2)])
def test_test_point_predictions_equal_the_linearised_network(method, beta, out_dim):
    """The optimiser on the linearised net (a jvp per step, no kernel) and the kernel prediction on test points
    agree to rounding: both carry O(eps) per step through contracting modes, so 1e-11 of the outputs' scale.
    With K outputs the kernel is the net's own (n, n, K, K) one, cross-output blocks included."""
    net, x, y, xt = _problem(out_dim=out_dim)
    with torch.no_grad():
        e0, f0t = net(x) - y, net(xt)
    modes = FunctionSpaceModes(ntklab.empirical_ntk(net, x), e0)
    lr = 1.0 / modes.lambda_max
    steps = [0, 1, 2, 127, 128, 140]
    pred = modes.at(ntklab.empirical_ntk(net, xt, x), f0t).discrete(method, lr=lr, momentum=beta, steps=steps)
    lin = LinearizedNetwork(net)
    opt = OPTIMISERS[method](lin.parameters(), lr, beta)
    got = {}
    for k in range(steps[-1] + 1):
        if k in steps:
            with torch.no_grad():
                got[k] = lin(xt).numpy()
        loss = ((lin(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    scale = float(np.abs(f0t.numpy()).max() + np.abs(y.numpy()).max())
    for i, k in enumerate(steps):
        np.testing.assert_allclose(pred[i], got[k], rtol=0, atol=1e-11 * scale, err_msg=f"step {k}")


def test_per_output_kernel_on_test_points_is_theta_times_identity():
    """An (n, n) kernel with (n, K) errors predicts as the explicit Kronecker product Theta (x) I_K does."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((15, 20))
    k_all = X @ X.T / 20
    theta, kt = k_all[:10, :10], k_all[10:, :10]
    e0, f0 = rng.standard_normal((10, 3)), rng.standard_normal((5, 3))
    small = FunctionSpaceModes(theta, e0).at(kt, f0)
    big = FunctionSpaceModes(np.kron(theta, np.eye(3)), e0).at(np.kron(kt, np.eye(3)), f0)
    lr = 0.5 / np.linalg.eigvalsh(2 * theta / 30).max()
    for method, beta in (("gd", 0.0), ("heavy_ball", 0.8), ("nag", 0.0)):
        np.testing.assert_allclose(small.discrete(method, lr=lr, momentum=beta, steps=[5, 200]),
                                   big.discrete(method, lr=lr, momentum=beta, steps=[5, 200]), rtol=0, atol=1e-11)
    np.testing.assert_allclose(small.flow("nesterov", [1.0, 40.0]), big.flow("nesterov", [1.0, 40.0]), atol=1e-11)


def _kernel_problem(seed=2, n=9, n_test=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, 6))
    k = X @ X.T / 6 + 0.05 * np.eye(n + n_test)  # full rank on train and test points
    return k[:n, :n], k[n:, :n], rng.standard_normal((n, 1)), rng.standard_normal((n_test, 1))


def test_gradient_flow_on_test_points_equals_the_matrix_exponential():
    """f(t; x') = f_0(x') + Theta' Theta^{-1} (expm(-A t) - I) e_0 with A = (2/N) Theta (ntklab's mean loss);
    expm and a dense solve are accurate to ~1e-13 here."""
    theta, kt, e0, f0 = _kernel_problem()
    N = e0.size
    pred = FunctionSpaceModes(theta, e0).at(kt, f0)
    for t in (0.0, 0.7, 25.0, 1e4):
        ref = f0 + kt @ np.linalg.solve(theta, (expm(-2 * t / N * theta) - np.eye(N)) @ e0)
        np.testing.assert_allclose(pred.flow("gradient_flow", [t])[0], ref, rtol=0, atol=1e-12)
    ref_inf = f0 - kt @ np.linalg.solve(theta, e0)
    np.testing.assert_allclose(pred.flow("gradient_flow", [np.inf])[0], ref_inf, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind,beta", [("heavy_ball", 0.9), ("heavy_ball", 0.0), ("nesterov", 0.0)])
def test_ode_limits_on_test_points_equal_solve_ivp(kind, beta):
    """Parameters follow theta'' + g(t) theta' = -grad L, so on the training and test points
    e'' + g e' = -A e and f'' + g f' = -(2/N) Theta' e; DOP853 at rtol 1e-12 against ode(...) on the step axis."""
    theta, kt, e0, f0 = _kernel_problem(seed=3)
    N, eta = e0.size, 0.05
    A = 2.0 / N * theta
    B = 2.0 / N * kt
    method = "heavy_ball" if kind == "heavy_ball" else "nag"
    fric = (lambda t: (1 - beta) / np.sqrt(eta)) if kind == "heavy_ball" else (lambda t: 3.0 / t)
    n, nt = N, f0.size

    def rhs(t, s):
        e, ev, f, fv = s[:n], s[n:2 * n], s[2 * n:2 * n + nt], s[2 * n + nt:]
        return np.concatenate([ev, -A @ e - fric(t) * ev, fv, -B @ e - fric(t) * fv])

    steps = np.array([40.0, 200.0, 600.0])
    t0 = 1e-9 if kind == "nesterov" else 0.0  # past the 3/t singularity (the motion there is O(t^2))
    sol = solve_ivp(rhs, (t0, steps[-1] * np.sqrt(eta)), np.concatenate([e0[:, 0], np.zeros(n), f0[:, 0], np.zeros(nt)]),
                    t_eval=steps * np.sqrt(eta), rtol=1e-12, atol=1e-14, method="DOP853")
    ours = FunctionSpaceModes(theta, e0).at(kt, f0).ode(method, lr=eta, momentum=beta, steps=steps)
    np.testing.assert_allclose(ours[:, :, 0], sol.y[2 * n:2 * n + nt].T, rtol=0, atol=1e-9)


mpmath.mp.dps = 50


def _mp_discrete(a, method, lr, beta, k):
    """R_k(a) = (S_k(a) - 1)/a from S's own recursion in 50-digit arithmetic (a > 0)."""
    a, lr, beta = mpmath.mpf(a), mpmath.mpf(lr), mpmath.mpf(beta)
    s_prev = s = mpmath.mpf(1)
    held = s
    for step in range(k + 1):
        b = beta if method in ("heavy_ball", "nag_sc") else (mpmath.mpf(step - 1) / (step + 2) if step >= 1 else 0)
        b = 0 if method == "gd" else b
        if method == "heavy_ball":
            held, nxt = s, s + b * (s - s_prev) - lr * a * s
        else:
            held = (1 + b) * s - b * s_prev
            nxt = (1 - lr * a) * held
        if step == k:
            return float((held - 1) / a)
        s_prev, s = s, nxt


@pytest.mark.parametrize("method,beta", [("gd", 0.0), ("heavy_ball", 0.9), ("nag", 0.0), ("nag_sc", 0.5)])
def test_gains_are_accurate_for_tiny_and_large_eigenvalues(method, beta):
    """(S_k - 1)/a for a from 1e-15 to near the stability edge: 50-digit arithmetic says the float64 gains are
    accurate to 1e-12 relative (dividing a rounded S_k - 1 by a = 1e-15 would lose every digit)."""
    a = np.array([1e-15, 1e-9, 1e-4, 0.3, 1.2])
    for k in (1, 7, 400):
        got = discrete_gains(a, method, lr=1.0, momentum=beta, steps=[k])[0]
        ref = np.array([_mp_discrete(v, method, 1.0, beta, k) for v in a])
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0, err_msg=f"k={k}")
    assert discrete_gains([0.0], method, lr=0.5, momentum=beta, steps=[3])[0, 0] == pytest.approx(
        _mp_discrete(1e-30, method, 0.5, beta, 3), rel=1e-12)


@pytest.mark.parametrize("kind,damping", [("gradient_flow", None), ("heavy_ball", 2.0), ("heavy_ball", 0.3),
                                          ("nesterov", None)])
def test_flow_gains_are_accurate_for_tiny_eigenvalues(kind, damping):
    """(F(t) - 1)/a against 50-digit closed forms (HB: the two roots; NAG: 2 J_1(x)/x): 1e-11 relative."""
    a = np.array([1e-16, 1e-10, 1e-5, 1e-3, 0.02, 0.5, 3.0])
    t = np.array([0.5, 10.0, 200.0])

    def ref(av, tv):
        av, tv = mpmath.mpf(av), mpmath.mpf(tv)
        if kind == "gradient_flow":
            f = mpmath.exp(-av * tv)
        elif kind == "nesterov":
            x = mpmath.sqrt(av) * tv
            f = 2 * mpmath.besselj(1, x) / x
        else:
            g = mpmath.mpf(damping)
            d = mpmath.sqrt(g * g / 4 - av)  # complex when underdamped: the same formula
            r1, r2 = g / 2 - d, g / 2 + d
            f = (r2 * mpmath.exp(-r1 * tv) - r1 * mpmath.exp(-r2 * tv)) / (r2 - r1)
        return float(mpmath.re((f - 1) / av))

    got = flow_gains(kind, a, t, damping=damping)
    want = np.array([[ref(av, tv) for av in a] for tv in t])
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=0)


def _ensemble_problem(seed=4, n=8, n_test=3, K=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, 5))
    sq = ((X[:, None] - X[None]) ** 2).sum(-1)
    nngp = np.exp(-sq / 10) + 0.1 * np.eye(n + n_test)  # two different positive-definite kernels
    ntk = X @ X.T / 5 + nngp + 0.05 * np.eye(n + n_test)
    y = rng.standard_normal((n, K))
    split = lambda k: (k[:n, :n], k[n:, :n], k[n:, n:])  # noqa: E731
    return split(nngp), split(ntk), y


@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_ensemble_mean_and_covariance_equal_the_explicit_formulas(get):
    """f_t(x') = f_0(x') + M_t (f_0(X) - y) with M_t = Theta' Theta^{-1} (expm(-2 t Theta / N) - I), f_0 ~ GP(0, K):
    mean -M_t y, covariance K'' + M K M^T + M K'^T + K' M^T, by expm and dense solves (accurate to ~1e-12)."""
    (k_dd, k_td, k_tt), (t_dd, t_td, _), y = _ensemble_problem()
    N = y.size
    th_dd, th_td = (t_dd, t_td) if get == "ntk" else (k_dd, k_td)
    ens = gp_ensemble({"nngp": k_dd, "ntk": t_dd}, {"nngp": k_td, "ntk": t_td}, y, nngp_test=k_tt, get=get)
    times = [0.0, 0.3, 5.0, 1e3]
    got = ens.flow(times)
    for i, t in enumerate(times):
        M = th_td @ np.linalg.solve(th_dd, expm(-2 * t / N * th_dd) - np.eye(len(y)))
        np.testing.assert_allclose(got.mean[i], -M @ y, rtol=0, atol=1e-12)
        cov = k_tt + M @ k_dd @ M.T + M @ k_td.T + k_td @ M.T
        np.testing.assert_allclose(got.cov[i], cov, rtol=0, atol=1e-12)
    # discrete GD: M_k = Theta' Theta^{-1} ((I - eta A)^k - I)
    lr = 0.5
    k = 40
    disc = ens.discrete("gd", lr=lr, steps=[k])
    M = th_td @ np.linalg.solve(th_dd, np.linalg.matrix_power(np.eye(len(y)) - lr * 2 / N * th_dd, k) - np.eye(len(y)))
    np.testing.assert_allclose(disc.mean[0], -M @ y, rtol=0, atol=1e-12)


def test_nngp_ensemble_at_infinite_time_is_the_gp_posterior():
    """Trained to convergence with its own kernel, the NNGP ensemble is the Bayesian posterior (Lee et al. 2019):
    mean K'K^{-1}y, covariance K'' - K'K^{-1}K'^T; gp_inference by a Cholesky solve, checked against np.linalg."""
    (k_dd, k_td, k_tt), _, y = _ensemble_problem(seed=5)
    ens = gp_ensemble({"nngp": k_dd}, {"nngp": k_td}, y, nngp_test=k_tt, get="nngp").flow([np.inf])
    mean, cov = gp_inference(k_dd, k_td, y, k_test=k_tt)
    np.testing.assert_allclose(mean, k_td @ np.linalg.solve(k_dd, y), rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, k_tt - k_td @ np.linalg.solve(k_dd, k_td.T), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ens.mean[0], mean, rtol=0, atol=1e-11)
    np.testing.assert_allclose(ens.cov[0], cov, rtol=0, atol=1e-11)
    # the regularised posterior: s = diag_reg * mean diagonal, as neural-tangents
    s = 0.1 * np.mean(np.diag(k_dd))
    reg_mean, _ = gp_inference(k_dd, k_td, y, diag_reg=0.1)
    np.testing.assert_allclose(reg_mean, k_td @ np.linalg.solve(k_dd + s * np.eye(len(y)), y), atol=1e-12)


def test_ntk_ensemble_at_infinite_time_mean_and_a_singular_kernel():
    """NTK GP at t = inf: mean Theta' Theta^{-1} y.  A rank-deficient training kernel gets the pseudo-inverse on
    its null modes (which Theta' does not see) instead of an inf."""
    (k_dd, k_td, k_tt), (t_dd, t_td, _), y = _ensemble_problem(seed=6)
    ens = gp_ensemble({"nngp": k_dd, "ntk": t_dd}, {"nngp": k_td, "ntk": t_td}, y, nngp_test=k_tt)
    np.testing.assert_allclose(ens.flow([np.inf], compute_cov=False).mean[0], t_td @ np.linalg.solve(t_dd, y),
                               atol=1e-11)
    rng = np.random.default_rng(7)
    Z = rng.standard_normal((11, 3))
    low = Z @ Z.T  # rank 3 on 8 train + 3 test points
    sing = gp_ensemble({"ntk": low[:8, :8]}, {"ntk": low[8:, :8]}, y[:, :1], get="ntk").flow([np.inf],
                                                                                          compute_cov=False)
    assert np.isfinite(sing.mean).all()
    np.testing.assert_allclose(sing.mean[0], low[8:, :8] @ np.linalg.pinv(low[:8, :8], rcond=1e-10) @ y[:, :1],
                               atol=1e-8)


def test_bad_inputs_are_refused():
    theta, kt, e0, f0 = _kernel_problem()
    modes = FunctionSpaceModes(theta, e0)
    with pytest.raises(ConfigError, match="k_test_train"):
        modes.at(kt[:, :-1], f0)
    with pytest.raises(ConfigError, match="f0_test"):
        modes.at(kt, f0[:-1])
    with pytest.raises(ConfigError, match="times"):
        modes.at(kt, f0).flow("nesterov", [np.inf])
    with pytest.raises(ConfigError, match="steps"):
        discrete_gains([1.0], "gd", lr=0.1, steps=[1.5])
    (k_dd, k_td, _), _, y = _ensemble_problem()
    with pytest.raises(ConfigError, match="nngp"):
        gp_ensemble({"ntk": k_dd}, {"ntk": k_td}, y).flow([1.0])
    with pytest.raises(ConfigError, match="kernels_train"):
        gp_ensemble({"nngp": k_dd}, {"nngp": k_td}, y, get="ntk")


@pytest.mark.parametrize("out_dim,gamma", [(1, 1.0), (3, 0.0)])
def test_parameter_space_lazy_gd_equals_the_kernel_prediction(out_dim, gamma):
    """shallow_linearized_gd (no kernel) and the kernel route (the net's own (n, n, K, K) NTK) predict the same test
    outputs: float64 rounding through 60 contracting steps, 1e-10 of the outputs' scale."""
    lam = ntklab.node_scaling(80, kind="zipf" if gamma < 1 else "ntk", gamma=gamma, alpha=0.5)
    net = ntklab.ScaledShallowNet(6, 80, out_dim=out_dim, lambdas=lam, seed=3, dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    x = torch.nn.functional.normalize(torch.randn(25, 6, generator=g, dtype=torch.float64), dim=1)
    y = torch.randn(15, out_dim, generator=g, dtype=torch.float64)
    xtr, xte = x[:15], x[15:]
    with torch.no_grad():
        modes = FunctionSpaceModes(ntklab.empirical_ntk(net, xtr), net(xtr) - y)
        lazy = modes.at(ntklab.empirical_ntk(net, xte, xtr), net(xte))
    lr = 1.0 / modes.lambda_max
    steps = [0, 1, 17, 60]
    ours = ntklab.dynamics.shallow_linearized_gd(net, xtr, y, xte, lr=lr, steps=steps)
    np.testing.assert_allclose(ours, lazy.discrete("gd", lr=lr, steps=steps), rtol=0, atol=1e-10)
    with pytest.raises(ConfigError, match="net"):
        ntklab.dynamics.shallow_linearized_gd(ntklab.ScaledShallowNet(6, 8, trainable=("W", "u")), xtr, y, xte,
                                              lr=0.1, steps=[1])
