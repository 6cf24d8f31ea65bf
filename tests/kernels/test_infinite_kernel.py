"""``infinite_kernel`` against closed forms at depth 1, the core's shallow mean kernel, Monte Carlo of random
finite networks (error ~ width^-1/2) and the generic empirical NTK of a wide network.  Its neural-tangents conventions
are in test_neural_tangents_conventions.py, the duals' accuracy in test_dual_accuracy.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ntklab import ConfigError, empirical_ntk, infinite_kernel, shallow_mean_ntk
from ntklab.kernels import normalize, random_network_nngp


def _inputs(n=7, d=4, seed=0, top=2.5):
    """Inputs off the sphere: |x| / sqrt(d) from 0.3 to ``top`` (stax divides x.x' by d)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True) * torch.linspace(0.3, top, n, dtype=torch.float64)[:, None] * math.sqrt(d)


class NTKMLP(torch.nn.Module):
    """h^1 = s_w x W / sqrt(d) + s_b b, h^{l+1} = s_w act(h^l) W / sqrt(n) + s_b b; N(0, 1) parameters.

    ``standard=True``: W ~ N(0, s_w^2 / fan_in), b ~ N(0, s_b^2) stored as raw parameters (no multipliers).
    """

    def __init__(self, d, width, depth, act, wv, bv, *, seed, standard=False):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        dims = [d] + [width] * depth + [1]
        self.act, self.standard = act, standard
        self.sw, self.sb = math.sqrt(wv), math.sqrt(bv)
        self.ws, self.bs = torch.nn.ParameterList(), torch.nn.ParameterList()
        for fan_in, fan_out in zip(dims[:-1], dims[1:]):
            w = torch.randn(fan_in, fan_out, generator=g, dtype=torch.float64)
            b = torch.randn(fan_out, generator=g, dtype=torch.float64)
            if standard:
                w, b = w * self.sw / math.sqrt(fan_in), b * self.sb
            self.ws.append(torch.nn.Parameter(w))
            self.bs.append(torch.nn.Parameter(b))

    def forward(self, x):
        h = x
        for i, (w, b) in enumerate(zip(self.ws, self.bs)):
            if i > 0:
                h = self.act(h)
            h = h @ w + b if self.standard else self.sw * (h @ w) / math.sqrt(w.shape[0]) + self.sb * b
        return h


# --- depth 1: closed forms ------------------------------------------------------------------------------------

def test_depth_one_relu_matches_the_arc_cosine_formula():
    x = _inputs()
    wv, bv, d = 1.7, 0.3, x.shape[1]
    q = wv * (x @ x.T) / d + bv
    qd = torch.diagonal(q)
    s = torch.sqrt(qd[:, None] * qd[None, :])
    t = torch.arccos(torch.clamp(q / s, -1, 1))
    k1 = s * (torch.sin(t) + (math.pi - t) * torch.cos(t)) / (2 * math.pi)
    k0 = (math.pi - t) / (2 * math.pi)
    nngp, ntk = infinite_kernel(x, depth=1, activation="relu", kind="both", weight_var=wv, bias_var=bv)
    assert torch.allclose(nngp, wv * k1 + bv, atol=1e-12, rtol=0)
    assert torch.allclose(ntk, wv * k0 * q + wv * k1 + bv, atol=1e-12, rtol=0)
    # standard parameterisation with stax's declared widths: Theta = fan_in Sigma^l + 1 + weight_var Sdot Theta
    std = infinite_kernel(x, depth=1, activation="relu", weight_var=wv, bias_var=bv, parameterization="standard",
                          hidden_width=5)
    assert torch.allclose(std, wv * k0 * (x @ x.T + 1) + 5 * k1 + 1, atol=1e-12, rtol=0)


def test_depth_one_erf_matches_the_arcsine_formula():
    x = _inputs(seed=3)
    wv, bv, d = 0.8, 0.5, x.shape[1]
    q = wv * (x @ x.T) / d + bv
    qd = torch.diagonal(q)
    prod = (1 + 2 * qd[:, None]) * (1 + 2 * qd[None, :])
    k1 = (2 / math.pi) * torch.arcsin(2 * q / torch.sqrt(prod))
    k0 = (4 / math.pi) / torch.sqrt(prod - 4 * q * q)
    ntk = infinite_kernel(x, depth=1, activation="erf", weight_var=wv, bias_var=bv)
    assert torch.allclose(ntk, wv * k0 * q + wv * k1 + bv, atol=1e-12, rtol=0)


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
def test_depth_one_matches_the_cores_shallow_mean_kernel(activation):
    # bookkeeping, not the duals: with weight_var = bias_var = 1 the depth-1 NTK is the shallow net's E[Theta] over
    # (W, b, u) plus 1 from the readout bias.  Both take their expectations from dual_activation (the duals are tested
    # against quadrature in test_dual_accuracy.py), so they agree to rounding: 1e-13 on entries of size ~ 1
    x = _inputs(seed=1, top=1.0)
    ours = infinite_kernel(x, depth=1, activation=activation, weight_var=1.0, bias_var=1.0)
    core = shallow_mean_ntk(x, activation=activation, weight_var=1.0, bias_var=1.0, trainable=("W", "b", "u"))
    assert torch.allclose(ours - 1, core, atol=1e-13, rtol=0)


# --- Monte Carlo of finite random networks --------------------------------------------------------------------

def _slope(widths, errs):
    return float(np.polyfit(np.log(widths), np.log(errs), 1)[0])


@pytest.mark.parametrize("activation", ["relu", "tanh", "normalized gelu"])
def test_random_network_nngp_converges_like_one_over_sqrt_width(activation):
    act = normalize("gelu") if activation == "normalized gelu" else activation
    x = _inputs(n=10, d=6, seed=2)
    kw = dict(depth=3, activation=act, weight_var=1.4, bias_var=0.2)
    exact = infinite_kernel(x, kind="nngp", **kw)
    widths = [32, 128, 512, 2048]
    errs = [np.mean([float((random_network_nngp(x, width=w, seed=s, **kw) - exact).norm() / exact.norm())
                     for s in range(4)]) for w in widths]
    # CLT: relative error ~ C / sqrt(width) (slope -1/2); averaged over 4 seeds the fitted slope lies well inside
    # [-0.75, -0.3], while a wrong limit (an O(1) bias) would flatten it towards 0
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert -0.75 <= _slope(widths, errs) <= -0.3, errs


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_empirical_ntk_converges_like_one_over_sqrt_width(activation):
    x = _inputs(n=5, d=3, seed=4)
    act = torch.relu if activation == "relu" else torch.erf
    exact = infinite_kernel(x, depth=2, activation=activation, weight_var=1.5, bias_var=0.4)
    widths = [32, 128, 512]
    errs = []
    for w in widths:
        e = [float((empirical_ntk(NTKMLP(3, w, 2, act, 1.5, 0.4, seed=s), x) - exact).norm() / exact.norm())
             for s in range(4)]
        errs.append(np.mean(e))
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert -0.8 <= _slope(widths, errs) <= -0.3, errs


def test_wide_empirical_ntk_matches_the_infinite_ntk():
    # width 4096, two hidden layers, the generic torch.func path; fluctuations ~ 1/sqrt(4096) ~ 1.6%, so the
    # relative Frobenius error lies near 0.01-0.03; 0.06 still rejects a missing bias or readout term (> 10%)
    x = _inputs(n=4, d=3, seed=5)
    net = NTKMLP(3, 4096, 2, torch.tanh, 1.0, 0.5, seed=0).float()
    emp = empirical_ntk(net, x.float(), method="generic", chunk_size=2).double()
    exact = infinite_kernel(x, depth=2, activation="tanh", weight_var=1.0, bias_var=0.5)
    assert float((emp - exact).norm() / exact.norm()) < 0.06


def test_standard_parameterisation_matches_a_wide_standard_network():
    # hidden_width = the network's width; the NTK then grows like the width (fan_in Sigma terms)
    x = _inputs(n=4, d=3, seed=6)
    width = 1024
    net = NTKMLP(3, width, 2, torch.relu, 2.0, 0.1, seed=1, standard=True)
    emp = empirical_ntk(net, x, method="generic")
    exact = infinite_kernel(x, depth=2, activation="relu", weight_var=2.0, bias_var=0.1, parameterization="standard",
                            hidden_width=width)
    assert float((emp - exact).norm() / exact.norm()) < 0.1  # fluctuations ~ 1/sqrt(1024) ~ 3%


# --- structure, edge cases and errors --------------------------------------------------------------------------

def test_blocks_symmetry_and_all_depths_agree():
    x, y = _inputs(n=9, seed=7, top=1.2), _inputs(n=5, seed=8, top=1.2)
    act = normalize("tanh")
    full = infinite_kernel(x, depth=4, activation=act, weight_var=1.2, bias_var=0.1)
    assert torch.allclose(full, full.T, atol=0, rtol=0)
    assert torch.allclose(infinite_kernel(x, depth=4, activation=act, weight_var=1.2, bias_var=0.1, block_size=4),
                          full, atol=1e-13, rtol=0)
    both = infinite_kernel(x, x, depth=4, activation=act, weight_var=1.2, bias_var=0.1, block_size=5)
    # x2 given: the diagonal is not pinned, so it carries the Mehler truncation (<= 1e-13 E[sigma^2] per layer, times
    # Theta ~ 10 over 4 layers)
    assert torch.allclose(both, full, atol=1e-10, rtol=0)
    cross = infinite_kernel(x, y, depth=4, activation=act, weight_var=1.2, bias_var=0.1)
    joint = infinite_kernel(torch.cat([x, y]), depth=4, activation=act, weight_var=1.2, bias_var=0.1)
    assert torch.allclose(cross, joint[:9, 9:], atol=1e-12, rtol=0)
    alls = infinite_kernel(x, depth=4, activation="relu", kind="nngp", all_depths=True, weight_var=2.0)
    for depth in (1, 3, 4):
        one = infinite_kernel(x, depth=depth, activation="relu", kind="nngp", weight_var=2.0)
        assert torch.allclose(alls[depth - 1], one, atol=1e-13, rtol=0)


class _FreshDuals:
    """An activation whose duals are fresh tensors (the base class's ``duals_into``): the recursion before it reused
    block buffers."""

    def __init__(self, act):
        self.act = act

    def __getattr__(self, name):
        return getattr(self.act, name)

    def duals_into(self, p1, c, p2, out, *, derivative=False):
        return self.act.duals_prepared(p1, c, p2, derivative=derivative)


def _plain_recursion(act, x, x2, layers, top):
    """The recursion on whole matrices with fresh tensors, written from the formulas: per depth (NNGP, NTK)."""
    y = x if x2 is None else x2
    d = x.shape[1]
    c, v1, v2 = x @ y.T / d, (x * x).sum(1) / d, (y * y).sum(1) / d
    theta, out = None, []
    for layer in layers:
        q1, q2 = layer.A * v1 + layer.B, layer.A * v2 + layer.B
        sigma, sdot = act.duals(q1[:, None], layer.A * c + layer.B, q2[None, :], derivative=True)
        if x2 is None:  # the diagonal is the variance path
            sigma.diagonal().copy_(act.second_moment(q1))
            sdot.diagonal().copy_(act.derivative_second_moment(q1))
        theta = (layer.G * c + layer.E if theta is None else layer.P * theta + layer.G * c + layer.E) * sdot
        c, v1, v2 = sigma, act.second_moment(q1), act.second_moment(q2)
        out.append((top.A * c + top.B, top.P * theta + top.G * c + top.E))
    return out


@pytest.mark.parametrize("name", ["relu", "abs", "leaky", "normalized_relu", "erf"])
def test_reused_block_buffers_match_the_plain_recursion_and_fresh_duals(name):
    """Reused buffers (Lambda, C^0 as Theta^1, Sigma and Sigma-dot per layer parity) over ragged blocks, both input
    forms and alternating layers whose Theta is Lambda and whose is not: equal to the plain whole-matrix recursion
    to 1e-12 relative (the two differ only in rounding order: x.x'/d as one product or by blocks), and bit for bit
    to the same recursion with fresh dual tensors.  A buffer overwritten while live (one Sigma pair for both
    parities, Theta in Lambda's buffer, rho in Lambda's) changes values by O(1)."""
    from ntklab.kernels import as_dual_activation, leaky_relu
    from ntklab.kernels._recursion import Layer, deep_kernels

    act = leaky_relu(0.1) if name == "leaky" else as_dual_activation(name)
    same, other = Layer(A=1.7, B=0.1, P=1.7, G=1.7, E=0.1), Layer(A=1.7, B=0.1, P=1.7, G=0.9, E=0.05)
    hidden = [other, same, other, same, other]
    x, y = _inputs(n=9, seed=3, top=1.5), _inputs(n=6, seed=4, top=1.5)
    for x2 in (None, y):
        for first in (same, other):
            layers = [first, *hidden[1:]]
            kw = dict(ntk=True, nngp=True, all_depths=True, block_size=4)
            reused = deep_kernels(act, x, x2, layers, same, **kw)
            fresh = deep_kernels(_FreshDuals(act), x, x2, layers, same, **kw)
            for a, b in zip(reused, fresh):
                assert torch.equal(a, b)
            for depth, pair in enumerate(_plain_recursion(act, x, x2, layers, same)):
                for got, want in zip((reused[0][depth], reused[1][depth]), pair):
                    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12 * float(want.abs().max()))


