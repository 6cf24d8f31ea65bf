r"""Dual activations: E[sigma(u) sigma(v)] and E[sigma'(u) sigma'(v)] for (u, v) ~ N(0, [[v1, c], [c, v2]]).

Write rho = c / sqrt(v1 v2) (clamped to [-1, 1]), theta = arccos(rho), s = sqrt(v1 v2).  The closed forms (all
exact for every rho and variance, :mod:`ntklab.kernels._closed_forms`):

    sigma       E[sigma(u) sigma(v)]                                       E[sigma'(u) sigma'(v)]
    relu        kappa_1 = s (sin theta + (pi - theta) cos theta) / (2 pi)  kappa_0 = (pi - theta) / (2 pi)
    abs         (2 s / pi) (sin theta + (pi/2 - theta) cos theta)          1 - 2 theta / pi
    abrelu      a b c + (b - a)^2 kappa_1                                  a b + (b - a)^2 kappa_0
    leaky_relu  abrelu with (a, b) = (negative slope, 1)
    erf         (2/pi) arcsin(2c / sqrt((1 + 2 v1)(1 + 2 v2)))             (4/pi) / sqrt((1+2v1)(1+2v2) - 4c^2)
    gelu        c (1/4 + alpha/(2 pi)) + (v1 v2 + c^2 s') / (2 pi delta)   1/4 + alpha/(2 pi)
                                                                           + c (1 + s' + delta^-2) / (2 pi delta)
    sin         exp(-(v1 + v2)/2) sinh(c)                                  exp(-(v1 + v2)/2) cosh(c)
    identity    c                                                          1

(abrelu: sigma(z) = a min(z, 0) + b max(z, 0).  gelu: sigma(z) = z Phi(z), delta^2 = (1 + v1)(1 + v2) - c^2,
alpha = arctan2(c, delta), s' = (1 - v1 v2) / ((1 + v1)(1 + v2)); the same as neural-tangents' ``stax.Gelu``.)

An affine map a * (sigma - b) (e.g. ``normalized_relu`` = normalize(relu)) keeps its base's closed form:
E = a^2 (E[sigma sigma] - b (m(v1) + m(v2)) + b^2) with m(v) = E[sigma(u)], and a^2 E[sigma' sigma'].  Any other
sigma (tanh, softplus, user callables) is a :class:`~ntklab.kernels._mehler.QuadratureActivation`: Mehler series
and bivariate quadrature to 1e-13 sqrt(E[sigma(u)^2] E[sigma(v)^2]) for every rho, or a KernelAccuracyError.

Example:
    >>> import torch
    >>> from ntklab.kernels import dual_activation
    >>> round(float(dual_activation("normalized_relu", torch.tensor(1.0))), 12)  # normalised: sigma-hat(1) = 1
    1.0
    >>> round(float(dual_activation("relu", torch.tensor(0.0), derivative=True)), 6)
    0.25
"""

from __future__ import annotations

import math

import torch

from .._device import as_float64

__all__ = ["DualActivation", "Affine", "affine", "normalized"]


class DualActivation:
    """An elementwise sigma with its Gaussian moments and duals (all float64, broadcasting)."""

    name: str = "sigma"

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)

    def fn(self, z):
        raise NotImplementedError

    def derivative(self, z):
        raise NotImplementedError

    def mean(self, v):
        """E[sigma(u)], u ~ N(0, v)."""
        raise NotImplementedError

    def second_moment(self, v):
        """E[sigma(u)^2]."""
        raise NotImplementedError

    def derivative_second_moment(self, v):
        """E[sigma'(u)^2]."""
        raise NotImplementedError

    def duals(self, v1, c, v2, *, derivative: bool = False):
        """(E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)] or None), broadcasting v1, c, v2."""
        raise NotImplementedError

    def prepare_pair(self, v1, v2, *, derivative: bool = False):
        """Per-point data for :meth:`duals_prepared`: two tuples of (*v.shape, m) tensors, computed once per layer
        and sliced by block (quadrature activations keep their Hermite coefficients here)."""
        return (v1[..., None],), (v2[..., None],)

    def duals_prepared(self, p1, c, p2, *, derivative: bool = False):
        """:meth:`duals` from prepared per-point data (p1, p2 broadcast against c with one trailing axis)."""
        return self.duals(p1[0][..., 0], c, p2[0][..., 0], derivative=derivative)

    def duals_into(self, p1, c, p2, out, *, derivative: bool = False):
        """:meth:`duals_prepared`, free to write its results into ``out`` = (dual, ddual), two tensors of c's shape
        that alias neither c nor each other (the recursion's reused block buffers).  The results may be those
        buffers or fresh tensors; this default ignores them, closed forms override it."""
        return self.duals_prepared(p1, c, p2, derivative=derivative)

    def coefficients(self, v, degree: int) -> torch.Tensor:
        """Orthonormal Hermite coefficients a_0..a_degree of z -> sigma(sqrt(v) z) (the resolved 1-d rule of
        :mod:`ntklab.kernels._gaussian_rule`, converged to 3e-14 in l2)."""
        from ._gaussian_rule import gaussian_projection, on_unique

        return on_unique(lambda r: gaussian_projection(self.fn, r, degree, name=self.name).coefficients,
                         as_float64(v))

    def __repr__(self) -> str:
        return f"DualActivation({self.name!r})"


