r"""Dual activations: E[sigma(u) sigma(v)] and E[sigma'(u) sigma'(v)] for (u, v) ~ N(0, [[v1, c], [c, v2]]).

Write rho = c / sqrt(v1 v2) (clamped to [-1, 1]), theta = arccos(rho), s = sqrt(v1 v2).  Closed forms:

    relu      E[sigma sigma] = s (sin theta + (pi - theta) cos theta) / (2 pi);  E[sigma' sigma'] = (pi - theta)/(2 pi)
    abs       (2 s / pi) (sin theta + (pi/2 - theta) cos theta)                  1 - 2 theta / pi
    erf       (2/pi) arcsin(2c / sqrt((1 + 2 v1)(1 + 2 v2)))                     (4/pi) / sqrt((1+2v1)(1+2v2) - 4c^2)
    sin       exp(-(v1 + v2)/2) sinh(c)                                          exp(-(v1 + v2)/2) cosh(c)
    identity  c                                                                  1

An affine map a * (sigma - b) (e.g. ``normalized_relu`` = normalize(relu)) keeps its base's closed form:
E = a^2 (E[sigma sigma] - b (m(v1) + m(v2)) + b^2) with m(v) = E[sigma(u)], and a^2 E[sigma' sigma'].
Any other sigma (tanh, gelu, softplus, user callables) uses Mehler's formula with Gauss–Hermite coefficients
a_k(v) of z -> sigma(sqrt(v) z):

    E[sigma(u) sigma(v)] = sum_k a_k(v1) a_k(v2) rho^k,

truncated where the remaining Hermite mass sum_{j>k} a_j^2 falls below 1e-13 E[sigma^2] (so the error is at most
that, for every rho); sigma' comes from autograd when not given.  Diagonals (rho = 1) use 1-d quadrature directly.

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


__all__ = ["DualActivation", "Affine", "CLOSED_FORMS", "normalized"]

_TWO_PI = 2 * math.pi


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

    def coefficients(self, v, degree: int) -> torch.Tensor:
        """Orthonormal Hermite coefficients a_0..a_degree of z -> sigma(sqrt(v) z) (Gauss–Hermite quadrature)."""
        from ._gauss_hermite import hermite_coefficients_of

        return hermite_coefficients_of(self.fn, v, degree, order=1024)

    def __repr__(self) -> str:
        return f"DualActivation({self.name!r})"


def _correlation(v1, c, v2):
    """(sqrt(v1), sqrt(v2), rho) with rho = c / sqrt(v1 v2) clamped to [-1, 1] (0 where v1 v2 = 0).

    The square roots stay at the (broadcastable) shapes of v1 and v2, so on an (n1, n2) block only rho is a matrix.
    """
    s1, s2 = torch.sqrt(v1), torch.sqrt(v2)
    r1 = torch.where(s1 > 0, 1 / torch.where(s1 > 0, s1, 1.0), 0.0)
    r2 = torch.where(s2 > 0, 1 / torch.where(s2 > 0, s2, 1.0), 0.0)
    return s1, s2, (c * r1).mul_(r2).clamp_(-1.0, 1.0)


def _arc_cosine(v1, c, v2, *, derivative: bool, odd: bool):
    """relu (odd=False) or abs (odd=True) duals from one arccos, with few passes over the block."""
    s1, s2, rho = _correlation(v1, c, v2)
    comp = torch.arccos(rho).neg_().add_(math.pi / 2 if odd else math.pi)  # pi/2 - theta or pi - theta
    sin = torch.cos(comp) if odd else torch.sin(comp)  # sin theta = cos(pi/2 - theta) = sin(pi - theta)
    scale = (2 / math.pi) if odd else 1 / _TWO_PI
    dual = sin.addcmul_(comp, rho).mul_(s1 * scale).mul_(s2)
    if not derivative:
        return dual, None
    return dual, (comp.mul_(2 / math.pi) if odd else comp.mul_(1 / _TWO_PI))


class _Relu(DualActivation):
    name = "relu"

    def fn(self, z):
        return torch.relu(z)

    def derivative(self, z):
        return (z > 0).to(z.dtype)

    def mean(self, v):
        return torch.sqrt(v / _TWO_PI)

    def second_moment(self, v):
        return v / 2

    def derivative_second_moment(self, v):
        return torch.full_like(v, 0.5)

    def duals(self, v1, c, v2, *, derivative=False):
        return _arc_cosine(v1, c, v2, derivative=derivative, odd=False)

    def coefficients(self, v, degree):
        """Exact: a_k = E[relu^(k)(z)] / sqrt(k!) = phi(0) He_{k-2}(0) / sqrt(k!) for k >= 2 (Stein), times sqrt(v)."""
        c = [1 / math.sqrt(_TWO_PI), 0.5, 1 / math.sqrt(2 * _TWO_PI)][: degree + 1]
        for k in range(3, degree + 1):
            c.append(0.0 if k % 2 else c[k - 2] * -(k - 3) / math.sqrt((k - 1) * k))
        return torch.sqrt(torch.as_tensor(v, dtype=torch.float64))[..., None] * torch.tensor(c, dtype=torch.float64)


class _Abs(DualActivation):
    name = "abs"

    def fn(self, z):
        return torch.abs(z)

    def derivative(self, z):
        return torch.sign(z)

    def mean(self, v):
        return torch.sqrt(2 * v / math.pi)

    def second_moment(self, v):
        return v.clone()

    def derivative_second_moment(self, v):
        return torch.ones_like(v)

    def duals(self, v1, c, v2, *, derivative=False):
        return _arc_cosine(v1, c, v2, derivative=derivative, odd=True)

    def coefficients(self, v, degree):
        """Exact, from |z| = 2 relu(z) - z."""
        a = 2 * _Relu().coefficients(v, degree)
        if degree >= 1:
            a[..., 1] -= torch.sqrt(torch.as_tensor(v, dtype=torch.float64))
        return a


class _Erf(DualActivation):
    name = "erf"

    def fn(self, z):
        return torch.erf(z)

    def derivative(self, z):
        return (2 / math.sqrt(math.pi)) * torch.exp(-z * z)

    def mean(self, v):
        return torch.zeros_like(v)

    def second_moment(self, v):
        return (2 / math.pi) * torch.arcsin(2 * v / (1 + 2 * v))

    def derivative_second_moment(self, v):
        return (4 / math.pi) / torch.sqrt(1 + 4 * v)

    def duals(self, v1, c, v2, *, derivative=False):
        s1, s2, rho = _correlation(v1, c, v2)
        c = rho * (s1 * s2)
        prod = (1 + 2 * v1) * (1 + 2 * v2)
        dual = (2 / math.pi) * torch.arcsin(torch.clamp(2 * c / torch.sqrt(prod), -1, 1))
        if not derivative:
            return dual, None
        return dual, (4 / math.pi) / torch.sqrt(torch.clamp(prod - 4 * c * c, min=1e-300))


class _Sin(DualActivation):
    name = "sin"

    def fn(self, z):
        return torch.sin(z)

    def derivative(self, z):
        return torch.cos(z)

    def mean(self, v):
        return torch.zeros_like(v)

    def second_moment(self, v):
        return -0.5 * torch.expm1(-2 * v)

    def derivative_second_moment(self, v):
        return 0.5 * (1 + torch.exp(-2 * v))

    def duals(self, v1, c, v2, *, derivative=False):
        damp = torch.exp(-(v1 + v2) / 2)
        return damp * torch.sinh(c), (damp * torch.cosh(c) if derivative else None)


class _Identity(DualActivation):
    name = "identity"

    def fn(self, z):
        return z

    def derivative(self, z):
        return torch.ones_like(z)

    def mean(self, v):
        return torch.zeros_like(v)

    def second_moment(self, v):
        return v.clone()

    def derivative_second_moment(self, v):
        return torch.ones_like(v)

    def duals(self, v1, c, v2, *, derivative=False):
        c = torch.broadcast_to(c, torch.broadcast_shapes(v1.shape, c.shape, v2.shape)).clone()
        return c, (torch.ones_like(c) if derivative else None)


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
        dual, ddual = self.base.duals_prepared(p1[:-1], c, p2[:-1], derivative=derivative)
        b, a2 = self.shift, self.scale ** 2
        if b != 0.0:
            dual = dual - b * (p1[-1][..., 0] + p2[-1][..., 0]) + b * b
        return dual.mul_(a2), (ddual.mul_(a2) if derivative else None)


CLOSED_FORMS = {"relu": _Relu, "abs": _Abs, "erf": _Erf, "sin": _Sin, "identity": _Identity}


def normalized(base: DualActivation, name: str | None = None) -> Affine:
    """The affine map a (base - b) with mean 0 and second moment 1 under N(0, 1)."""
    from .._errors import ConfigError

    one = torch.ones((), dtype=torch.float64)
    m, s2 = float(base.mean(one)), float(base.second_moment(one))
    var = s2 - m * m
    if not var > 1e-12 * max(s2, 1e-300):
        raise ConfigError("activation", f"{base.name!r} is constant under N(0, 1) and cannot be normalised",
                          allowed="an activation with positive variance")
    return Affine(base, 1 / math.sqrt(var), m, name or f"normalized {base.name}")
