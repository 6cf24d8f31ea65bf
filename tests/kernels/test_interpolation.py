"""Ridge(less) kernel regression from one eigendecomposition against direct float64 solves and pseudo-inverses."""

from __future__ import annotations

import pytest
import torch

from ntklab._errors import ConfigError
from ntklab.kernels import SpectralRidge, min_norm_interpolation


def _features(n: int, n_test: int, p: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    phi = torch.randn(n + n_test, p, generator=gen, dtype=torch.float64) / p ** 0.5
    y = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    return phi[:n], phi[n:], y


def test_min_norm_interpolant_is_exact_and_equals_the_pseudo_inverse_solution():
    """Features Phi (n x p, p > n): the kernel interpolant k(x, X) K^{-1} y equals Phi_test pinv(Phi) y, the
    least-norm theta with Phi theta = y, to float64 rounding (cond(K) is about 10 here)."""
    train, test, y = _features(40, 15, 200)
    fit = min_norm_interpolation(train @ train.T, test @ train.T, y)
    theta = torch.linalg.pinv(train) @ y
    assert torch.allclose(fit.predictions, test @ theta, rtol=0, atol=1e-12)
    assert fit.train_residual < 1e-13  # eps = 2.2e-16 times cond(K) ~ 10 times sqrt(n)
    assert fit.cond == pytest.approx(float(torch.linalg.cond(train @ train.T)), rel=1e-8)
    gain = (torch.linalg.solve(train @ train.T, train @ test.T) ** 2).sum(0)  # ||K^{-1} k(X, x)||^2
    assert torch.allclose(fit.noise_gain, gain, rtol=1e-10)


def test_noise_gain_is_the_variance_of_the_interpolated_noise():
    """sigma^2 g(x) is the variance over noise draws of the interpolant of pure noise (Monte Carlo, 4000 draws:
    relative standard error sqrt(2/4000) = 2.2% per point, so 10% is a > 4 sigma bound on the mean over points)."""
    train, test, _ = _features(30, 20, 120, seed=1)
    gen = torch.Generator().manual_seed(2)
    eps = 0.5 * torch.randn(30, 4000, generator=gen, dtype=torch.float64)
    fit = min_norm_interpolation(train @ train.T, test @ train.T, eps)
    empirical = (fit.predictions ** 2).mean(1) / 0.25
    assert float((empirical / fit.noise_gain).mean()) == pytest.approx(1.0, abs=0.03)
    assert torch.allclose(empirical, fit.noise_gain, rtol=0.12)


def test_ridge_matches_a_direct_solve_and_loo_matches_refitting():
    train, test, y = _features(25, 5, 10, seed=3)  # p < n: K is singular, a ridge is needed
    gram, ridge = train @ train.T, 0.05
    solver = SpectralRidge(gram)
    direct = test @ train.T @ torch.linalg.solve(gram + ridge * torch.eye(25, dtype=torch.float64), y)
    assert torch.allclose(solver.predict(test @ train.T, y, ridge), direct, atol=1e-12)
    loo = torch.zeros(3, dtype=torch.float64)
    for i in range(25):  # brute force: refit without point i, predict it
        keep = [j for j in range(25) if j != i]
        a = torch.linalg.solve(gram[keep][:, keep] + ridge * torch.eye(24, dtype=torch.float64), y[keep])
        loo += (gram[i, keep] @ a - y[i]) ** 2
    assert torch.allclose(solver.loo_mse(y, [ridge])[0], loo / 25, rtol=1e-9)


def test_a_singular_gram_has_no_interpolant_and_a_bad_ridge_is_refused():
    train, test, y = _features(25, 5, 10, seed=4)
    with pytest.raises(ConfigError):
        min_norm_interpolation(train @ train.T, test @ train.T, y)
    with pytest.raises(ConfigError):
        SpectralRidge(train @ train.T).coefficients(y, ridge=-1.0)
    with pytest.raises(ConfigError):
        SpectralRidge(torch.ones(3, 4))
