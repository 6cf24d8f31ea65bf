r"""Kernel ridge regression and minimum-norm interpolation (ridgeless regression) from a Gram matrix.

With the training Gram K = U diag(s) U^T (one symmetric eigendecomposition, float64) and ridge delta >= 0,

    alpha = (K + delta I)^{-1} y = U diag(1 / (s + delta)) U^T y,      f-hat(x) = k(x, X) alpha,

for any number of target columns and ridges at the cost of one decomposition.  Leave-one-out residuals are exact:
y_i - f-hat_{-i}(x_i) = alpha_i / [(K + delta I)^{-1}]_ii (the standard identity for ridge regression), so a ridge
can be chosen per target without a validation split.

delta = 0 is the minimum-norm interpolant: among all functions of the RKHS (or, for a finite feature map phi with
K = Phi Phi^T, all theta with Phi theta = y) the one of least norm, alpha = K^{-1} y.  :func:`min_norm_interpolation`
returns its predictions, the train residual max_j ||K alpha_j - y_j|| / ||y_j|| (float64: a backward-stable solve
leaves about cond(K) * 2.2e-16), cond(K), and the noise gain g(x) = ||K^{-1} k(X, x)||^2: for labels y + eps with
i.i.d. noise of variance sigma^2, the interpolant's variance at x is exactly sigma^2 g(x), so the mean of g over test
points times sigma^2 is the variance part of the excess risk, with no noise sampled.

Example:
    >>> import torch
    >>> from ntklab.kernels import min_norm_interpolation
    >>> x = torch.linspace(-1, 1, 6, dtype=torch.float64)[:, None]
    >>> gram = lambda a, b: torch.exp(-(a - b.T) ** 2)
    >>> fit = min_norm_interpolation(gram(x, x), gram(x[:2] + 0.1, x), torch.sin(3 * x))
    >>> fit.train_residual < 1e-9, tuple(fit.predictions.shape)
    (True, (2, 1))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._device import as_float64
from .._errors import ConfigError

__all__ = ["SpectralRidge", "Interpolation", "min_norm_interpolation"]


def _matrix(a, field: str, square: bool = False) -> torch.Tensor:
    a = as_float64(a)
    if a.ndim != 2 or (square and a.shape[0] != a.shape[1]) or not torch.isfinite(a).all():
        raise ConfigError(field, f"got shape {tuple(a.shape)}", allowed="a finite 2-d " + ("square " if square else "")
                          + "matrix")
    return a


class SpectralRidge:
    """Ridge regression on one training Gram ``gram`` (n x n, symmetric) for many targets and ridges."""

    def __init__(self, gram):
        gram = _matrix(gram, "gram", square=True)
        self.n = gram.shape[0]
        self.s, self.u = torch.linalg.eigh((gram + gram.T) / 2)

    @property
    def cond(self) -> float:
        lo, hi = float(self.s[0]), float(self.s[-1])
        return hi / lo if lo > 0 else math.inf

    def _targets(self, y) -> torch.Tensor:
        y = as_float64(y)
        y = y[:, None] if y.ndim == 1 else y
        if y.shape[0] != self.n:
            raise ConfigError("y", f"has {y.shape[0]} rows for {self.n} training points")
        return y

    def _inverse(self, ridge: float) -> torch.Tensor:
        ginv = 1.0 / (self.s + ridge)
        if not (ridge >= 0 and torch.isfinite(ginv).all() and (self.s + ridge > 0).all()):
            raise ConfigError("ridge", f"K + {ridge} I is not positive definite (lambda_min(K) = {float(self.s[0]):.3g})",
                              allowed="a ridge > -lambda_min(K)")
        return ginv

    def coefficients(self, y, ridge: float = 0.0) -> torch.Tensor:
        """alpha = (K + ridge I)^{-1} y, shape (n, columns)."""
        return self.u @ (self._inverse(ridge)[:, None] * (self.u.T @ self._targets(y)))

    def loo_mse(self, y, ridges) -> torch.Tensor:
        """Exact leave-one-out mean squared error of each column at each ridge: (len(ridges), columns)."""
        y = self._targets(y)
        c = self.u.T @ y
        out = []
        for ridge in ridges:
            ginv = self._inverse(float(ridge))
            alpha = self.u @ (ginv[:, None] * c)
            h = (self.u ** 2) @ ginv  # diag of (K + ridge I)^{-1}
            out.append(((alpha / h[:, None]) ** 2).mean(0))
        return torch.stack(out)

    def predict(self, gram_test, y, ridge: float = 0.0) -> torch.Tensor:
        """k(x_test, X) (K + ridge I)^{-1} y for ``gram_test`` = k(x_test, X) (n_test x n)."""
        gram_test = _matrix(gram_test, "gram_test")
        return gram_test @ self.coefficients(y, ridge)

    def noise_gain(self, gram_test, ridge: float = 0.0) -> torch.Tensor:
        """||(K + ridge I)^{-1} k(X, x)||^2 per test point (the variance per unit noise variance)."""
        b = _matrix(gram_test, "gram_test") @ self.u
        return ((b * self._inverse(ridge)) ** 2).sum(1)


@dataclass(frozen=True)
class Interpolation:
    predictions: torch.Tensor  # (n_test, columns)
    train_residual: float  # max over columns of ||K alpha - y|| / ||y||
    cond: float
    noise_gain: torch.Tensor  # (n_test,)


def min_norm_interpolation(gram, gram_test, y) -> Interpolation:
    """The minimum-norm interpolant of y on the training Gram ``gram``, evaluated at k(x_test, X) = ``gram_test``."""
    gram = _matrix(gram, "gram", square=True)
    solver = SpectralRidge(gram)
    if not float(solver.s[0]) > 0:
        raise ConfigError("gram", f"is not positive definite (lambda_min = {float(solver.s[0]):.3g}): no interpolant",
                          allowed="a positive definite Gram (distinct points; for features, width >= n)")
    y = solver._targets(y)
    alpha = solver.coefficients(y)
    resid = (gram @ alpha - y).norm(dim=0) / y.norm(dim=0).clamp(min=1e-300)
    return Interpolation(_matrix(gram_test, "gram_test") @ alpha, float(resid.max()), solver.cond,
                         solver.noise_gain(gram_test))
