"""Zonal spectra on S^{d-1} against adaptive quadrature, exact polynomial expansions, and sampled harmonics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from ntklab._errors import ConfigError
from ntklab.data import sphere_points
from ntklab.kernels import gegenbauer, harmonic_dimension, harmonic_masses, on_cosines, zonal_spectrum


def test_harmonic_dimension_counts_the_harmonics():
    assert [harmonic_dimension(3, l) for l in range(5)] == [1, 3, 5, 7, 9]  # 2l + 1 on S^2
    assert [harmonic_dimension(4, l) for l in range(4)] == [1, 4, 9, 16]  # (l + 1)^2 on S^3
    # homogeneous polynomials of degree l in d variables = harmonics of degree l, l - 2, ...
    d = 7
    for l in range(6):
        assert math.comb(l + d - 1, d - 1) == sum(harmonic_dimension(d, j) for j in range(l % 2, l + 1, 2))


def test_gegenbauer_matches_scipy():
    t = np.linspace(-1, 1, 11)
    for d in (3, 5, 20):
        p = gegenbauer(6, d, t)
        lam = (d - 2) / 2
        for l in range(7):
            ref = special.eval_gegenbauer(l, lam, t) / special.eval_gegenbauer(l, lam, 1.0)
            np.testing.assert_allclose(p[l], ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d", [3, 6, 20])
def test_degree_masses_of_a_smooth_kernel_match_adaptive_quadrature(d):
    """alpha_l = int k P_l w / int P_l^2 w, w = (1 - t^2)^{(d-3)/2}, by scipy's adaptive quad (tol 1e-12)."""
    kernel = lambda t: np.exp(2 * t) / (1.5 - t)  # noqa: E731
    s = zonal_spectrum(kernel, d=d, degree=6)
    lam = (d - 2) / 2
    w = lambda t: (1 - t * t) ** ((d - 3) / 2)  # noqa: E731
    for l in range(7):
        p = lambda t: special.eval_gegenbauer(l, lam, t) / special.eval_gegenbauer(l, lam, 1.0)  # noqa: E731
        num = integrate.quad(lambda t: kernel(t) * p(t) * w(t), -1, 1, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
        den = integrate.quad(lambda t: p(t) ** 2 * w(t), -1, 1, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
        assert s.alpha[l] == pytest.approx(num / den, rel=1e-8, abs=1e-12)
    second = integrate.quad(lambda t: kernel(t) ** 2 * w(t), -1, 1, epsrel=1e-12)[0] / \
        integrate.quad(w, -1, 1, epsrel=1e-12)[0]
    assert float(s.second_moment) == pytest.approx(second, rel=1e-9)
    assert float(s.trace) == pytest.approx(kernel(np.ones(1))[0])
    # the tail is what the explicit degrees leave of the trace and of E k^2 (both >= 0)
    assert float(s.tail_mass) == pytest.approx(kernel(np.ones(1))[0] - s.alpha.sum(), abs=1e-12)
    assert s.tail_mass >= 0 and s.tail_second_moment >= 0


def test_a_polynomial_kernel_has_its_legendre_expansion():
    s = zonal_spectrum(lambda t: t ** 3, d=3, degree=4)  # t^3 = (3/5) P_1 + (2/5) P_3 on S^2
    np.testing.assert_allclose(s.alpha, [0, 0.6, 0, 0.4, 0], atol=1e-12)
    np.testing.assert_allclose(s.eigenvalue[[1, 3]], [0.6 / 3, 0.4 / 7], rtol=1e-12)
    assert float(s.tail_mass) == pytest.approx(0.0, abs=1e-12)


def test_on_cosines_evaluates_a_dot_product_kernel_at_the_cosines():
    t = np.array([-0.5, 0.0, 0.9])
    v = on_cosines(lambda a, b: torch.exp(a @ b.T / 4.0), t, d=5, radius=2.0)
    np.testing.assert_allclose(v, np.exp(t), rtol=1e-12)


def test_harmonic_masses_recover_known_harmonic_content():
    """f(x) = x_1 x_2 (degree 2, E f^2 = 1/(d(d+2))) + 0.5 x_3 (degree 1, E = 0.25/d): the U-statistic on 3000
    points, averaged over 8 point sets.  Its standard deviation per set, measured over 12 sets, is 5% (degree 1)
    and 9% (degree 2) of the mass, so 3.2% for the mean of 8: 12% is a 4 sigma bound; a wrong N(d, l) or normalisation of P_l would
    fail it (N(6, 1) = 6, N(6, 2) = 20)."""
    d, masses = 6, []
    for seed in range(8):
        x = sphere_points(3000, d, seed=seed).to(torch.float64)
        masses.append(harmonic_masses(x, x[:, 0] * x[:, 1] + 0.5 * x[:, 2], 3)[:, 0])
    m = torch.stack(masses).mean(0)
    assert float(m[1]) == pytest.approx(0.25 / d, rel=0.12)
    assert float(m[2]) == pytest.approx(1 / (d * (d + 2)), rel=0.12)
    assert abs(float(m[0])) < 0.01 / d and abs(float(m[3])) < 0.01 / d


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError):
        zonal_spectrum(lambda t: t, d=2, degree=3)
    with pytest.raises(ConfigError):
        harmonic_masses(2 * sphere_points(10, 4, seed=0), torch.ones(10), 2)  # not on the unit sphere
    with pytest.raises(ConfigError):  # a kernel with a kink converges too slowly for the tolerance
        zonal_spectrum(lambda t: np.abs(t) ** 0.5, d=3, degree=2, max_nodes=800, tol=1e-14)
