r"""Measurements as tidy frames: rates, weight change, breakpoints, NTK spectra.

- Rate: least squares log e = alpha log m + c over all (width, seed) points; the slope alpha with its
  two-sided confidence interval alpha +- t_{1-(1-level)/2, n-2} * se(alpha).  :func:`loglog_fit` is the
  DataFrame front end (one row per group) of :func:`ntklab._fits.loglog_fit`, the one implementation of the fit;
  fewer than three usable points (x > 0, y > 0, finite) give NaN throughout.
- Relative weight change ||theta_T - theta_0|| / ||theta_0|| over the trainable parameters of the real nodes.
- Breakpoints t_r = -b_r / w_r before and after training; ``breakpoint_mass`` = fraction within ``radius`` of
  a point (the cusp or the jump): the adaptive grid shows as mass moving towards the singularity.
- Empirical NTK on the quadrature: Theta(x, x') = c^2 sum_r [sigma(z_r) sigma(z'_r) [a] + a_r^2 sigma'(z_r) sigma'(z'_r)
  (x x' [w] + 1 [b])] = J J^T, J the (n, P) Jacobian; the eigenvalues of the integral operator
  (T g)(x) = int Theta(x, x') g(x') dx' on the quadrature are those of Omega^{1/2} Theta Omega^{1/2}, i.e. the
  squared singular values of Omega^{1/2} J (at most P = 3m are non-zero).

Example:
    >>> import pandas as pd
    >>> from ntklab.approximation import loglog_fit
    >>> df = pd.DataFrame({"m": [8, 16, 32, 64], "error": [1, 1/4, 1/16, 1/64]})
    >>> round(float(loglog_fit(df).slope.iloc[0]), 6)
    -2.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .._fits import loglog_fit as _core_loglog_fit
from ..nets import get_activation
from ._net1d import PARAMS

__all__ = ["loglog_fit", "relative_weight_change", "breakpoint_mass", "ntk_jacobian", "ntk_spectrum"]


FIT_COLUMNS = ("slope", "ci_low", "ci_high", "intercept", "r2", "n")
MIN_FIT_POINTS = 3  # a slope with a confidence interval needs n - 2 >= 1 degrees of freedom


def _fit(x, y, level: float) -> dict:
    fit = _core_loglog_fit(x, y, level=level, min_points=MIN_FIT_POINTS).as_dict()
    return {c: fit[c] for c in FIT_COLUMNS}


def loglog_fit(frame: pd.DataFrame, *, x: str = "m", y: str = "error", by=(), level: float = 0.95) -> pd.DataFrame:
    """One row per group of ``by``: slope of log y on log x, its ``level`` CI, intercept, r^2, points used."""
    by = list(by)
    if not by:
        return pd.DataFrame([_fit(frame[x], frame[y], level)])
    rows = [{**dict(zip(by, key if isinstance(key, tuple) else (key,))), **_fit(g[x], g[y], level)}
            for key, g in frame.groupby(by, sort=False)]
    return pd.DataFrame(rows)


def relative_weight_change(init: dict, final: dict, mask: torch.Tensor, trainable=PARAMS) -> torch.Tensor:
    """||theta_T - theta_0|| / ||theta_0|| per net (B,), over trainable parameters of the nodes in ``mask``."""
    num = sum((((final[k] - init[k]) * mask) ** 2).sum(1) for k in trainable)
    den = sum(((init[k] * mask) ** 2).sum(1) for k in trainable)
    return torch.sqrt(num / den)


def breakpoint_mass(t: np.ndarray, point: float, radius: float) -> float:
    """Fraction of breakpoints t within ``radius`` of ``point``."""
    t = np.asarray(t, float)
    return float(np.mean(np.abs(t - point) <= radius)) if t.size else float("nan")


def ntk_jacobian(params: dict, x: torch.Tensor, *, activation: str = "relu", trainable=PARAMS) -> torch.Tensor:
    """(n, P) Jacobian of f at nodes x (n,) with respect to the trainable (a, w, b) of one net."""
    act = get_activation(activation)
    a, w, b, c = params["a"], params["w"], params["b"], params["c"]
    z = x[:, None] * w[None, :] + b[None, :]
    sp = act.derivative(z) * a * c
    cols = {"a": act(z) * c, "w": sp * x[:, None], "b": sp}
    return torch.cat([cols[k] for k in PARAMS if k in trainable], 1)


def ntk_spectrum(params: dict, q, *, activation: str = "relu", trainable=PARAMS) -> np.ndarray:
    """Eigenvalues (descending) of the empirical NTK integral operator on the quadrature q."""
    J = ntk_jacobian(params, q.x, activation=activation, trainable=trainable)
    s = torch.linalg.svdvals(q.w.sqrt()[:, None] * J)
    return (s * s).numpy()
