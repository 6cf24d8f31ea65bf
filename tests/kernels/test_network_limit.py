"""``network_limit``: the infinite-width kernels of a built network, against Monte Carlo of the network itself.

The empirical NTK of a random network fluctuates around its limit by O(width^-1/2) (a sum of width i.i.d. node
terms per layer), so the mean relative error over seeds falls like width^-1/2.  Measured while writing these tests
(8 seeds, widths 64 / 256 / 1024, 10 inputs): fitted log-log slopes -0.40 .. -0.61 over all 16 parameterisation x bias
x node-scaling cases, mean -0.50, spread (sd) 0.06.  The assertion allows [-0.75, -0.3], about 3.5 sd either side;
a wrong limit (a missing term or factor, >= 10 % of the kernel) would leave an O(1) floor and flatten the slope to
> -0.3 at these widths, and the error at width 1024 is also bounded by 0.2 (a factor-2 error gives >= 0.5).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ntklab
from ntklab import ConfigError, empirical_ntk, infinite_kernel, shallow_mean_ntk
from ntklab.kernels import mlp_ntk, network_limit

WIDTHS = (64, 256, 1024)
SEEDS = 8


def _inputs(n=10, d=3, seed=11):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x * torch.linspace(0.5, 1.5, n, dtype=torch.float64)[:, None]  # off the sphere


def _diffuse(n, mass=0.7):
    """A non-uniform node scaling that spreads out with the width (max_j lambda_j = O(1/n)), summing to ``mass``."""
    p = 1 + 0.9 * torch.cos(torch.arange(n, dtype=torch.float64))
    return mass * p / p.sum()


def _rel(a, b):
    return float((a - b).norm() / b.norm())


def _slope(errs, widths=WIDTHS):
    return float(np.polyfit(np.log(widths), np.log(errs), 1)[0])


def _rate(make, x, widths=WIDTHS, seeds=SEEDS, **kw):
    errs = []
    for w in widths:
        e = []
        for s in range(seeds):
            net = make(w, s)
            e.append(_rel(empirical_ntk(net, x, **kw), network_limit(net, x, **kw)))
        errs.append(float(np.mean(e)))
    return errs


def _assert_rate(errs):
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert -0.75 <= _slope(errs) <= -0.3, errs
    assert errs[-1] < 0.2, errs


CASES = [(p, False, False) for p in ("ntk", "standard", "mup", "meanfield")]
CASES += [(p, True, True) for p in ("ntk", "standard", "mup", "meanfield")]
CASES += [("ntk", True, False), ("ntk", False, True), ("mup", True, False), ("standard", False, True)]


@pytest.mark.parametrize("param,bias,scaled", CASES)
def test_mlp_empirical_ntk_converges_to_the_limit_like_one_over_sqrt_width(param, bias, scaled):
    # every parameterisation, with and without trained hidden biases, with and without a (diffuse, mass 0.7) node
    # scaling: the limit is read from the network (multipliers, init stds, lambdas), not passed in
    x = _inputs()

    def make(w, s):
        return ntklab.MLP(3, [w, w], 1, parameterization=param, bias=bias, seed=s, dtype=torch.float64,
                          node_scaling=_diffuse(w) if scaled else None)

    _assert_rate(_rate(make, x))


@pytest.mark.parametrize("activation,trainable,output_init", [
    ("tanh", ("W", "b"), "gaussian"),     # a quadrature activation, no readout training
    ("gelu", ("u",), "rademacher"),       # readout only (the NNGP-like term), +-1 readout
    ("erf", ("W", "u", "b"), "gaussian"),
])
def test_activation_trainable_subset_and_readout_init(activation, trainable, output_init):
    x = _inputs(n=8, seed=5)

    def make(w, s):
        return ntklab.MLP(3, [w, w], 1, parameterization="ntk", activation=activation, bias=True, seed=s,
                          trainable=trainable, output_init=output_init, weight_std=1.3, bias_std=0.4,
                          output_std=0.8, dtype=torch.float64)

    _assert_rate(_rate(make, x, seeds=6))


def test_lr_weighted_kernel_and_the_mup_meanfield_symmetry():
    # the learning-rate-weighted kernel (the one gradient descent follows) converges too; mup and meanfield are one
    # abc-class (a, b, c) -> (a + t, b - t, c - 2t), so their weighted limits agree to rounding
    x = _inputs(n=8, seed=6)

    def make(param):
        return lambda w, s: ntklab.MLP(3, [w, w], 1, parameterization=param, bias=True, seed=s, dtype=torch.float64)

    for param in ("mup", "meanfield"):
        errs = []
        for w in WIDTHS:
            e = [_rel(mlp_ntk(net, x, lr_weighted=True), network_limit(net, x, lr_weighted=True))
                 for net in (make(param)(w, s) for s in range(6))]
            errs.append(float(np.mean(e)))
        _assert_rate(errs)
    a = network_limit(make("mup")(512, 0), x, lr_weighted=True)
    b = network_limit(make("meanfield")(512, 0), x, lr_weighted=True)
    assert torch.allclose(a, b, rtol=1e-13, atol=0)


def test_several_outputs_are_theta_times_identity():
    # with K outputs the readout rows are independent: off-diagonal output blocks vanish like width^-1/2 too
    x = _inputs(n=6, seed=7)
    errs, cross = [], []
    for w in WIDTHS:
        e, c = [], []
        for s in range(6):
            net = ntklab.MLP(3, [w, w], 2, parameterization="ntk", seed=s, dtype=torch.float64)
            emp, lim = empirical_ntk(net, x), network_limit(net, x)
            assert lim.shape == (6, 6, 2, 2) and torch.equal(lim[:, :, 0, 1], torch.zeros(6, 6, dtype=torch.float64))
            e.append(_rel(emp, lim))
            c.append(float(emp[:, :, 0, 1].norm() / lim[:, :, 0, 0].norm()))
        errs.append(float(np.mean(e)))
        cross.append(float(np.mean(c)))
    _assert_rate(errs)
    _assert_rate(cross)
    net = ntklab.MLP(3, [8, 8], 2, seed=0, dtype=torch.float64)
    assert torch.equal(network_limit(net, x, output="mean"), network_limit(net, x, output=1))


def test_shallow_net_converges_and_its_mean_is_the_lambda_weighted_kernel():
    x = _inputs(n=8, seed=8)
    for trainable, bias in ((("W",), False), (("W", "u", "b"), True)):
        def make(w, s):
            return ntklab.ScaledShallowNet(3, w, seed=s, trainable=trainable, bias=bias, weight_std=1.2,
                                           bias_std=0.5, lambdas=_diffuse(w, mass=1.0), dtype=torch.float64)

        _assert_rate(_rate(make, x, widths=(256, 1024, 4096)))
        # the paper's kernel: network_limit is shallow_mean_ntk (the core's independent implementation) exactly
        net = make(64, 0)
        ref = shallow_mean_ntk(x, weight_var=1.44, bias_var=0.25 if bias else 0.0, trainable=trainable)
        assert torch.allclose(network_limit(net, x), ref, atol=1e-14, rtol=1e-14)


def test_concentrated_node_scaling_mean_over_seeds():
    # gamma < 1 (Zipf): Theta(W_0) does not concentrate, but its mean over W given lambda is sum_j lambda_j E[node]
    # = (sum lambda) K exactly at every width, the zipf_offset quirk (sum 1 - m^(-1/alpha)/H) included.  The average
    # of S independent draws errs like S^-1/2 (4 disjoint groups per S; slope window as above)
    x = _inputs(n=6, seed=9)
    lam = ntklab.node_scaling(128, kind="zipf", gamma=0.5, alpha=0.7, zipf_offset=True)
    assert float(lam.sum()) < 1 - 1e-6
    nets = [ntklab.ScaledShallowNet(3, 128, lambdas=lam, seed=s, dtype=torch.float64) for s in range(4 * 64)]
    limit = network_limit(nets[0], x)
    assert torch.allclose(limit, float(lam.sum()) * shallow_mean_ntk(x), atol=1e-15, rtol=1e-13)
    thetas = torch.stack([empirical_ntk(n, x) for n in nets])
    sizes = (4, 16, 64)
    errs = [float(np.mean([_rel(thetas[g * s:(g + 1) * s].mean(0), limit) for g in range(4)])) for s in sizes]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert -0.75 <= _slope(errs, sizes) <= -0.3, errs


def test_the_issues_conventions_gap_derived():
    # the default MLP's limit in neural-tangents' terms (weight_var 2, no bias): its readout has weight_var 1 and
    # its weight gradients carry no weight_std, so Theta = (NTK_nt - NNGP_nt) / 4 + NNGP_nt / 2
    x = _inputs(n=7, seed=10)
    nngp, ntk = infinite_kernel(x, depth=2, weight_var=2.0, kind="both")
    net = ntklab.MLP(3, [16, 16], 1, parameterization="ntk", seed=0, dtype=torch.float64)
    assert torch.allclose(network_limit(net, x), (ntk - nngp) / 4 + nngp / 2, atol=1e-14, rtol=1e-14)
    assert torch.allclose(network_limit(net, x, kind="nngp"), nngp / 2, atol=1e-15, rtol=1e-14)
    # and the paper's shallow net: on the sphere infinite_kernel(depth=1, weight_var=2) is 8x its limit on the
    # diagonal (x.x'/d = 1, Sigma-dot = 1/2, Sigma = 1: nt 2 (2 * 1/2 + 1) = 4 against 1/2)
    xs = torch.nn.functional.normalize(x, dim=1) * math.sqrt(3)
    shallow = network_limit(ntklab.ScaledShallowNet(3, 16, seed=0, dtype=torch.float64), xs)
    nt1 = infinite_kernel(xs, depth=1, weight_var=2.0)
    assert torch.allclose(nt1.diagonal(), 8 * shallow.diagonal(), atol=1e-14, rtol=1e-14)


def test_bad_arguments():
    x = _inputs(n=3)
    with pytest.raises(ConfigError, match="net"):
        network_limit(torch.nn.Linear(3, 1), x)
    net = ntklab.MLP(3, [8], 2, seed=0)
    with pytest.raises(ConfigError, match="x1"):
        network_limit(net, torch.randn(3, 4))
    with pytest.raises(ConfigError, match="output"):
        network_limit(net, x, output=2)
    with pytest.raises(ConfigError, match="kind"):
        network_limit(net, x, kind="cntk")
