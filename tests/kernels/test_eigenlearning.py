"""The eigenlearning / deterministic-equivalent prediction against exact risks of ridge(less) regression on
Gaussian features with a known spectrum, and its closed forms on flat spectra."""

from __future__ import annotations

import numpy as np
import pytest

from ntklab._errors import ConfigError
from ntklab.kernels import krr_prediction


def _exact_risks(lam, theta, n, ridge, seeds):
    """Mean over designs of the exact variance tr(A Sigma A^T) (per unit noise) and bias ||(I - Phi^T A) theta||_Sigma^2,
    A = (K + ridge I)^{-1} Phi, for the linear kernel on features phi ~ N(0, diag(lam))."""
    var, bias = [], []
    for s in seeds:
        phi = np.random.default_rng(s).standard_normal((n, lam.size)) * np.sqrt(lam)
        a = np.linalg.solve(phi @ phi.T + ridge * np.eye(n), phi)
        var.append(float(((a * lam) * a).sum()))
        r = theta - phi.T @ (a @ theta)
        bias.append(float((r * lam) @ r))
    return np.mean(var), np.mean(bias)


@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_prediction_matches_the_exact_risk_on_gaussian_features(ridge):
    """p = 800 features, lambda_i = i^-1.5, n = 200, 6 designs.  Measured here: the variance agrees to 0.3% (its
    standard error over the designs 0.3%) and the bias to 5% (standard error 0.4%: the equivalent's finite-n error);
    the tolerances, 2% and 10%, are above both."""
    lam = np.arange(1, 801) ** -1.5
    theta = np.ones(800)
    var, bias = _exact_risks(lam, theta, 200, ridge, range(6))
    p = krr_prediction(lam, 200, target_power=theta ** 2 * lam, ridge=ridge, noise=1.0)
    assert p.variance == pytest.approx(var, rel=0.02)
    assert p.bias == pytest.approx(bias, rel=0.10)
    assert p.test_mse == pytest.approx(p.bias + p.variance + 1.0) and p.excess == pytest.approx(p.bias + p.variance)


def test_flat_spectrum_closed_form():
    """p equal eigenvalues lambda, n < p, ridgeless: kappa = lambda (p - n) / n, L = n / p, E_0 = p / (p - n)
    (the Marchenko-Pastur result for isotropic min-norm interpolation: variance sigma^2 n / (p - n))."""
    p = krr_prediction([0.5], 30, multiplicity=[100], target_power=[1.0], noise=2.0)
    assert p.kappa == pytest.approx(0.5 * 70 / 30, rel=1e-10)
    assert p.learnability[0] == pytest.approx(0.3, rel=1e-10)
    assert p.variance == pytest.approx(2.0 * 30 / 70, rel=1e-10)
    assert p.bias == pytest.approx((100 / 70) * 0.7 ** 2, rel=1e-10)


def test_a_tail_matched_in_its_two_sums_equals_the_explicit_tail():
    """A tail of T^2/Q equal eigenvalues is reproduced exactly when the real tail is flat."""
    full = krr_prediction([1.0, 0.01], 50, multiplicity=[5, 1000], target_power=[0.5, 0.1], noise=1.0)
    tail = krr_prediction([1.0], 50, multiplicity=[5], target_power=[0.5], tail_mass=10.0,
                          tail_second_moment=0.1, tail_target_power=0.1, noise=1.0)
    assert tail.kappa == pytest.approx(full.kappa, rel=1e-10)
    assert tail.variance == pytest.approx(full.variance, rel=1e-10) and tail.bias == pytest.approx(full.bias)


def test_ridgeless_with_too_few_eigenvalues_is_refused():
    with pytest.raises(ConfigError):
        krr_prediction([1.0], 10, multiplicity=[5])
    with pytest.raises(ConfigError):
        krr_prediction([1.0], 10, ridge=-1.0)
