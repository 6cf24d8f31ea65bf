r"""Closed-form dual activations: relu, abs, abrelu / leaky relu, erf, gelu, sin, identity (formulas in
:mod:`ntklab.kernels._dual`).  Each is exact (to rounding) for every correlation and variance, rho = +-1 included.

The gelu pair follows from Stein's lemma with Phi(z) = P(xi <= z), xi ~ N(0, 1) independent: for
A = u - xi1, B = v - xi2 (variances 1 + v1, 1 + v2, covariance c),

    E[u Phi(u) v Phi(v)] = E[u v 1{A > 0} 1{B > 0}]
                         = c P(A > 0, B > 0) + v1 E[v delta(A) 1{B > 0}] + c E[v 1{A > 0} delta(B)],

each term a Gaussian conditional expectation in closed form, and E[sigma' sigma'] = d/dc E[sigma sigma] (Price).
abrelu is a z + (b - a) relu(z), so its duals are a b c + (b - a)^2 kappa_1 and a b + (b - a)^2 kappa_0
(E[u relu(v)] = c / 2).

Example:
    >>> import torch
    >>> from ntklab.kernels import dual_activation, leaky_relu
    >>> rho = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    >>> dual_activation(leaky_relu(0.1), rho, derivative=True)  # a b + (b - a)^2 kappa_0 = 0.1, (1 + 0.01) / 2
    tensor([0.1000, 0.5050], dtype=torch.float64)
"""

from __future__ import annotations

import math

import torch

from .._device import as_float64
from .._scratch import scratch
from ._dual import DualActivation, _correlation

__all__ = ["CLOSED_FORMS", "ABRelu", "Gelu", "abrelu", "leaky_relu"]

_TWO_PI = 2 * math.pi
_SQRT_2 = math.sqrt(2.0)


def _arc_cosine(v1, c, v2, *, derivative: bool, odd: bool, out=None):
    """relu (odd=False) or abs (odd=True) duals from one arccos, with few passes over the block; with ``out`` =
    (dual, ddual) buffers of the block's shape the block's three matrices (rho, the angle, the dual) live in a reused
    scratch buffer and in those two, so a repeated call faults in no fresh pages (same operations, same bits)."""
    if out is None:
        s1, s2, rho = _correlation(v1, c, v2)
        comp = torch.arccos(rho)
    else:
        shape, dtype = tuple(out[0].shape), out[0].dtype
        s1, s2, rho = _correlation(v1, c, v2, out=scratch("arc_cosine.rho", shape, dtype))
        comp = torch.arccos(rho, out=out[1] if derivative else scratch("arc_cosine.angle", shape, dtype))
    comp.neg_().add_(math.pi / 2 if odd else math.pi)  # pi/2 - theta or pi - theta
    wave = torch.cos if odd else torch.sin  # sin theta = cos(pi/2 - theta) = sin(pi - theta)
    sin = wave(comp) if out is None else wave(comp, out=out[0])
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

    def duals_into(self, p1, c, p2, out, *, derivative=False):
        return _arc_cosine(p1[0][..., 0], c, p2[0][..., 0], derivative=derivative, odd=False, out=out)

    def coefficients(self, v, degree):
        """Exact: a_k = E[relu^(k)(z)] / sqrt(k!) = phi(0) He_{k-2}(0) / sqrt(k!) for k >= 2 (Stein), times sqrt(v)."""
        c = [1 / math.sqrt(_TWO_PI), 0.5, 1 / math.sqrt(2 * _TWO_PI)][: degree + 1]
        for k in range(3, degree + 1):
            c.append(0.0 if k % 2 else c[k - 2] * -(k - 3) / math.sqrt((k - 1) * k))
        v = as_float64(v)
        return torch.sqrt(v)[..., None] * torch.tensor(c, dtype=torch.float64, device=v.device)


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

    def duals_into(self, p1, c, p2, out, *, derivative=False):
        return _arc_cosine(p1[0][..., 0], c, p2[0][..., 0], derivative=derivative, odd=True, out=out)

    def coefficients(self, v, degree):
        """Exact, from |z| = 2 relu(z) - z."""
        a = 2 * _Relu().coefficients(v, degree)
        if degree >= 1:
            a[..., 1] -= torch.sqrt(as_float64(v))
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