def test_a_dual_that_hands_back_its_input_does_not_alias_the_reused_buffers():
    """sigma(z) = z whose duals return c itself (not a copy): the recursion must not let the next layer's Lambda
    overwrite that Sigma while it is still read (Theta's G C^{l-1} term)."""
    from ntklab.kernels import as_dual_activation
    from ntklab.kernels._recursion import Layer, deep_kernels

    identity = as_dual_activation("identity")

    class Returning(type(identity)):
        def duals(self, v1, c, v2, *, derivative=False):
            return c, (torch.ones_like(c) if derivative else None)

    same, other = Layer(A=1.7, B=0.1, P=1.7, G=1.7, E=0.1), Layer(A=1.3, B=0.2, P=1.3, G=0.9, E=0.05)
    x, y = _inputs(n=9, seed=5, top=1.5), _inputs(n=6, seed=6, top=1.5)
    for x2 in (None, y):
        kw = dict(ntk=True, nngp=True, all_depths=True, block_size=4)
        want = deep_kernels(identity, x, x2, [other, same, other, other], same, **kw)
        got = deep_kernels(Returning(), x, x2, [other, same, other, other], same, **kw)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_normalised_activation_on_the_sphere_keeps_unit_diagonal_and_psd():
    x = torch.nn.functional.normalize(torch.randn(30, 10, dtype=torch.float64), dim=1) * math.sqrt(10)
    for act in ("normalized_relu", normalize("gelu")):
        k = infinite_kernel(x, depth=20, activation=act, kind="nngp", all_depths=True)
        assert torch.allclose(torch.diagonal(k, dim1=1, dim2=2), torch.ones(20, 30, dtype=torch.float64), atol=1e-12)
        assert float(torch.linalg.eigvalsh(k[-1])[0]) > 0
    zero = infinite_kernel(torch.zeros(2, 3), depth=3, activation="relu", weight_var=2.0, bias_var=0.0)
    assert torch.all(zero == 0)


