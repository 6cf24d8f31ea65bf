"""Quadrature and targets against closed-form integrals."""

import math

import numpy as np
import pytest
import torch

from ntklab import ConfigError
from ntklab.approximation import (gauss_legendre, harmonic_dimension, make_target, sphere_area, sphere_monte_carlo,
                                  target_from_callable)


@pytest.mark.parametrize("breaks", [(), (0.0,), (-0.3, 1 / math.pi)])
def test_gauss_legendre_exact_for_polynomials(breaks):
    q = gauss_legendre(2000, breaks=breaks)
    assert q.n == 2000 and bool((q.x.diff() > 0).all())
    for k in range(0, 40):  # each panel has >= 300 nodes: exact to degree >= 599, only rounding remains
        exact = (1 - (-1) ** (k + 1)) / (k + 1)
        # rounding of roots_legendre's 2000 nodes and weights (each ~1e-16 relative) sums to ~1e-13
        assert float(q.integrate(q.x ** k)) == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("name,opts", [("gaussian", {"s": 0.2}), ("gaussian", {"s": 0.05}), ("cusp", {"beta": 0.5}),
                                       ("cusp", {"beta": 0.3, "center": 0.2}), ("jump", {"x0": 1 / math.pi})])
def test_target_norms_match_closed_form(name, opts):
    f = make_target(name, **opts)
    q = gauss_legendre(2000, breaks=f.singularities)
    # Gaussian, jump and |x|^{1/2} (integrand |x| per panel) are integrated to rounding; |x - c|^{0.6} has an
    # endpoint singularity where Gauss-Legendre converges like n^{-2(1 + 0.6)} ~ 1e-9 for ~1000 nodes a panel.
    assert float(q.norm(f(q.x)) ** 2) == pytest.approx(f.sq_norm, rel=1e-8)


def test_jump_without_break_is_only_first_order():
    """Without the break at x0 the quadrature of a jump is O(node spacing): why the targets carry breaks."""
    f = make_target("jump")
    err = abs(float(gauss_legendre(2000).integrate(f(gauss_legendre(2000).x))) - f.sq_norm)
    assert 1e-7 < err < 5e-3


@pytest.mark.parametrize("d", [3, 5])
@pytest.mark.parametrize("name", ["zonal", "harmonics"])
def test_sphere_monte_carlo_norms_within_sampling_error(name, d):
    f = make_target(name, d=d)
    q = sphere_monte_carlo(20_000, d, seed=3)
    vals = f(q.x) ** 2 * sphere_area(d)
    se = float(vals.std()) / math.sqrt(q.n)
    assert float(q.w.sum()) == pytest.approx(sphere_area(d))
    assert abs(float(vals.mean()) - f.sq_norm) < 4 * se  # a 4-sigma band: fails with prob. < 1e-4 by chance


def test_harmonic_components_are_orthogonal_and_of_their_degree():
    """Each degree-l part is orthogonal to the others (addition theorem); a 3-design check by dense quadrature."""
    f1 = make_target("harmonics", d=3, degree=1, s=0.0, seed=1)
    f3 = make_target("harmonics", d=3, degree=3, s=0.0, seed=1)
    # a product Gauss-Legendre x trapezoid rule on S^2, exact for the low-degree polynomials here
    t, wt = np.polynomial.legendre.leggauss(40)
    ph = np.linspace(0, 2 * np.pi, 80, endpoint=False)
    T, P = np.meshgrid(t, ph, indexing="ij")
    s = np.sqrt(1 - T ** 2)
    x = torch.from_numpy(np.stack([s * np.cos(P), s * np.sin(P), T], -1).reshape(-1, 3))
    w = torch.from_numpy((wt[:, None] * np.full_like(P, 2 * np.pi / 80)).reshape(-1))
    v1, v3 = f1(x), f3(x)
    assert float((w * v1 * v1).sum()) == pytest.approx(f1.sq_norm, rel=1e-10)
    assert float((w * v3 * v3).sum()) == pytest.approx(f3.sq_norm, rel=1e-10)
    assert float((w * v1 * (v3 - v1)).sum()) == pytest.approx(0.0, abs=1e-10)


def test_harmonic_dimension():
    assert [harmonic_dimension(3, l) for l in range(5)] == [1, 3, 5, 7, 9]
    assert [harmonic_dimension(2, l) for l in range(1, 4)] == [2, 2, 2]
    assert harmonic_dimension(5, 2) == 14  # dim P_2(R^5) - dim P_0 = 15 - 1


def test_user_callable_and_dataset():
    f = target_from_callable(lambda x: x ** 2, sq_norm=0.4)
    q = gauss_legendre(100)
    ds = q.dataset(f)
    assert ds.x_train.shape == (100, 1) and torch.equal(ds.extra["weights"], q.w)
    assert float(q.norm(f(q.x)) ** 2) == pytest.approx(0.4, abs=1e-14)


@pytest.mark.parametrize("call", [lambda: gauss_legendre(0), lambda: gauss_legendre(10, breaks=(1.5,)),
                                  lambda: make_target("sine"), lambda: make_target("cusp", beta=1.5),
                                  lambda: make_target("gaussian", width=1), lambda: sphere_monte_carlo(10, 1, seed=0),
                                  lambda: target_from_callable(3)])
def test_bad_input_names_the_field(call):
    with pytest.raises(ConfigError):
        call()
