r"""Convergence rates: fitted from any loss curve, and predicted from lambda_min, lambda_max, eta and beta.

Fits (least squares over a tail window of the curve, with R^2 as the fit quality):
- linear rate r:  log L_k ~ c - r k            (a straight line in semilog axes; L ~ e^{-r k})
- power law p:    log L_k ~ c + p log k        (a straight line in log-log axes; L ~ k^p)

The window is [start_fraction * k_end, k_end], where k_end is the last step before the loss first falls below
``floor`` * L_0 (the float64 floor, or a diverged run's last finite value).

Predictions, per mode a of A = 2 w Theta (see :mod:`ntklab.dynamics._predictions`), for the loss (twice the
log-rate of the error): the slowest mode's spectral radius rho of the step's 2 x 2 companion matrix,

    GD      rho(a) = |1 - eta a|
    HB      roots of z^2 - (1 + beta - eta a) z + beta
    NAG-SC  roots of z^2 - (1 - eta a)(1 + beta) z + (1 - eta a) beta

and predicted rate = -2 log max_a rho(a), over the eigenvalues given (or over [lambda_min, lambda_max] on a
grid with its ends).  NAG with beta_k = (k-1)/(k+2) is sublinear in the ODE limit: its modes decay like
2 J_1(sqrt(a) t)/(sqrt(a) t) ~ t^{-3/2}, so the loss envelope falls like t^{-3} (power -3).  At a finite step
the discrete NAG loss is (1 - eta a)^k k^{-3} times an oscillation: linear at rate -log max_a |1 - eta a|
(half GD's) with a k^{-3} prefactor (see :func:`predicted_rate`).  The continuous
limits: gradient flow 2 eta lambda_min per step; HB ODE 2 sqrt(eta) min_a Re(-root) per step.

Example:
    >>> import numpy as np
    >>> from ntklab.dynamics import fit_linear_rate, predicted_rate
    >>> k = np.arange(200); loss = 3.0 * np.exp(-0.05 * k)
    >>> round(fit_linear_rate(k, loss).rate, 6), round(predicted_rate("gd", lr=1.0, eigenvalues=[0.1, 1.5]), 4)
    (0.05, 0.2107)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .._errors import ConfigError, check_choice

__all__ = ["RateFit", "fit_linear_rate", "fit_power_law", "fit_rates", "spectral_radius", "predicted_rate",
           "predicted_ode_rate", "NAG_LOSS_POWER"]

NAG_LOSS_POWER = -3.0  # loss envelope of the NAG ODE: (t^{-3/2})^2


@dataclass
class RateFit:
    kind: str  # "linear" or "power"
    slope: float  # d log L / dk (linear) or d log L / d log k (power)
    intercept: float
    r2: float
    start: int
    stop: int
    points: int

    @property
    def rate(self) -> float:
        """The linear rate r = -slope (per step); for a power law, the exponent p = slope."""
        return -self.slope if self.kind == "linear" else self.slope

    def as_dict(self) -> dict:
        return {**asdict(self), "rate": self.rate}


def _window(steps, loss, start_fraction, floor):
    k, L = np.asarray(steps, float), np.asarray(loss, float)
    if k.shape != L.shape or k.ndim != 1:
        raise ConfigError("loss", f"steps and loss must be 1-d of one length, got {k.shape} and {L.shape}")
    if not 0 <= start_fraction < 1:
        raise ConfigError("start_fraction", f"got {start_fraction!r}", allowed="[0, 1)")
    L0 = L[0] if L.size else np.nan
    bad = ~np.isfinite(L) | (L <= floor * L0)
    end = int(np.argmax(bad)) if bad.any() else L.size  # first point at the floor (or diverged)
    k, L = k[:end], L[:end]
    if k.size < 3:
        return k[:0], L[:0]
    sel = k >= k[0] + start_fraction * (k[-1] - k[0])
    return k[sel], L[sel]


def _fit(kind, x, ylog, k):
    if x.size < 3:
        return RateFit(kind, math.nan, math.nan, math.nan, -1, -1, int(x.size))
    slope, intercept = np.polyfit(x, ylog, 1)
    res = ylog - (slope * x + intercept)
    ss = float(((ylog - ylog.mean()) ** 2).sum())
    r2 = 1 - float((res ** 2).sum()) / ss if ss > 0 else 1.0
    return RateFit(kind, float(slope), float(intercept), r2, int(k[0]), int(k[-1]), int(x.size))


def fit_linear_rate(steps, loss, *, start_fraction: float = 0.5, floor: float = 1e-24,
                    prefactor_power: float = 0.0) -> RateFit:
    """Slope of log L against k over the tail window (``rate`` = -slope); R^2 says how straight.

    ``prefactor_power`` p fits L ~ k^p e^{-r k} instead (the slope of log L - p log k; k > 0), e.g. p = -3
    for discrete NAG, whose loss is (1 - eta a)^k k^{-3} times an oscillation.
    """
    k, L = _window(steps, loss, start_fraction, floor)
    if prefactor_power:
        pos = k > 0
        k, L = k[pos], L[pos]
        return _fit("linear", k, np.log(L) - prefactor_power * np.log(k), k)
    return _fit("linear", k, np.log(L), k)


def fit_power_law(steps, loss, *, start_fraction: float = 0.1, floor: float = 1e-24) -> RateFit:
    """Slope of log L against log k over the tail window (k > 0): the power p in L ~ k^p."""
    k, L = _window(steps, loss, start_fraction, floor)
    pos = k > 0
    return _fit("power", np.log(k[pos]), np.log(L[pos]), k[pos])


def fit_rates(steps, loss, *, linear_start: float = 0.5, power_start: float = 0.1,
              floor: float = 1e-24) -> pd.DataFrame:
    """Both fits as a tidy frame (kind, slope, intercept, r2, start, stop, points, rate)."""
    fits = [fit_linear_rate(steps, loss, start_fraction=linear_start, floor=floor),
            fit_power_law(steps, loss, start_fraction=power_start, floor=floor)]
    return pd.DataFrame([f.as_dict() for f in fits])


def spectral_radius(method: str, a, *, lr: float, momentum: float = 0.0) -> np.ndarray:
    """Per-mode contraction factor of one step of ``method`` (gd, heavy_ball, nag_sc) on eigenvalues a."""
    check_choice("method", method, ("gd", "heavy_ball", "nag_sc"))
    a = np.asarray(a, float)
    b = float(momentum)
    if method == "gd":
        return np.abs(1 - lr * a)
    if method == "heavy_ball":
        s, p = 1 + b - lr * a, b + 0 * a  # z^2 - s z + p
    else:
        s, p = (1 - lr * a) * (1 + b), (1 - lr * a) * b
    disc = np.sqrt((s * s - 4 * p).astype(complex))
    return np.maximum(np.abs((s + disc) / 2), np.abs((s - disc) / 2))


def _grid(eigenvalues=None, lambda_min=None, lambda_max=None):
    if eigenvalues is not None:
        return np.asarray(eigenvalues, float)
    if lambda_min is None or lambda_max is None:
        raise ConfigError("eigenvalues", "give the eigenvalues or both lambda_min and lambda_max")
    return np.linspace(lambda_min, lambda_max, 2001)


def predicted_rate(method: str, *, lr: float, momentum: float = 0.0, eigenvalues=None,
                   lambda_min: float | None = None, lambda_max: float | None = None) -> float:
    """Asymptotic linear rate of the loss per step, -2 log max_a rho(a).

    For discrete NAG (beta_k -> 1) the roots of z^2 - (1 - eta a)(1 + beta_k) z + (1 - eta a) beta_k have modulus
    sqrt((1 - eta a) beta_k), whose product over k is (1 - eta a)^{k/2} k^{-3/2}: the loss falls like
    (1 - eta a)^k k^{-3}, a linear rate -log max_a |1 - eta a| beside the ODE's k^{-3} (which keeps only the
    second factor: (1 - eta a)^{t / sqrt(eta)} -> 1 as eta -> 0).
    """
    if method == "nag":
        q = float(np.abs(1 - lr * _grid(eigenvalues, lambda_min, lambda_max)).max())
        return -math.log(q) if q > 0 else math.inf
    rho = float(spectral_radius(method, _grid(eigenvalues, lambda_min, lambda_max), lr=lr,
                                momentum=momentum).max())
    return -2 * math.log(rho) if rho > 0 else math.inf


def predicted_ode_rate(method: str, *, lr: float, momentum: float = 0.0, eigenvalues=None,
                       lambda_min: float | None = None, lambda_max: float | None = None) -> float:
    """The continuous-time limit's loss rate per step (gradient flow 2 eta a_min; HB ODE 2 sqrt(eta) decay)."""
    a = _grid(eigenvalues, lambda_min, lambda_max)
    if method == "nag":
        return math.nan
    if method == "gd":
        return 2 * lr * float(a.min())
    gamma = (1 - momentum) / math.sqrt(lr)
    decay = (gamma - np.sqrt(np.clip(gamma * gamma - 4 * a, 0, None))) / 2  # slowest root's -Re
    return 2 * math.sqrt(lr) * float(decay.min())