@pytest.mark.parametrize("kwargs,field", [
    (dict(depth=0), "depth"), (dict(depth=2.0), "depth"), (dict(depth=2, weight_var=-1.0), "weight_var"),
    (dict(depth=2, bias_var=float("nan")), "bias_var"), (dict(depth=2, kind="cntk"), "kind"),
    (dict(depth=2, parameterization="mup"), "parameterization"), (dict(depth=2, activation="swish"), "activation"),
    (dict(depth=2, activation=lambda z: torch.exp(z * z)), "activation"),
])
def test_bad_arguments_raise_config_errors(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        infinite_kernel(torch.ones(3, 2), **kwargs)


def test_bad_inputs_raise_config_errors():
    x = torch.ones(3, 2)
    with pytest.raises(ConfigError, match="x1"):
        infinite_kernel(torch.tensor([[1.0, float("nan")]]), depth=1)
    with pytest.raises(ConfigError, match="x2"):
        infinite_kernel(x, torch.tensor([[float("inf"), 0.0]]), depth=1)
    with pytest.raises(ConfigError, match="x2"):
        infinite_kernel(x, torch.ones(2, 5), depth=1)
    with pytest.raises(ConfigError, match="x1"):
        infinite_kernel(torch.ones(3), depth=1)
    # exp(u^2/4) has a finite second moment at small variance only: refused once the variance path reaches 1
    with pytest.raises(ConfigError, match="infinite or does not converge"):
        infinite_kernel(x * 3, depth=2, activation=lambda z: torch.exp(z * z / 4) * 0.1, weight_var=1.0)
