r"""Straight-line fits with confidence intervals; the log-log fit behind every rate and exponent.

:func:`loglog_fit` fits log y = a + s log x by least squares on the points with x > 0, y > 0 and y finite,
and gives the slope s with a Student-t interval at ``level`` (n − 2 degrees of freedom).

Example:
    >>> from ntklab._fits import loglog_fit
    >>> fit = loglog_fit([8, 16, 32, 64], [1.0, 0.5, 0.25, 0.125])
    >>> round(fit.slope, 6), fit.n
    (-1.0, 4)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["LineFit", "line_fit", "loglog_fit"]


@dataclass(frozen=True)
class LineFit:
    """y ≈ intercept + slope · x over ``n`` points; [ci_low, ci_high] is the slope's interval (NaN for n < 3)."""

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    r2: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


_NAN = float("nan")


def line_fit(x, y, *, level: float = 0.95, min_points: int = 2) -> LineFit:
    """Least-squares line through (x, y); NaN fields when fewer than ``min_points`` points or one distinct x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = int(x.size)
    if n < max(2, min_points) or np.unique(x).size < 2:
        return LineFit(_NAN, _NAN, _NAN, _NAN, _NAN, n)
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    slope = float(((x - xm) * (y - ym)).sum() / sxx)
    intercept = float(ym - slope * xm)
    res = y - (intercept + slope * x)
    syy = float(((y - ym) ** 2).sum())
    r2 = 1.0 - float((res ** 2).sum()) / syy if syy > 0 else 1.0
    if n < 3:
        return LineFit(slope, intercept, _NAN, _NAN, r2, n)
    from scipy import stats

    stderr = math.sqrt(float((res ** 2).sum()) / (n - 2) / sxx)
    half = float(stats.t.ppf(0.5 + level / 2, n - 2)) * stderr
    return LineFit(slope, intercept, slope - half, slope + half, r2, n)


def loglog_fit(x, y, *, level: float = 0.95, min_points: int = 2) -> LineFit:
    """:func:`line_fit` of log y on log x over the points with x > 0, y > 0 and y finite."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(y) & np.isfinite(x)
    with np.errstate(divide="ignore"):
        return line_fit(np.log(x[ok]), np.log(y[ok]), level=level, min_points=min_points)
