"""The random limit of the NTG (gamma < 1): exact identities, convergence with the top nodes held fixed, and its
randomness across seeds with the bound lambda_min >= gamma lambda_min(K)."""

import numpy as np
import pytest
import torch
from scipy.special import zeta

import ntklab
from ntklab import ConfigError
from ntklab._fits import loglog_fit
from ntklab.kernels import node_grams, ntg_limit, shallow_mean_ntk


def _points(n=20, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)


def _net(m, gamma, alpha, seed, d=5):
    lam = ntklab.node_scaling(m, kind="zipf" if gamma < 1 else "ntk", gamma=gamma, alpha=alpha)
    return ntklab.ScaledShallowNet(d, m, lambdas=lam, seed=seed, dtype=torch.float64)


def test_with_every_node_on_top_the_gap_is_the_uniform_parts_monte_carlo_error():
    """top = m: Theta_0 - limit = gamma ((1/m) sum_j H(w_j) - K), the empirical NTK of the same weights under the NTK
    scaling minus K (two independent closed forms); gamma = 0: the limit is Theta_0 itself."""
    x = _points()
    for gamma in (0.0, 0.5):
        net = _net(300, gamma, 0.5, seed=1)
        uniform = ntklab.ScaledShallowNet(5, 300, seed=1, dtype=torch.float64)  # same W, lambda_j = 1/m
        torch.testing.assert_close(uniform.W, net.W)
        gap = ntklab.empirical_ntk(net, x) - ntg_limit(net, x, gamma=gamma, top=300)
        want = gamma * (ntklab.empirical_ntk(uniform, x) - shallow_mean_ntk(x))
        torch.testing.assert_close(gap, want, rtol=0, atol=1e-14)
    # node_grams is the per-node Gram of the paper, (x_i.x_k / d) 1{w.x_i > 0} 1{w.x_k > 0}
    w = net.W[7].detach()
    s = (x @ w > 0).to(torch.float64)
    torch.testing.assert_close(node_grams(net, [7], x), (x @ x.T / 5) * torch.outer(s, s), rtol=0, atol=1e-15)
    # gamma = 1: the deterministic K
    torch.testing.assert_close(ntg_limit(_net(50, 1.0, 0.5, 0), x, gamma=1.0, top=5), shallow_mean_ntk(x))


def test_theta0_converges_to_the_limit_with_the_top_nodes_held_fixed():
    """The top k = 100 nodes keep their weights while m grows and the other nodes are redrawn.  The limit uses the
    m -> inf Zipf values lambda~_j = j^(-1/alpha) / zeta(1/alpha).  The remaining error is the uniform part's Monte
    Carlo error, gamma O(m^-1/2), plus the tail's (1 - gamma) sqrt(sum_{j>k} lambda~_j^2) ~ 3e-4 (alpha = 0.5), so
    the relative Frobenius error falls like m^-1/2 over m = 250 .. 16000: slope in [-0.65, -0.35] from the mean
    over 6 redraws each, and below 1 % at m = 16000.  Weights of other top nodes leave a gap 10x larger: the
    limit depends on the top nodes' weights (it is random)."""
    gamma, alpha, k = 0.2, 0.5, 100
    x = _points()
    fixed = torch.randn(k, 5, generator=torch.Generator().manual_seed(99), dtype=torch.float64) * np.sqrt(2)
    other = torch.randn(k, 5, generator=torch.Generator().manual_seed(98), dtype=torch.float64) * np.sqrt(2)
    tilde_inf = torch.arange(1, k + 1, dtype=torch.float64) ** (-1 / alpha) / zeta(1 / alpha)
    widths, errs, wrong = [250, 1000, 4000, 16000], [], []
    for m in widths:
        e, e_other = [], []
        for r in range(6):
            net = _net(m, gamma, alpha, seed=10 * m + r)
            top = torch.argsort(-net.lambdas, stable=True)[:k]
            assert top.tolist() == list(range(k))  # zipf: node j has the j-th largest lambda
            with torch.no_grad():
                net.W[top] = fixed
            theta = ntklab.empirical_ntk(net, x)
            limit = ntg_limit(net, x, gamma=gamma, top=k, lambda_tilde=tilde_inf)
            e.append(float((theta - limit).norm() / limit.norm()))
            with torch.no_grad():
                net.W[top] = other
            e_other.append(float((theta - ntg_limit(net, x, gamma=gamma, top=k, lambda_tilde=tilde_inf)).norm()
                                 / limit.norm()))
        errs.append(np.mean(e))
        wrong.append(np.mean(e_other))
    slope = loglog_fit(np.array(widths, float), np.array(errs)).slope
    assert -0.65 <= slope <= -0.35, (errs, slope)
    assert errs[-1] < 0.01, errs
    assert min(wrong) > 10 * errs[-1], (wrong, errs)


def test_the_limits_lambda_min_is_random_and_bounded_by_gamma_lambda_min_k():
    """Across 40 seeds (the top nodes' weights) lambda_min of the limit varies (coefficient of variation > 5 %) and
    never falls below gamma lambda_min(K) (every H(w_j) is positive semi-definite; rounding 1e-15); it does not
    depend on m, so the spread does not shrink with m, while for gamma = 1 the limit is K in every seed."""
    x = _points(n=16, d=4)
    lam_k = float(torch.linalg.eigvalsh(shallow_mean_ntk(x))[0])
    for gamma, alpha in ((0.5, 0.7), (0.2, 0.5), (0.0, 0.4)):
        mins = []
        for s in range(40):
            net = _net(400, gamma, alpha, seed=s, d=4)
            mins.append(float(torch.linalg.eigvalsh(ntg_limit(net, x, gamma=gamma, top=60))[0]))
        mins = np.array(mins)
        assert (mins >= gamma * lam_k - 1e-15).all(), (gamma, mins.min(), gamma * lam_k)
        assert mins.std() / mins.mean() > 0.05, (gamma, mins.std() / mins.mean())
    ones = [float(torch.linalg.eigvalsh(ntg_limit(_net(400, 1.0, 0.5, seed=s, d=4), x, gamma=1.0, top=60))[0])
            for s in range(3)]
    assert ones == [pytest.approx(lam_k, rel=1e-12)] * 3


def test_bad_arguments_are_refused():
    x = _points()
    net = _net(50, 0.5, 0.5, 0)
    with pytest.raises(ConfigError, match="top"):
        ntg_limit(net, x, gamma=0.5, top=0)
    with pytest.raises(ConfigError, match="gamma"):
        ntg_limit(net, x, gamma=0.9, top=5)  # lambda_j < 0.9/m for the tail nodes
    with pytest.raises(ConfigError, match="lambda_tilde"):
        ntg_limit(net, x, gamma=0.5, top=5, lambda_tilde=[0.1, 0.2])
    with pytest.raises(ConfigError, match="net"):
        ntg_limit(ntklab.ScaledShallowNet(5, 50, trainable=("W", "u")), x, gamma=0.5, top=5)
