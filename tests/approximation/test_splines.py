"""Spline baselines against closed forms and scipy."""

import math

import numpy as np
import pytest
import torch
from scipy.interpolate import make_lsq_spline

from ntklab import ConfigError
from ntklab.approximation import (gauss_legendre, interpolant_error, loglog_fit, make_target, projection_error,
                                  spline_errors, uniform_knots)


@pytest.mark.parametrize("m", [2, 8, 33])
def test_interpolation_error_of_x_squared(m):
    """||x^2 - I_m x^2||_2 = h^2 / sqrt(15): the error on each interval is (x - a)(b - x), int = h^5 / 30."""
    h = 2 / (m - 1)
    exact = h * h / math.sqrt(15)
    f = lambda x: x * x  # noqa: E731
    aligned = gauss_legendre(20 * (m - 1), breaks=uniform_knots(m)[1:-1])  # polynomial on every panel: exact
    assert interpolant_error(f, m, aligned) == pytest.approx(exact, rel=1e-12)
    # on the unaligned 2000-node rule the m kinks cost a relative error ~ (m/n)^4 (measured: 2e-8 at m = 33)
    assert interpolant_error(f, m, gauss_legendre(2000)) == pytest.approx(exact, rel=1e-6)


def test_projection_matches_scipy_weighted_least_squares():
    f = make_target("cusp", beta=0.5)
    q = gauss_legendre(2000, breaks=f.singularities)
    for m in (5, 16, 40):
        tau = uniform_knots(m)
        spl = make_lsq_spline(q.x.numpy(), f(q.x).numpy(), np.r_[-1.0, tau, 1.0], k=1, w=np.sqrt(q.w.numpy()))
        e = f(q.x).numpy() - spl(q.x.numpy())
        assert projection_error(f, m, q) == pytest.approx(float(np.sqrt(np.sum(q.w.numpy() * e * e))), rel=1e-9)


def test_projection_is_best_and_reproduces_splines():
    q = gauss_legendre(2000)
    for name in ("gaussian", "cusp", "jump"):
        f = make_target(name)
        for m in (8, 64):
            assert projection_error(f, m, q) <= interpolant_error(f, m, q) + 1e-15
    tau = uniform_knots(9)
    vals = torch.from_numpy(np.sin(3 * tau))
    g = lambda x: torch.from_numpy(np.interp(x.numpy(), tau, vals.numpy()))  # noqa: E731  (in the space)
    assert interpolant_error(g, 9, q) < 1e-14
    assert projection_error(g, 9, q) < 1e-12


@pytest.mark.parametrize("name,lo,hi", [("gaussian", -2.1, -1.95), ("cusp", -1.05, -0.98), ("jump", -0.7, -0.3)])
def test_spline_rates(name, lo, hi):
    """Smooth: m^-2; |x|^{1/2}: m^{-(beta+1/2)} = m^-1; jump: about m^{-1/2} (noisy: x0 against the grid)."""
    f = make_target(name)
    q = gauss_legendre(2000, breaks=f.singularities)
    df = spline_errors(f, [16, 32, 64, 128, 256], q)
    for method in ("interpolant", "projection"):
        slope = loglog_fit(df[df.method == method], y="error").slope.iloc[0]
        assert lo <= slope <= hi, (method, slope)


def test_bad_knots():
    with pytest.raises(ConfigError):
        uniform_knots(1)
    with pytest.raises(ConfigError):
        interpolant_error(make_target("gaussian"), 8, __import__("ntklab").approximation.sphere_monte_carlo(10, 3,
                                                                                                              seed=0))
