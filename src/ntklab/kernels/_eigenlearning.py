r"""The predicted test risk of kernel ridge(less) regression from the kernel's spectrum (the eigenlearning
equations: Bordelon, Canatar & Pehlevan 2020; Jacot et al. 2020; Simon, Dickens, Karkada & DeWeese 2023, TMLR;
for ridgeless interpolation the deterministic equivalent of Hastie, Montanari, Rosset & Tibshirani 2022).

The estimator is f-hat(x) = k(x, X) (K + delta I)^{-1} y on n samples (K the raw n x n Gram, delta = ``ridge``,
0 for minimum-norm interpolation), the target f = sum_i v_i phi_i in the kernel's eigenbasis (eigenvalues
lambda_i with respect to the input distribution), label noise of variance sigma^2 = ``noise``.  With the
effective regularisation kappa > 0 solving

    sum_i lambda_i / (lambda_i + kappa) + delta / kappa = n,

the learnabilities L_i = lambda_i / (lambda_i + kappa) and the overfitting coefficient E_0 = n / (n - sum_i L_i^2),

    test MSE = E_0 (sum_i (1 - L_i)^2 v_i^2 + sigma^2)          (noise included; excess = test MSE - sigma^2).

The variance (the excess from the noise alone) is sigma^2 (E_0 - 1) = sigma^2 sum L^2 / (n - sum L^2).  The
spectrum is given in blocks: ``eigenvalues`` with ``multiplicity`` (a degree of spherical harmonics is one block),
``target_power`` the total v^2 of each block, and a tail of eigenvalues below the explicit ones known by its sum
T (``tail_mass``), its sum of squares Q (``tail_second_moment``) and its target power.  The tail is closed as
T^2 / Q equal eigenvalues Q / T (which matches both sums exactly); a tail with Q = 0 (infinitely many vanishing
eigenvalues) acts as a ridge T.

The equations are exact in the limit n, (number of modes) -> infinity for Gaussian-like features; at the sizes
used here (rotation-invariant kernels on S^{d-1}, d >= 10, n >= 250) they agree with the measured risk to a few
per cent (tests/kernels/test_eigenlearning.py).

Example:
    >>> from ntklab.kernels import krr_prediction
    >>> p = krr_prediction([1.0], 4, multiplicity=[8], noise=1.0)   # 8 equal modes, 4 samples, ridgeless
    >>> round(p.kappa, 12), round(p.variance, 12)                   # L_i = 1/2: sum L^2 = 2, E_0 = 2
    (1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .._errors import ConfigError

__all__ = ["KRRPrediction", "krr_prediction"]


@dataclass(frozen=True)
class KRRPrediction:
    """kappa, the learnability of each block, E_0, and the predicted test MSE split into bias and variance."""

    kappa: float
    learnability: np.ndarray
    e0: float
    bias: float  # E_0 sum (1 - L)^2 v^2
    variance: float  # sigma^2 (E_0 - 1)
    noise: float

    @property
    def test_mse(self) -> float:
        """bias + variance + sigma^2 (the risk on noisy test labels)."""
        return self.bias + self.variance + self.noise

    @property
    def excess(self) -> float:
        return self.bias + self.variance


def _arrays(eigenvalues, multiplicity, target_power):
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    mult = np.ones_like(lam) if multiplicity is None else np.asarray(multiplicity, dtype=np.float64).ravel()
    power = np.zeros_like(lam) if target_power is None else np.asarray(target_power, dtype=np.float64).ravel()
    if not (lam.shape == mult.shape == power.shape):
        raise ConfigError("eigenvalues", f"{lam.size} eigenvalues, {mult.size} multiplicities, {power.size} target "
                          "powers", allowed="one of each per block")
    if not (np.isfinite(lam).all() and (lam >= 0).all() and (mult > 0).all() and (power >= 0).all()):
        raise ConfigError("eigenvalues", "eigenvalues and target powers must be finite and >= 0, multiplicities > 0")
    return lam, mult, power


def _with_tail(lam, mult, power, tail_mass, tail_second, tail_power):
    if tail_mass < 0 or tail_second < 0 or tail_power < 0:
        raise ConfigError("tail_mass", f"got {tail_mass}, {tail_second}, {tail_power}", allowed=">= 0")
    if tail_mass > 0 and tail_second > 0:  # T^2 / Q modes of eigenvalue Q / T
        lam_t, count = tail_second / tail_mass, tail_mass ** 2 / tail_second
    else:  # no tail eigenvalues (or infinitely many infinitesimal ones: a ridge T, added by the caller)
        lam_t, count = 0.0, 1.0
    return np.append(lam, lam_t), np.append(mult, count), np.append(power, tail_power)


def _kappa(lam, mult, n, ridge) -> float:
    def excess(log_kappa):
        kappa = np.exp(log_kappa)
        return float((mult * lam / (lam + kappa)).sum() + ridge / kappa - n)

    hi = np.log(((mult * lam).sum() + ridge) / n) + 1.0
    lo = hi - 80.0
    if excess(lo) <= 0:
        raise ConfigError("n", f"{n} samples but only {float(mult[lam > 0].sum()):.4g} non-zero eigenvalues",
                          allowed="more non-zero eigenvalues than samples for ridgeless regression, or ridge > 0")
    return float(np.exp(optimize.brentq(excess, lo, hi, xtol=1e-14, rtol=1e-13, maxiter=500)))


def krr_prediction(eigenvalues, n: int, *, multiplicity=None, target_power=None, tail_mass: float = 0.0,
                   tail_second_moment: float = 0.0, tail_target_power: float = 0.0, ridge: float = 0.0,
                   noise: float = 0.0) -> KRRPrediction:
    """The eigenlearning prediction (module docstring) for n samples; ``learnability`` is per explicit block."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError("n", f"got {n!r}", allowed="integers >= 1")
    if not (ridge >= 0 and noise >= 0):
        raise ConfigError("ridge", f"ridge {ridge}, noise {noise}", allowed=">= 0")
    lam, mult, power = _arrays(eigenvalues, multiplicity, target_power)
    explicit = lam.size
    lam, mult, power = _with_tail(lam, mult, power, float(tail_mass), float(tail_second_moment),
                                  float(tail_target_power))
    flat_tail = float(tail_mass) if not tail_second_moment > 0 else 0.0  # sum lambda/(lambda + kappa) -> T / kappa
    kappa = _kappa(lam, mult, int(n), float(ridge) + flat_tail)
    learn = lam / (lam + kappa)
    e0 = n / (n - float((mult * learn ** 2).sum()))
    bias = e0 * float((power * (1 - learn) ** 2).sum())
    return KRRPrediction(kappa, learn[:explicit], e0, bias, noise * (e0 - 1.0), float(noise))
