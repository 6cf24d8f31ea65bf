"""The duals' stated accuracy where the truncated series used to fail: large pre-activation variances (16, 30, 60)
and |rho| = 1 for x1 != x2, against quadrature written here.

Reference: nested adaptive Gauss–Kronrod (scipy ``quad``) of E[f(u) g(v)] = E_z[f(sqrt(v1) z) E_xi[g(sqrt(v2)
(rho z + s xi))]], s = sqrt(1 - rho^2), with breakpoints where either argument crosses 0 (z = 0 outside, xi = -rho z / s
inside) and both requested to epsrel 1e-14; at rho = +-1 the inner expectation is the point value g(+-sqrt(v2) z).
An independent method (adaptive, scalar, math-library functions) from the composite Gauss–Legendre rules and Mehler
series under test.  Measured while writing these tests, it agrees with the library to <= 4e-14 relative to the
Cauchy–Schwarz scale sqrt(E[f(u)^2] E[g(v)^2]) everywhere below; the assertions allow the library's stated 1e-13
plus 5e-14 for the reference's own error (its requested 1e-14 relative, on integrals of size <= the scale, and the
outer rule's integration of an inner result that is itself accurate to 1e-14).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from scipy import integrate

from ntklab import ConfigError
from ntklab.kernels import DUAL_TOLERANCE, KernelAccuracyError, abrelu, dual_activation, infinite_kernel, leaky_relu

REFERENCE_SLACK = 5e-14
_L = 12.0  # P(|z| > 12) = 3.6e-33


def _phi(z):
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _cdf(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _quad(h, pieces):
    with warnings.catch_warnings():  # scipy's roundoff notices at epsrel 1e-14 are not errors here
        warnings.simplefilter("ignore")
        return sum(integrate.quad(h, a, b, epsabs=1e-16, epsrel=1e-14, limit=400)[0] for a, b in pieces if b > a)


def nested(f, g, v1, v2, rho):
    s = math.sqrt(max(1 - rho * rho, 0.0))
    r1, r2 = math.sqrt(v1), math.sqrt(v2)

    def inner(z):
        if s == 0:
            return g(r2 * rho * z)
        kink = min(max(-rho * z / s, -_L), _L)
        return _quad(lambda xi: _phi(xi) * g(r2 * (rho * z + s * xi)), ((-_L, kink), (kink, _L)))

    return _quad(lambda z: _phi(z) * f(r1 * z) * inner(z), ((-_L, 0.0), (0.0, _L)))


def moment(f, v):
    return _quad(lambda z: _phi(z) * f(math.sqrt(v) * z) ** 2, ((-_L, 0.0), (0.0, _L)))


def _tanh(z):
    return math.tanh(z)


def _dtanh(z):
    return 1 - math.tanh(z) ** 2


def _gelu(z):
    return z * _cdf(z)


def _dgelu(z):
    return _cdf(z) + z * _phi(z)


def _check(name, f, df, v1, v2, rho):
    got = float(dual_activation(name, rho, v1, v2))
    dgot = float(dual_activation(name, rho, v1, v2, derivative=True))
    scale = math.sqrt(moment(f, v1) * moment(f, v2))
    dscale = math.sqrt(moment(df, v1) * moment(df, v2))
    assert abs(got - nested(f, f, v1, v2, rho)) <= (DUAL_TOLERANCE + REFERENCE_SLACK) * scale
    assert abs(dgot - nested(df, df, v1, v2, rho)) <= (DUAL_TOLERANCE + REFERENCE_SLACK) * dscale


@pytest.mark.parametrize("v1,v2", [(4.0, 4.0), (16.0, 16.0), (30.0, 30.0), (60.0, 60.0), (30.0, 60.0)])
@pytest.mark.parametrize("rho", [1.0, -1.0])
def test_tanh_and_gelu_at_rho_one_and_large_variance(v1, v2, rho):
    # the issue's table: tanh's sigma' dual at rho = 1 was 1.7e-11 .. 9.8e-3 off at variances 4 .. 60
    _check("tanh", _tanh, _dtanh, v1, v2, rho)
    _check("gelu", _gelu, _dgelu, v1, v2, rho)


@pytest.mark.parametrize("v1,v2,rho", [(16.0, 16.0, 0.999), (60.0, 60.0, 0.9999), (30.0, 60.0, -0.99),
                                       (60.0, 60.0, 0.9)])
def test_tanh_near_rho_one_where_the_series_alone_cannot_reach(v1, v2, rho):
    # these correlations need more than degree 2048 (or sit at its edge): the bivariate quadrature takes over
    _check("tanh", _tanh, _dtanh, v1, v2, rho)


@pytest.mark.parametrize("v1,v2,rho", [(60.0, 60.0, 0.7), (16.0, 30.0, -0.999)])
def test_gelu_closed_form_against_quadrature(v1, v2, rho):
    _check("gelu", _gelu, _dgelu, v1, v2, rho)


def test_gelu_derivative_dual_is_the_c_derivative_of_its_dual():
    # Price's theorem: d/dc E[sigma(u) sigma(v)] = E[sigma'(u) sigma'(v)]; central differences of step 1e-4 err by
    # O(h^2 * third derivative) ~ 1e-9 here, far below any wrong term (the derivative is O(1))
    v1, v2, h = torch.tensor(3.0, dtype=torch.float64), torch.tensor(20.0, dtype=torch.float64), 1e-4
    s = torch.sqrt(v1 * v2)
    for c in (-7.0, 0.5, 6.5):
        up = dual_activation("gelu", (c + h) / s, v1, v2)
        down = dual_activation("gelu", (c - h) / s, v1, v2)
        deriv = dual_activation("gelu", c / s, v1, v2, derivative=True)
        assert float((up - down) / (2 * h)) == pytest.approx(float(deriv), abs=1e-8)


def _leaky(slope):
    return lambda z: torch.nn.functional.leaky_relu(z, slope)


@pytest.mark.parametrize("rho", [1.0, -1.0, 0.999, -0.98, 0.3])
def test_kinked_callable_matches_the_closed_form(rho):
    # a leaky relu passed as a torch callable (autograd derivative) was 7e-3 off at rho = +-1; its kink at 0 now falls
    # on panel boundaries of every rule, so the quadrature path meets 1e-13 against the closed form abrelu(0.1, 1)
    for v1, v2 in ((1.0, 1.0), (0.5, 3.0)):
        for deriv in (False, True):
            got = float(dual_activation(_leaky(0.1), rho, v1, v2, derivative=deriv))
            ref = float(dual_activation(leaky_relu(0.1), rho, v1, v2, derivative=deriv))
            scale = 0.505 if deriv else 0.505 * math.sqrt(v1 * v2)  # sqrt(E[s^2] E[s^2]) with E = (a^2 + b^2)/2 (v)
            assert abs(got - ref) <= DUAL_TOLERANCE * scale


def _abrelu_inner(a, b):
    """E[a min(v, 0) + b max(v, 0)] and E[sigma'(v)] for v ~ N(m, r^2), in closed form."""

    def value(m, r):
        relu = max(m, 0.0) if r == 0 else m * _cdf(m / r) + r * _phi(m / r)
        return a * m + (b - a) * relu

    def slope(m, r):
        step = float(m > 0) if r == 0 else _cdf(m / r)
        return a + (b - a) * step

    return value, slope


@pytest.mark.parametrize("a,b", [(0.1, 1.0), (-0.4, 1.3), (-1.0, 1.0), (0.0, 2.0)])
@pytest.mark.parametrize("v1,v2,rho", [(1.0, 1.0, 1.0), (2.0, 0.5, -1.0), (1.3, 0.7, 0.6), (5.0, 60.0, -0.3)])
def test_abrelu_closed_form_against_conditional_integrals(a, b, v1, v2, rho):
    # inner Gaussian expectation in closed form (v | u is Gaussian), outer by adaptive quadrature split at the kink
    value, slope = _abrelu_inner(a, b)
    r = math.sqrt(v2 * (1 - rho * rho))

    def outer(inner, f):
        h = lambda z: _phi(z) * f(math.sqrt(v1) * z) * inner(rho * math.sqrt(v2) * z, r)  # noqa: E731
        return _quad(h, ((-_L, 0.0), (0.0, _L)))

    act = abrelu(a, b)
    sig = lambda u: a * min(u, 0.0) + b * max(u, 0.0)  # noqa: E731
    dsig = lambda u: a if u < 0 else b  # noqa: E731
    assert float(dual_activation(act, rho, v1, v2)) == pytest.approx(outer(value, sig), abs=1e-12)
    assert float(dual_activation(act, rho, v1, v2, derivative=True)) == pytest.approx(outer(slope, dsig), abs=1e-12)
    # ... and leaky_relu(s) is abrelu(s, 1) by name too
    if b == 1.0:
        assert float(dual_activation(f"leaky_relu({a})", rho, v1, v2)) == float(dual_activation(act, rho, v1, v2))


def test_parameterised_names_and_bad_specs():
    assert dual_activation("abrelu(-0.5, 2)", 1.0, 2.0, 2.0).item() == pytest.approx((0.25 + 4) / 2 * 2.0, abs=1e-14)
    assert dual_activation("leaky_relu", 1.0).item() == pytest.approx((1 + 1e-4) / 2, abs=1e-15)  # torch's 0.01
    with pytest.raises(ConfigError, match="leaky_relu\\(slope\\)"):
        dual_activation("leaky_relu(a)", 0.5)


def test_duplicated_and_antipodal_points_in_x2_are_exact():
    # x2 holds copies and negatives of x1's rows: rho = +-1 off the pinned diagonal.  Each (i, i) entry must equal the
    # x2 = None kernel's (whose diagonal is pinned to the exact moments), at input std 8 (variances ~ 100)
    g = torch.Generator().manual_seed(3)
    x = 8.0 * torch.randn(5, 4, generator=g, dtype=torch.float64)
    for act in ("tanh", "gelu", _leaky(0.1), "leaky_relu(0.1)"):
        sym = infinite_kernel(x, depth=2, activation=act, kind="ntk", weight_var=1.5, bias_var=0.1)
        dup = infinite_kernel(x, x, depth=2, activation=act, kind="ntk", weight_var=1.5, bias_var=0.1)
        anti = infinite_kernel(x, -x, depth=2, activation=act, kind="ntk", weight_var=1.5, bias_var=0.1)
        anti_ref = infinite_kernel(torch.cat([x, -x]), depth=2, activation=act, kind="ntk", weight_var=1.5,
                                   bias_var=0.1)[:5, 5:]
        # per layer and dual <= 1e-13 of Theta's scale (~ 10^2 here), through two layers: 1e-10 absolute
        assert torch.allclose(dup, sym, atol=1e-10, rtol=0)
        assert torch.allclose(anti, anti_ref, atol=1e-10, rtol=0)


def test_an_activation_whose_accuracy_cannot_be_certified_raises():
    # hardtanh has kinks at +-1, off every panel boundary: the rules converge like h^2 and cannot reach 3e-14
    with pytest.raises(KernelAccuracyError, match=r"'hardtanh'.*variance.*reaches only .* relative accuracy") as err:
        dual_activation(torch.nn.functional.hardtanh, 0.5)
    assert err.value.reached > 1e-13 and err.value.variances == (1.0,)
    assert isinstance(err.value, ConfigError) and err.value.field == "activation"