class ABRelu(DualActivation):
    """sigma(z) = a min(z, 0) + b max(z, 0) = a z + (b - a) relu(z) (neural-tangents' ``ABRelu(a, b)``)."""

    def __init__(self, a: float, b: float, name: str | None = None):
        self.a, self.b = float(a), float(b)
        self.name = name or f"abrelu({self.a:g}, {self.b:g})"

    def fn(self, z):
        return self.a * z + (self.b - self.a) * torch.relu(z)

    def derivative(self, z):
        return self.a + (self.b - self.a) * (z > 0).to(z.dtype)

    def mean(self, v):
        return (self.b - self.a) * torch.sqrt(as_float64(v) / _TWO_PI)

    def second_moment(self, v):
        return (self.a ** 2 + self.b ** 2) / 2 * as_float64(v)

    def derivative_second_moment(self, v):
        return torch.full_like(as_float64(v), (self.a ** 2 + self.b ** 2) / 2)

    def duals(self, v1, c, v2, *, derivative=False, out=None):
        k1, k0 = _arc_cosine(v1, c, v2, derivative=derivative, odd=False, out=out)
        jump, ab = (self.b - self.a) ** 2, self.a * self.b
        if ab != 0.0:  # + a b c, with c rebuilt from the clamped rho as the arc-cosine terms see it
            rho_out = None if out is None else scratch("abrelu.rho", tuple(out[0].shape), out[0].dtype)
            s1, s2, rho = _correlation(v1, c, v2, out=rho_out)
            dual = k1.mul_(jump).add_(rho.mul_(s1 * s2), alpha=ab)
        else:
            dual = k1.mul_(jump)
        return dual, (k0.mul_(jump).add_(ab) if derivative else None)

    def duals_into(self, p1, c, p2, out, *, derivative=False):
        return self.duals(p1[0][..., 0], c, p2[0][..., 0], derivative=derivative, out=out)

    def coefficients(self, v, degree):
        """Exact, from the relu coefficients: (b - a) a_k[relu] plus a sqrt(v) at k = 1."""
        out = (self.b - self.a) * _Relu().coefficients(v, degree)
        if degree >= 1:
            out[..., 1] += self.a * torch.sqrt(as_float64(v))
        return out


def abrelu(a: float, b: float) -> ABRelu:
    """The closed-form dual activation of a min(z, 0) + b max(z, 0)."""
    return ABRelu(a, b)


def leaky_relu(negative_slope: float = 0.01) -> ABRelu:
    """torch's ``leaky_relu(z, negative_slope)`` = abrelu(negative_slope, 1), in closed form."""
    slope = float(negative_slope)
    return ABRelu(slope, 1.0, "leaky_relu" if slope == 0.01 else f"leaky_relu({slope:g})")


def _Phi(z):
    return 0.5 * (1 + torch.erf(z / _SQRT_2))


class Gelu(DualActivation):
    """The exact (erf) GELU z Phi(z), as ``ntklab.nets`` and neural-tangents' ``stax.Gelu()`` define it."""

    name = "gelu"

    def fn(self, z):
        return z * _Phi(z)

    def derivative(self, z):
        return _Phi(z) + z * torch.exp(-0.5 * z * z) / math.sqrt(_TWO_PI)

    def mean(self, v):
        v = as_float64(v)
        return v / torch.sqrt(_TWO_PI * (v + 1))

    def second_moment(self, v):
        v = as_float64(v)
        return self.duals(v, v, v)[0]

    def derivative_second_moment(self, v):
        v = as_float64(v)
        return self.duals(v, v, v, derivative=True)[1]

    def duals(self, v1, c, v2, *, derivative=False):
        s1, s2, rho = _correlation(v1, c, v2)
        c = rho.mul_(s1 * s2)
        p = (v1 + 1) * (v2 + 1)
        delta2 = (c * c).neg_().add_(p)  # (1 + v1)(1 + v2) - c^2 >= 1 + v1 + v2 > 0
        delta = torch.sqrt(delta2)
        quarter = torch.arctan2(c, delta).div_(_TWO_PI).add_(0.25)  # 1/4 + alpha / (2 pi)
        s_prime = (1 - v1 * v2) / p
        dual = (c * c).mul_(s_prime).add_(v1 * v2).div_(delta).div_(_TWO_PI).addcmul_(c, quarter)
        if not derivative:
            return dual, None
        ddual = delta2.reciprocal_().add_(s_prime + 1).mul_(c).div_(delta).div_(_TWO_PI).add_(quarter)
        return dual, ddual


CLOSED_FORMS = {"relu": _Relu, "abs": _Abs, "erf": _Erf, "gelu": Gelu, "leaky_relu": leaky_relu, "sin": _Sin,
                "identity": _Identity}
