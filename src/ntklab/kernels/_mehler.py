r"""Duals of any elementwise sigma without a closed form: Mehler's series where it converges, quadrature where not.

For (u, v) Gaussian with variances v1, v2 and correlation rho, with a_k(v) the orthonormal Hermite coefficients of
z -> f(sqrt(v) z) and b_k(v) those of g (f = g = sigma, or sigma' for the NTK),

    E[f(u) g(v)] = sum_{k >= 0} a_k(v1) b_k(v2) rho^k.

Truncated after degree K it errs (Cauchy–Schwarz) by at most |rho|^{K+1} sqrt(T_f(K) T_g(K)), with the Hermite tails
T_f(K) = E[f^2] - sum_{k <= K} a_k^2, and the coefficients' own quadrature errors add at most
(delta_f + delta_g) sqrt(E[f(u)^2] E[g(v)^2]).  Every point's coefficients, tails and E[f^2] come from the resolved
1-d rule of :mod:`ntklab.kernels._gaussian_rule` (delta = its last change, ~1e-15).  The degree is chosen so that

    |rho|^{K+1} sqrt(t_f(K) t_g(K)) + delta_f + delta_g <= 1e-13,      t = T / E[f^2] + 3 delta (the tail's own error),

holds for every entry.  Coefficients are projected to degree 256, then 1024, then 2048 until one degree K gives it
for every rho (t <= 1e-13 - 2 delta), or to 2048.  When that K is at most 128 the matrix is one Horner pass of
degree K.  Otherwise (and always for steep sigma at large variance, tanh at v = 16..60, or kinked callables, where
no K serves rho = 1) each entry gets the smallest degree in
(32, 64, ..., 2048) that meets the bound at its own rho, and the entries that no degree serves (|rho| near 1:
duplicated, antipodal or nearly parallel points) are computed by the bivariate quadrature of
:mod:`ntklab.kernels._direct_quadrature` (exact 1-d moments at rho = +-1).  Either way the dual meets 1e-13 or a
:class:`~ntklab.kernels.KernelAccuracyError` says which activation, variances and accuracy fell short.

An affine map a (sigma - b) of a quadrature activation is itself one (its coefficients computed directly), so
normalising keeps the tolerance relative to the normalised activation's moments.

Example:
    >>> import torch
    >>> from ntklab.kernels._mehler import QuadratureActivation
    >>> erf = QuadratureActivation(torch.erf, name="erf")
    >>> one = torch.ones((), dtype=torch.float64)
    >>> round(float(erf.duals(one, 0.5 * one, one)[0]), 10)  # (2/pi) arcsin(1/3)
    0.2163468959
"""

from __future__ import annotations

import torch

from .._device import as_float64
from ._accuracy import DUAL_TOLERANCE
from ._direct_quadrature import bivariate_expectation
from ._dual import DualActivation, _correlation
from ._gaussian_rule import gaussian_projection, on_unique

__all__ = ["QuadratureActivation", "LEVELS", "PROJECTED_DEGREES", "MAX_DEGREE", "autograd_derivative"]

LEVELS = (32, 64, 128, 256, 512, 1024, 2048)  # degrees a block may use
PROJECTED_DEGREES = (256, 1024, 2048)  # coefficients computed to these in turn, until one degree serves every rho
MAX_DEGREE = LEVELS[-1]
_BULK_SHARE = 0.05  # entries above the block's common degree (evaluated apart) may be at most 5% of it
_UNIFORM_UP_TO = 128  # above this degree, per-entry degrees (a few passes) beat one high-degree Horner pass


