"""The kernel rows of docs/neural_tangents.md, each against neural-tangents' convention written out here.

CI has neither neural-tangents nor JAX, so ``_stax`` below restates what ``stax.serial(*[Dense(w, W_std, b_std,
parameterization), act] * L, Dense(1, ...)).kernel_fn`` computes (neural-tangents 0.6.5, ``stax/linear.py`` Dense and
``stax/elementwise.py`` Relu / Erf / Gelu / ABRelu): the input kernel x.x'/d with ntk = 0, then per Dense

    ntk param.:   nngp <- W_std^2 nngp + b_std^2,  ntk <- nngp (new) + W_std^2 ntk
    standard:     ntk <- input_width nngp + W_std^2 ntk (+ 1 when b_std is not None),  then nngp as above

(b_std = None is no bias: + 0), and per activation nngp <- T(nngp), ntk <- ntk Tdot(nngp), with T, Tdot written
here from their own formulas.  The recursion and the duals are independent of ntklab's engine; agreement is to
float64 rounding (1e-13 relative, a few dozen operations per entry).  The same rows were checked against
neural-tangents 0.6.5 itself (x64) while writing them: <= 5e-15 relative off the diagonal (numbers in the docs page).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call, jacrev

import ntklab
from ntklab import empirical_ntk, infinite_kernel


def _relu(q11, q12, q22):
    s = torch.sqrt(q11 * q22)
    t = torch.arccos(torch.clamp(q12 / s, -1, 1))
    return s * (torch.sin(t) + (math.pi - t) * torch.cos(t)) / (2 * math.pi), (math.pi - t) / (2 * math.pi)


def _erf(q11, q12, q22):
    prod = (1 + 2 * q11) * (1 + 2 * q22)
    return (2 / math.pi) * torch.arcsin(2 * q12 / torch.sqrt(prod)), (4 / math.pi) / torch.sqrt(prod - 4 * q12 ** 2)


def _gelu(q11, q12, q22):
    # neural-tangents' Gelu nngp_ntk_fn, transcribed: prod = q11 q22, prod_plus_1 = (q11 + 1)(q22 + 1)
    prod, prod1 = q11 * q22, (q11 + 1) * (q22 + 1)
    delta2 = prod1 - q12 ** 2
    delta = torch.sqrt(delta2)
    angles = torch.arctan2(q12, delta)
    nngp = ((q12 ** 2 + prod * delta2) / (prod1 * delta) + q12 * angles) / (2 * math.pi) + 0.25 * q12
    dot = (1 / delta2 + (1 - prod) / prod1 + 1) * q12 / delta / (2 * math.pi) + 0.25 + angles / (2 * math.pi)
    return nngp, dot


def _abrelu(a, b):
    def duals(q11, q12, q22):
        root = torch.sqrt(torch.clamp(q11 * q22 - q12 ** 2, min=0))
        angles = torch.arctan2(root, q12)
        factor = (a - b) ** 2 / (2 * math.pi)
        dot = (a ** 2 + b ** 2) / 2 - factor * angles
        return factor * root + dot * q12, dot
    return duals


def _stax(x1, x2, depth, duals, w_std, b_std, parameterization="ntk", width=1):
    """(nngp, ntk) of [Dense(width, w_std, b_std, parameterization), act] * depth + Dense(1, ...), as stax has it."""
    x2 = x1 if x2 is None else x2
    d = x1.shape[1]
    k11, k12, k22 = (x1 * x1).sum(1) / d, x1 @ x2.T / d, (x2 * x2).sum(1) / d
    ntk = torch.zeros_like(k12)
    bv = 0.0 if b_std is None else b_std ** 2
    fan_in = d
    for layer in range(depth + 1):
        if parameterization == "standard":
            ntk = fan_in * k12 + w_std ** 2 * ntk + (0.0 if b_std is None else 1.0)
        k11, k12, k22 = (w_std ** 2 * k + bv for k in (k11, k12, k22))
        if parameterization == "ntk":
            ntk = k12 + w_std ** 2 * ntk
        if layer == depth:
            return k12, ntk
        q11, q22 = k11[:, None], k22[None, :]
        nngp, dot = duals(q11, k12, q22)
        ntk = ntk * dot
        k11 = duals(k11, k11, k11)[0]
        k22 = duals(k22, k22, k22)[0]
        k12 = nngp
        fan_in = width


def _inputs(n=7, d=4, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, d, generator=g, dtype=torch.float64)


def _close(a, b, rtol=1e-13):
    return float((a - b).abs().max()) <= rtol * float(b.abs().max())


@pytest.mark.parametrize("depth", [1, 2, 5])
@pytest.mark.parametrize("name,duals,w_std,b_std", [("relu", _relu, math.sqrt(2), 0.1), ("erf", _erf, 1.3, None),
                                                    ("gelu", _gelu, math.sqrt(1.5), 0.5),
                                                    ("abrelu(-0.4, 1.3)", _abrelu(-0.4, 1.3), 1.1, 0.2),
                                                    ("leaky_relu(0.1)", _abrelu(0.1, 1.0), math.sqrt(2), 0.3)])
def test_depth_is_the_number_of_dense_act_pairs(depth, name, duals, w_std, b_std):
    # row "depth": infinite_kernel(depth=L) is stax.serial(*[Dense, act] * L, Dense); inputs of std 8 (variances
    # ~ 100, where the old gelu series was 5.6e-4 off at L = 2) and a second set that is not the first (off-diagonal
    # blocks only: the stax diagonal is itself ~1e-9 off at rho = 1, see the docs page)
    x1, x2 = _inputs(scale=8.0), _inputs(n=5, seed=1, scale=8.0)
    nngp, ntk = infinite_kernel(x1, x2, depth=depth, activation=name, kind="both", weight_var=w_std ** 2,
                                bias_var=0.0 if b_std is None else b_std ** 2)
    ref_nngp, ref_ntk = _stax(x1, x2, depth, duals, w_std, b_std)
    assert _close(nngp, ref_nngp) and _close(ntk, ref_ntk)


def test_standard_parameterisation_is_b_std_zero_not_none():
    # row "standard": ntklab's +1 per layer is the gradient of a trained, zero-initialised bias: b_std = 0.0.
    # neural-tangents' default b_std = None (no bias at all) drops it, which here moves the NTK by > 5 %
    x1, x2 = _inputs(n=8, d=5, seed=2), _inputs(n=6, d=5, seed=12)
    kw = dict(depth=2, activation="relu", weight_var=2.0, parameterization="standard", hidden_width=7)
    ours = infinite_kernel(x1, x2, bias_var=0.0, **kw)
    assert _close(ours, _stax(x1, x2, 2, _relu, math.sqrt(2), 0.0, "standard", 7)[1])
    none = _stax(x1, x2, 2, _relu, math.sqrt(2), None, "standard", 7)[1]
    assert float((ours - none).abs().max() / none.abs().max()) > 0.05
    with_bias = infinite_kernel(x1, x2, bias_var=0.09, **kw)
    assert _close(with_bias, _stax(x1, x2, 2, _relu, math.sqrt(2), 0.3, "standard", 7)[1])
    # on the diagonal (x2 = None) ntklab pins rho = 1 exactly; the transcribed arccos(c / sqrt(v v)) is ~1e-9 off
    diag = infinite_kernel(x1, bias_var=0.0, **kw).diagonal()
    assert _close(diag, _stax(x1, None, 2, _relu, math.sqrt(2), 0.0, "standard", 7)[1].diagonal(), rtol=1e-8)


@pytest.mark.parametrize("width", [1, 7, 512])
def test_hidden_width_is_the_declared_dense_width(width):
    # row "hidden_width": in the standard parameterisation stax's NTK grows with the declared Dense(width);
    # hidden_width is that width (the input layer's fan-in is d)
    x = _inputs(n=6, d=3, seed=3)
    ours = infinite_kernel(x, depth=3, activation="erf", weight_var=1.7, bias_var=0.2, parameterization="standard",
                           hidden_width=width)
    assert _close(ours, _stax(x, None, 3, _erf, math.sqrt(1.7), math.sqrt(0.2), "standard", width)[1])


def test_output_layouts_are_trace_axes():
    # row "output layout": output=None is trace_axes=() (the full (n, n, K, K) Jacobian contraction, computed here by
    # jacrev), output="mean" is neural-tangents' default trace_axes=(-1,), the output axis contracted and divided by K
    x = _inputs(n=5, d=3, seed=4)
    net = ntklab.MLP(3, [16, 16], 3, parameterization="ntk", bias=True, seed=0, dtype=torch.float64)
    params = {k: v.detach() for k, v in net.named_parameters() if v.requires_grad}
    jac = jacrev(lambda p: functional_call(net, p, (x,)))(params)
    j = torch.cat([t.reshape(5, 3, -1) for t in jac.values()], -1)  # (n, K, P)
    full = torch.einsum("akp,blp->abkl", j, j)
    assert torch.allclose(empirical_ntk(net, x, output=None), full, atol=1e-13, rtol=0)
    mean = torch.einsum("akp,bkp->ab", j, j) / 3
    assert torch.allclose(empirical_ntk(net, x, output="mean"), mean, atol=1e-13, rtol=0)
    # the limit has the same layouts: Theta (x) I_K, so its "mean" is the per-output kernel
    lim = ntklab.kernels.network_limit(net, x, output=None)
    assert torch.equal(lim[:, :, 1, 1], ntklab.kernels.network_limit(net, x, output="mean"))
