"""Dual activations, Hermite coefficients and normalisation against independent computations.

References: closed forms (relu, abs) against a 1-d scipy integral of a Gaussian conditional expectation (the inner
integral in closed form, the outer by adaptive quadrature with the kink as a breakpoint); smooth activations against
a 2-d tensor-product Gauss–Hermite rule of 400^2 nodes (exact to ~1e-14 for analytic integrands at these variances).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.special import roots_hermitenorm
from scipy.stats import norm

import ntklab
from ntklab import ConfigError
from ntklab.kernels import (as_dual_activation, dual_activation, hermite_coefficients, nonlinearity_degree,
                            normalize)
from ntklab.nets import get_activation

CASES = [(1.0, 1.0, 0.3), (0.5, 2.0, -0.7), (2.0, 0.7, 0.95), (1.3, 1.3, 0.9999), (1.0, 3.0, 0.0)]


def _product_rule(f, g, v1, v2, rho, order=400):
    t, w = roots_hermitenorm(order)
    w = w / w.sum()
    z1 = math.sqrt(v1) * t[:, None]
    z2 = math.sqrt(v2) * (rho * t[:, None] + math.sqrt(max(1 - rho * rho, 0)) * t[None, :])
    fz = f(torch.as_tensor(z1)).numpy()
    gz = g(torch.as_tensor(z2)).numpy()
    return float((fz * gz * w[:, None] * w[None, :]).sum())


def _conditional(v1, v2, rho, inner, outer_fn, breakpoints=(0.0,)):
    """E[outer_fn(u) * inner(m, r)] with u = sqrt(v1) z, v | z ~ N(m, r^2), m = rho sqrt(v2) z."""
    r = math.sqrt(v2 * (1 - rho * rho))

    def integrand(z):
        m = rho * math.sqrt(v2) * z
        return norm.pdf(z) * outer_fn(math.sqrt(v1) * z) * inner(m, r)

    return integrate.quad(integrand, -14, 14, points=list(breakpoints), epsabs=1e-13, epsrel=1e-12, limit=400)[0]


def _relu_inner(m, r):
    return max(m, 0.0) if r == 0 else m * norm.cdf(m / r) + r * norm.pdf(m / r)


def _abs_inner(m, r):
    return abs(m) if r == 0 else m * (2 * norm.cdf(m / r) - 1) + 2 * r * norm.pdf(m / r)


def _step_inner(m, r):
    return float(m > 0) if r == 0 else norm.cdf(m / r)


def _sign_inner(m, r):
    return float(np.sign(m)) if r == 0 else 2 * norm.cdf(m / r) - 1


@pytest.mark.parametrize("v1,v2,rho", CASES)
def test_arc_cosine_closed_forms_match_conditional_integrals(v1, v2, rho):
    # the inner Gaussian integral is exact, the outer adaptive quadrature is good to ~1e-12
    refs = {
        "relu": (_relu_inner, lambda u: max(u, 0.0), _step_inner, lambda u: float(u > 0)),
        "abs": (_abs_inner, abs, _sign_inner, lambda u: float(np.sign(u))),
    }
    for name, (inner, outer, dinner, douter) in refs.items():
        got = float(dual_activation(name, rho, v1, v2))
        dgot = float(dual_activation(name, rho, v1, v2, derivative=True))
        assert got == pytest.approx(_conditional(v1, v2, rho, inner, outer), abs=1e-9)
        assert dgot == pytest.approx(_conditional(v1, v2, rho, dinner, douter), abs=1e-9)


@pytest.mark.parametrize("name", ["erf", "sin", "identity", "tanh", "gelu", "softplus"])
def test_smooth_duals_match_product_gauss_hermite(name):
    fn, der = (torch.sin, torch.cos) if name == "sin" else (get_activation(name).fn, get_activation(name).derivative)
    v1, v2, rho = (torch.tensor(c, dtype=torch.float64) for c in zip(*CASES))
    ref = torch.tensor([_product_rule(fn, fn, *c) for c in CASES], dtype=torch.float64)
    dref = torch.tensor([_product_rule(der, der, *c) for c in CASES], dtype=torch.float64)
    # Mehler truncation is bounded by 1e-13 sqrt(E[sigma(u)^2] E[sigma(v)^2]); closed forms are exact; 1e-11 leaves
    # room for rounding in the 400^2-node reference
    assert torch.allclose(dual_activation(name, rho, v1, v2), ref, atol=1e-11, rtol=0)
    assert torch.allclose(dual_activation(name, rho, v1, v2, derivative=True), dref, atol=1e-11, rtol=0)


def test_callables_through_mehler_and_autograd_match_closed_forms():
    rho = torch.linspace(-1, 1, 41, dtype=torch.float64)
    for fn, name in ((lambda z: torch.erf(z), "erf"), (lambda z: torch.sin(z), "sin")):
        for v1, v2 in ((1.0, 1.0), (0.4, 2.5)):
            for deriv in (False, True):
                got = dual_activation(fn, rho, v1, v2, derivative=deriv)
                ref = dual_activation(name, rho, v1, v2, derivative=deriv)
                assert torch.allclose(got, ref, atol=1e-11, rtol=0)


def test_normalized_relu_dual_is_the_papers_formula():
    rho = torch.linspace(-1, 1, 101, dtype=torch.float64)
    kappa1 = (torch.sqrt(1 - rho ** 2) + (math.pi - torch.arccos(rho)) * rho) / (2 * math.pi)
    expected = (kappa1 - 1 / (2 * math.pi)) / (0.5 - 1 / (2 * math.pi))
    assert torch.allclose(dual_activation("normalized_relu", rho), expected, atol=1e-14)
    assert float(dual_activation("normalized_relu", 0.0)) == pytest.approx(0.0, abs=1e-15)


def test_hermite_coefficients_reproduce_the_dual():
    a = hermite_coefficients("gelu", 60)
    rho = torch.tensor([-0.8, 0.1, 0.6, 0.97], dtype=torch.float64)
    series = sum(a[k] ** 2 * rho ** k for k in range(61))
    assert torch.allclose(series, dual_activation("gelu", rho), atol=1e-12)
    # tanh is odd: even coefficients vanish; a_1 = E[tanh'(z)]
    t = hermite_coefficients("tanh", 7)
    assert torch.all(t[0::2].abs() < 1e-14)
    e_dtanh = integrate.quad(lambda z: norm.pdf(z) / math.cosh(z) ** 2, -30, 30, epsabs=1e-14, epsrel=1e-13)[0]
    assert float(t[1]) == pytest.approx(e_dtanh, abs=1e-12)



@pytest.mark.parametrize("name", ["relu", "abs", "normalized_relu"])
def test_kinked_hermite_coefficients_match_split_legendre_quadrature(name):
    # Gauss–Legendre with 400 nodes on each side of the kink, [-15, 0] and [0, 15]: the integrand is smooth on
    # each piece, so the rule is exact to rounding; against the exact (Stein) coefficients
    from numpy.polynomial.hermite_e import hermeval
    from numpy.polynomial.legendre import leggauss

    x, w = leggauss(400)
    z = np.concatenate([7.5 * (x - 1), 7.5 * (x + 1)])
    wz = np.concatenate([7.5 * w, 7.5 * w]) * norm.pdf(z)
    fz = as_dual_activation(name).fn(torch.as_tensor(math.sqrt(2.0) * z)).numpy()
    a = hermite_coefficients(name, 12, var=2.0)
    for k in range(13):
        ref = float((wz * fz * hermeval(z, [0] * k + [1])).sum()) / math.sqrt(math.factorial(k))
        assert float(a[k]) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("base", ["tanh", "gelu", "relu", "softplus", "sin"])
def test_normalize_gives_mean_zero_second_moment_one(base):
    act = normalize(base)
    f = lambda z: float(act.fn(torch.tensor(z, dtype=torch.float64)))  # noqa: E731
    mean = integrate.quad(lambda z: norm.pdf(z) * f(z), -20, 20, points=[0.0], epsabs=1e-13, epsrel=1e-13)[0]
    second = integrate.quad(lambda z: norm.pdf(z) * f(z) ** 2, -20, 20, points=[0.0], epsabs=1e-13, epsrel=1e-13)[0]
    assert mean == pytest.approx(0.0, abs=1e-9)
    assert second == pytest.approx(1.0, abs=1e-9)
    assert float(dual_activation(act, 1.0)) == pytest.approx(1.0, abs=1e-12)


def test_normalize_relu_is_the_nets_normalized_relu():
    z = torch.linspace(-3, 3, 13, dtype=torch.float64)
    assert torch.allclose(normalize("relu").fn(z), get_activation("normalized_relu").fn(z), atol=1e-14)
    assert torch.allclose(ntklab.normalize_activation("relu").fn(z), get_activation("normalized_relu").fn(z))


def test_nonlinearity_degree():
    assert nonlinearity_degree("normalized_relu") == pytest.approx(1 - math.pi / (2 * (math.pi - 1)), abs=1e-12)
    assert nonlinearity_degree("identity") == pytest.approx(0.0, abs=1e-14)
    assert nonlinearity_degree("abs") == pytest.approx(1.0, abs=1e-12)  # even: no linear part
    e_dtanh = integrate.quad(lambda z: norm.pdf(z) / math.cosh(z) ** 2, -30, 30, epsabs=1e-14, epsrel=1e-13)[0]
    e_tanh2 = integrate.quad(lambda z: norm.pdf(z) * math.tanh(z) ** 2, -30, 30, epsabs=1e-14, epsrel=1e-13)[0]
    assert nonlinearity_degree(normalize("tanh")) == pytest.approx(1 - e_dtanh ** 2 / e_tanh2, abs=1e-10)


def test_every_name_and_nets_activation_resolves():
    for name in ntklab.kernels.ACTIVATION_NAMES:
        assert as_dual_activation(name).name == name
        from_nets = name not in ("abs", "sin", "leaky_relu")  # names the kernels know but ntklab.nets does not
        assert as_dual_activation(get_activation(name) if from_nets else name).name == name


@pytest.mark.parametrize("bad,match", [
    (lambda z: torch.exp(z * z), "infinite or does not converge"),
    (lambda z: torch.exp(z * z / 4), "infinite or does not converge"),
    (lambda z: 1 / z, "infinite or does not converge"),
    (lambda z: z.numpy(), "failed on a float64 tensor"),
])
def test_infinite_second_moment_is_refused(bad, match):
    with pytest.raises(ConfigError, match=match):
        dual_activation(bad, 0.5)


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match="activation"):
        as_dual_activation("swish")
    with pytest.raises(ConfigError, match="rho"):
        dual_activation("relu", 1.5)
    with pytest.raises(ConfigError, match="var1"):
        dual_activation("relu", 0.5, -1.0)
    with pytest.raises(ConfigError, match="rho"):
        dual_activation("relu", float("nan"))
    with pytest.raises(ConfigError, match="constant"):
        normalize(lambda z: torch.zeros_like(z) + 3.0)


@pytest.mark.parametrize("name", ["relu", "abs", "leaky", "abrelu"])
@pytest.mark.parametrize("derivative", [False, True])
def test_closed_form_duals_write_into_the_given_buffers_with_the_same_bits(name, derivative):
    """``duals_into`` (the recursion's reused block buffers) returns those buffers, holding exactly ``duals``."""
    from ntklab.kernels import abrelu, as_dual_activation, leaky_relu

    act = {"leaky": leaky_relu(0.2), "abrelu": abrelu(-0.5, 1.5)}.get(name) or as_dual_activation(name)
    g = torch.Generator().manual_seed(5)
    v1, v2 = torch.rand(4, generator=g, dtype=torch.float64) + 0.2, torch.rand(3, generator=g, dtype=torch.float64)
    v2[0] = 0.0  # a zero variance: rho = 0 there
    c = (torch.rand(4, 3, generator=g, dtype=torch.float64) * 2 - 1) * torch.sqrt(v1[:, None] * v2[None, :])
    c[1, 1] = math.sqrt(v1[1] * v2[1])  # rho = 1
    p1, p2 = act.prepare_pair(v1, v2, derivative=derivative)
    p1, p2 = tuple(t[:, None] for t in p1), tuple(t[None, :] for t in p2)
    out = (torch.full((4, 3), math.nan, dtype=torch.float64), torch.full((4, 3), math.nan, dtype=torch.float64))
    c_before = c.clone()
    got = act.duals_into(p1, c, p2, out, derivative=derivative)
    want = act.duals(v1[:, None], c, v2[None, :], derivative=derivative)
    assert got[0].data_ptr() == out[0].data_ptr() and torch.equal(got[0], want[0])
    assert torch.equal(c, c_before)
    if derivative:
        assert got[1].data_ptr() == out[1].data_ptr() and torch.equal(got[1], want[1])
    else:
        assert got[1] is None and want[1] is None