def autograd_derivative(fn):
    """sigma' of an elementwise torch callable, by autograd."""

    def derivative(z: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            zz = z.detach().clone().requires_grad_(True)
            y = fn(zz)
            if not isinstance(y, torch.Tensor) or not y.requires_grad:
                return torch.zeros_like(z)
            (g,) = torch.autograd.grad(y.sum(), zz, allow_unused=True)
        return torch.zeros_like(z) if g is None else g.detach()

    return derivative


def _level_tails(coef, second, change):
    """t(K) = max(T(K), 0) / E + 3 delta at every degree in LEVELS up to coef's: (R, n_levels)."""
    total = second.clamp(min=1e-300)[:, None]
    tail = (second[:, None] - torch.cumsum(coef * coef, dim=-1)).clamp(min=0) / total
    top = coef.shape[-1] - 1
    cols = [tail[:, k] for k in LEVELS if k <= top]
    return torch.stack(cols, -1) + 3 * change[:, None]


def _uniform_degree(tails, change) -> int | None:
    """The smallest level whose tail meets the bound at every rho for every point (None: no level does)."""
    slack = DUAL_TOLERANCE - 2 * float(change.max())
    for j in range(tails.shape[-1]):
        if float(tails[:, j].max()) <= slack:
            return LEVELS[j]
    return None


def _horner(a1, a2, rho, degree: int) -> torch.Tensor:
    """sum_{k <= degree} a1_k a2_k rho^k, elementwise (a1, a2 broadcast against rho with a trailing axis)."""
    acc = (a1[..., degree] * a2[..., degree]).expand(rho.shape).clone()
    for k in range(degree - 1, -1, -1):
        acc.mul_(rho).addcmul_(a1[..., k].expand(rho.shape), a2[..., k].expand(rho.shape))
    return acc


class QuadratureActivation(DualActivation):
    """An elementwise torch callable (and optionally its derivative); duals to 1e-13 by Mehler's series and
    bivariate quadrature (module docstring)."""

    def __init__(self, fn, derivative=None, *, name: str = "callable"):
        self._fn = fn
        self._derivative = derivative if derivative is not None else autograd_derivative(fn)
        self.name = name
        self.second_moment(torch.ones(1, dtype=torch.float64, device="cpu"))  # refuse bad callables at once

    def fn(self, z):
        return self._fn(z)

    def derivative(self, z):
        return self._derivative(z)

    def affine_map(self, scale: float, shift: float, name: str) -> "QuadratureActivation":
        """z -> scale (sigma(z) - shift) as a quadrature activation of its own."""
        fn, der = self._fn, self._derivative
        return QuadratureActivation(lambda z: scale * (fn(z) - shift), lambda z: scale * der(z), name=name)

    def _projection(self, v, derivative: bool, degree):
        f = self.derivative if derivative else self.fn
        what = "sigma'" if derivative else "sigma"
        return gaussian_projection(f, v, degree, name=self.name, what=what)

    def mean(self, v):
        return on_unique(lambda r: self._projection(r, False, None).mean, as_float64(v))

    def second_moment(self, v):
        return on_unique(lambda r: self._projection(r, False, None).second_moment,
                         as_float64(v))

    def derivative_second_moment(self, v):
        return on_unique(lambda r: self._projection(r, True, None).second_moment,
                         as_float64(v))

    def coefficients(self, v, degree: int = MAX_DEGREE, *, derivative: bool = False) -> torch.Tensor:
        """a_k(v) (or b_k(v)), k = 0..degree: shape (*v.shape, degree + 1)."""
        return on_unique(lambda r: self._projection(r, derivative, degree).coefficients,
                         as_float64(v))

    def _side_data(self, v, derivative: bool):
        """Per distinct variance: (a_0..a_K, t at each level up to K, E[f^2], delta), K the degree kept (the first
        of PROJECTED_DEGREES with a level that serves every rho, else MAX_DEGREE)."""
        for degree in PROJECTED_DEGREES:
            p = self._projection(v, derivative, degree)
            tails = _level_tails(p.coefficients, p.second_moment, p.change)
            keep = _uniform_degree(tails, p.change)
            if keep is not None:
                break
        keep = keep or MAX_DEGREE
        n_levels = LEVELS.index(keep) + 1
        return p.coefficients[:, : keep + 1], tails[:, :n_levels], p.second_moment[:, None], p.change[:, None]

    def _truncated_pair(self, v1, v2, derivative: bool):
        """Both sides at one common degree K (their variances projected together), per point:
        (a (.., K+1), t (.., n_levels), E (.., 1), delta (.., 1))."""
        both = torch.cat([v1.reshape(-1), v2.reshape(-1)])
        uniq, inverse = torch.unique(both, return_inverse=True)
        parts = [t[inverse] for t in self._side_data(uniq, derivative)]
        n1 = v1.numel()
        return (tuple(t[:n1].reshape(*v1.shape, -1) for t in parts),
                tuple(t[n1:].reshape(*v2.shape, -1) for t in parts))

    def prepare_pair(self, v1, v2, *, derivative=False):
        s1, s2 = self._truncated_pair(v1, v2, False)
        if not derivative:
            return (v1[..., None], *s1), (v2[..., None], *s2)
        d1, d2 = self._truncated_pair(v1, v2, True)
        return (v1[..., None], *s1, *d1), (v2[..., None], *s2, *d2)

    def _series(self, side1, side2, v1, v2, rho, derivative: bool) -> torch.Tensor:
        """The dual of one function pair on a block, to DUAL_TOLERANCE (module docstring)."""
        a1, t1, e1, d1 = side1
        a2, t2, e2, d2 = side2
        top = a1.shape[-1] - 1
        n_levels = t1.shape[-1]
        slack = DUAL_TOLERANCE - float(d1.max()) - float(d2.max())
        if top <= _UNIFORM_UP_TO and float(t1[..., -1].max()) <= slack and float(t2[..., -1].max()) <= slack:
            return _horner(a1, a2, rho, top)  # one low degree serves every rho
        # per entry: the first level j with |rho|^(K_j+1) sqrt(t1 t2) + delta1 + delta2 <= DUAL_TOLERANCE
        log_rho = torch.log(rho.abs().clamp(min=1e-300))
        room = (DUAL_TOLERANCE - d1[..., 0] - d2[..., 0]).clamp(min=1e-300)
        need = torch.zeros(rho.shape, dtype=torch.int64, device=rho.device)
        for j in range(n_levels):
            bound = torch.exp((LEVELS[j] + 1) * log_rho) * torch.sqrt(t1[..., j] * t2[..., j])
            need += (bound > room).long()
        counts = torch.bincount(need.reshape(-1), minlength=n_levels + 1)
        above = counts.flip(0).cumsum(0).flip(0)  # above[j] = entries needing level j or more
        bulk = next(j for j in range(n_levels) if j == n_levels - 1 or above[j + 1] <= _BULK_SHARE * rho.numel())
        out = _horner(a1, a2, rho, LEVELS[bulk])  # (the kept levels end at the kept degree: LEVELS[-1] <= top)
        shape = rho.shape + (top + 1,)
        for j in range(bulk + 1, n_levels):
            mask = need == j
            if mask.any():
                out[mask] = _horner(torch.broadcast_to(a1, shape)[mask], torch.broadcast_to(a2, shape)[mask],
                                    rho[mask], LEVELS[j])
        mask = need == n_levels
        if mask.any():
            f = self.derivative if derivative else self.fn
            scale = torch.sqrt(e1[..., 0] * e2[..., 0])
            out[mask] = bivariate_expectation(
                f, f, torch.broadcast_to(v1, rho.shape)[mask], torch.broadcast_to(v2, rho.shape)[mask], rho[mask],
                scale=torch.broadcast_to(scale, rho.shape)[mask], name=self.name,
                what="sigma'" if derivative else "sigma")
        return out

    def duals_prepared(self, p1, c, p2, *, derivative=False):
        v1, v2 = p1[0][..., 0], p2[0][..., 0]
        _, _, rho = _correlation(v1, c, v2)
        dual = self._series(p1[1:5], p2[1:5], v1, v2, rho, False)
        if not derivative:
            return dual, None
        return dual, self._series(p1[5:9], p2[5:9], v1, v2, rho, True)

    def duals(self, v1, c, v2, *, derivative=False):
        p1, p2 = self.prepare_pair(v1, v2, derivative=derivative)
        return self.duals_prepared(p1, c, p2, derivative=derivative)