_SNAP = 1.0 + 2.0 ** -50  # |rho| within 4 ulp of 1 is +-1 (see _correlation)


def _correlation(v1, c, v2, out=None):
    """(sqrt(v1), sqrt(v2), rho) with rho = c / sqrt(v1 v2) clamped to [-1, 1] (0 where v1 v2 = 0).

    rho is scaled by 1 + 2^-50 before the clamp, so |rho| within 4 ulp (9e-16) of 1 becomes exactly +-1: duplicated
    and antipodal points, whose c and sqrt(v1 v2) differ only by rounding, then get the exact rho = +-1 duals.
    Without it the square-root singularity of kinked duals at |rho| = 1 (relu: Sigma-dot ~ 1/2 - sqrt(2 (1 - rho))
    / (2 pi)) turns that rounding into errors of ~1e-9; with it a pair that truly is that near-parallel errs by at most
    sqrt(2 * 9e-16) / (2 pi) = 7e-9, what its own rounding leaves undetermined anyway.  The square roots stay at the
    (broadcastable) shapes of v1 and v2, so on an (n1, n2) block only rho is a matrix; ``out`` (of rho's shape,
    not aliasing c) receives it if given.
    """
    s1, s2 = torch.sqrt(v1), torch.sqrt(v2)
    r1 = torch.where(s1 > 0, _SNAP / torch.where(s1 > 0, s1, 1.0), 0.0)
    r2 = torch.where(s2 > 0, 1 / torch.where(s2 > 0, s2, 1.0), 0.0)
    rho = c * r1 if out is None else torch.mul(c, r1, out=out)
    return s1, s2, rho.mul_(r2).clamp_(-1.0, 1.0)


class Affine(DualActivation):
    """scale * (base(z) - shift); duals from the base's (closed form or quadrature)."""

    def __init__(self, base: DualActivation, scale: float, shift: float, name: str):
        self.base, self.scale, self.shift, self.name = base, float(scale), float(shift), name

    def fn(self, z):
        return self.scale * (self.base.fn(z) - self.shift)

    def derivative(self, z):
        return self.scale * self.base.derivative(z)

    def mean(self, v):
        return self.scale * (self.base.mean(v) - self.shift)

    def second_moment(self, v):
        b = self.shift
        return self.scale ** 2 * (self.base.second_moment(v) - 2 * b * self.base.mean(v) + b * b)

    def derivative_second_moment(self, v):
        return self.scale ** 2 * self.base.derivative_second_moment(v)

    def coefficients(self, v, degree):
        a = self.scale * self.base.coefficients(v, degree)
        a[..., 0] -= self.scale * self.shift
        return a

    def duals(self, v1, c, v2, *, derivative=False):
        p1, p2 = self.prepare_pair(v1, v2, derivative=derivative)
        return self.duals_prepared(p1, c, p2, derivative=derivative)

    def prepare_pair(self, v1, v2, *, derivative=False):
        p1, p2 = self.base.prepare_pair(v1, v2, derivative=derivative)
        return p1 + (self.base.mean(v1)[..., None],), p2 + (self.base.mean(v2)[..., None],)

    def duals_prepared(self, p1, c, p2, *, derivative=False):
        return self._shifted(self.base.duals_prepared(p1[:-1], c, p2[:-1], derivative=derivative), p1, p2,
                             derivative)

    def duals_into(self, p1, c, p2, out, *, derivative=False):
        return self._shifted(self.base.duals_into(p1[:-1], c, p2[:-1], out, derivative=derivative), p1, p2,
                             derivative)

    def _shifted(self, duals, p1, p2, derivative):
        dual, ddual = duals
        b, a2 = self.shift, self.scale ** 2
        if b != 0.0:
            dual = dual - b * (p1[-1][..., 0] + p2[-1][..., 0]) + b * b
        return dual.mul_(a2), (ddual.mul_(a2) if derivative else None)


def affine(base: DualActivation, scale: float, shift: float, name: str) -> DualActivation:
    """scale * (base - shift): an :class:`Affine` of a closed form, or a quadrature activation of its own (so that
    its stated tolerance is relative to the map's own moments, not the base's)."""
    make = getattr(base, "affine_map", None)
    return make(float(scale), float(shift), name) if make is not None else Affine(base, scale, shift, name)


def normalized(base: DualActivation, name: str | None = None) -> DualActivation:
    """The affine map a (base - b) with mean 0 and second moment 1 under N(0, 1)."""
    from .._errors import ConfigError

    one = torch.ones((), dtype=torch.float64, device="cpu")
    m, s2 = float(base.mean(one)), float(base.second_moment(one))
    var = s2 - m * m
    if not var > 1e-12 * max(s2, 1e-300):
        raise ConfigError("activation", f"{base.name!r} is constant under N(0, 1) and cannot be normalised",
                          allowed="an activation with positive variance")
    return affine(base, 1 / math.sqrt(var), m, name or f"normalized {base.name}")
