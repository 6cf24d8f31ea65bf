r"""Classical baseline: continuous piecewise-linear splines on m uniform knots tau_i = -1 + 2 i / (m - 1).

- Interpolant I_m f: the broken line through (tau_i, f(tau_i)).  For f in C^2 its error is
  ||f - I_m f||_2 ~ h^2 ||f''||_2 / sqrt(120) with h = 2 / (m - 1); for f = x^2 exactly h^2 / sqrt(15).
- Best approximation P_m f: the L2 projection onto span{phi_i} (hat functions), from the normal equations
  M c = r, M_ij = <phi_i, phi_j>, r_i = <f, phi_i>, all inner products on the given quadrature (so the baseline
  and the network are measured by the same discrete L2 norm).

Rates in m: smooth f: m^{-2}; |x|^beta: m^{-(beta + 1/2)}; jump: m^{-1/2}.

Example:
    >>> from ntklab.approximation import gauss_legendre, make_target, spline_errors
    >>> f = make_target("gaussian", s=0.2)
    >>> df = spline_errors(f, [16, 32], gauss_legendre(2000))
    >>> list(df.columns)
    ['m', 'method', 'error', 'rel_error']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .._errors import ConfigError
from ._quadrature import Quadrature

__all__ = ["uniform_knots", "hat_basis", "interpolant_error", "projection_error", "spline_errors"]


def uniform_knots(m: int) -> np.ndarray:
    """The m equispaced knots −1 = t_1 < … < t_m = 1 of the uniform linear spline on [−1, 1] (the reference
    whose L2 error falls as m^-2 for a C² target)."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 2:
        raise ConfigError("m", f"got {m!r}", allowed="integers >= 2 (knots)")
    return np.linspace(-1.0, 1.0, int(m))


def hat_basis(x: np.ndarray, m: int) -> np.ndarray:
    """(n, m) values phi_i(x_q) of the hat functions on m uniform knots."""
    tau = uniform_knots(m)
    h = tau[1] - tau[0]
    return np.clip(1.0 - np.abs(x[:, None] - tau[None, :]) / h, 0.0, None)


def _check(q: Quadrature) -> None:
    if q.domain != "interval":
        raise ConfigError("quadrature", f"domain {q.domain!r}", allowed="an interval rule (gauss_legendre)")


def interpolant_error(target, m: int, q: Quadrature) -> float:
    """||f - I_m f||_{L2} on the quadrature."""
    _check(q)
    x = q.x.numpy()
    tau = uniform_knots(m)
    f_tau = target(torch.from_numpy(tau)).numpy()
    e = target(q.x).numpy() - np.interp(x, tau, f_tau)
    return float(np.sqrt(np.sum(q.w.numpy() * e * e)))


def projection_error(target, m: int, q: Quadrature) -> float:
    """||f - P_m f||_{L2}, P_m the L2 projection onto linear splines (normal equations on the quadrature)."""
    _check(q)
    w = q.w.numpy()
    phi = hat_basis(q.x.numpy(), m)
    f = target(q.x).numpy()
    gram = phi.T @ (w[:, None] * phi)
    c = np.linalg.solve(gram, phi.T @ (w * f))
    e = f - phi @ c
    return float(np.sqrt(np.sum(w * e * e)))


def spline_errors(target, widths, q: Quadrature) -> pd.DataFrame:
    """Tidy frame: m, method ('interpolant' | 'projection'), error, rel_error = error / ||f||."""
    fnorm = float(q.norm(target(q.x)))
    rows = []
    for m in widths:
        for method, fn in (("interpolant", interpolant_error), ("projection", projection_error)):
            err = fn(target, int(m), q)
            rows.append({"m": int(m), "method": method, "error": err, "rel_error": err / fnorm})
    return pd.DataFrame(rows, columns=["m", "method", "error", "rel_error"])
