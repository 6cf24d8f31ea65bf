r"""Targets with known smoothness (and, where there is one, their exact L2 norm).

On [-1, 1]:
  - Gaussian  f(x) = exp(-x^2 / (2 s^2)),        ||f||^2 = s sqrt(pi) erf(1/s)            (analytic);
  - cusp      f(x) = |x - c|^beta, beta in (0, 1), ||f||^2 = ((1-c)^{2b+1} + (1+c)^{2b+1}) / (2b+1)
              (in H^t for t < beta + 1/2);
  - jump      f(x) = 1{x > x0}, x0 off any grid,  ||f||^2 = 1 - x0                        (in H^t, t < 1/2).
On S^{d-1} (surface measure, |S^{d-1}| from :func:`sphere_area`), with t = <x, z>:
  - zonal     f(x) = |<x, z>|^beta,  ||f||^2 = |S^{d-1}| Gamma(d/2) Gamma(beta+1/2) / (Gamma(1/2) Gamma(beta+d/2));
  - harmonics f(x) = sum_{l=1}^{L} l^{-s} h_l(x) / rms(h_l), h_l(x) = sum_k alpha_k P_l(<x, z_k>) a random degree-l
    spherical harmonic built from normalised Gegenbauer polynomials P_l = C_l^{(d-2)/2} / C_l^{(d-2)/2}(1).  By the
    addition theorem int P_l(<x,z>) P_l(<x,z'>) dS(x) = |S^{d-1}| P_l(<z,z'>) / N(d,l), N(d,l) the dimension of the
    degree-l harmonics, so rms(h_l) is exact and ||f||^2 = |S^{d-1}| sum_l l^{-2s}: Sobolev smoothness tuned by s.
User callables: :func:`target_from_callable`.

Example:
    >>> from ntklab.approximation import make_target, gauss_legendre
    >>> f = make_target("cusp", beta=0.5)
    >>> q = gauss_legendre(2000, breaks=f.singularities)
    >>> round(float(q.norm(f(q.x)) ** 2), 9)           # int |x| dx = 1
    1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from scipy.special import eval_gegenbauer

from .._errors import ConfigError, check_choice, check_range
from ._quadrature import sphere_area

__all__ = ["Target", "make_target", "target_from_callable", "TARGETS", "TARGET_DOMAINS", "harmonic_dimension"]


@dataclass(frozen=True)
class Target:
    """f evaluated on float64 nodes ((n,) on the interval, (n, d) on the sphere) -> (n,)."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    domain: str = "interval"
    singularities: tuple[float, ...] = ()  # 1-d points where f is not smooth (quadrature breaks)
    sq_norm: float | None = None  # exact ||f||_{L2}^2 where known
    options: dict = field(default_factory=dict)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def gaussian(*, s: float = 0.2) -> Target:
    check_range("target.s", s, 0.0, lo_open=True)
    return Target("gaussian", lambda x: torch.exp(-x * x / (2 * s * s)), "interval", (),
                  s * math.sqrt(math.pi) * math.erf(1 / s), {"s": s})


def cusp(*, beta: float = 0.5, center: float = 0.0) -> Target:
    check_range("target.beta", beta, 0.0, 1.0, lo_open=True, hi_open=True)
    check_range("target.center", center, -1.0, 1.0, lo_open=True, hi_open=True)
    e = 2 * beta + 1
    return Target("cusp", lambda x: (x - center).abs() ** beta, "interval", (center,),
                  ((1 - center) ** e + (1 + center) ** e) / e, {"beta": beta, "center": center})


def jump(*, x0: float = 1 / math.pi) -> Target:
    check_range("target.x0", x0, -1.0, 1.0, lo_open=True, hi_open=True)
    return Target("jump", lambda x: (x > x0).to(x.dtype), "interval", (x0,), 1.0 - x0, {"x0": x0})


def _unit(z, d: int) -> torch.Tensor:
    v = torch.zeros(d, dtype=torch.float64) if z is None else torch.as_tensor(z, dtype=torch.float64)
    if z is None:
        v[0] = 1.0
    if v.shape != (d,) or float(v.norm()) == 0:
        raise ConfigError("target.z", f"got shape {tuple(v.shape)}", allowed=f"a non-zero vector of length d={d}")
    return v / v.norm()


def zonal(*, d: int = 3, beta: float = 0.5, z=None) -> Target:
    check_range("target.beta", beta, 0.0, lo_open=True)
    zz = _unit(z, d)
    mom = math.exp(math.lgamma(d / 2) + math.lgamma(beta + 0.5) - math.lgamma(0.5) - math.lgamma(beta + d / 2))
    return Target("zonal", lambda x: (x @ zz).abs() ** beta, "sphere", (), sphere_area(d) * mom,
                  {"d": d, "beta": beta})


def harmonic_dimension(d: int, l: int) -> int:
    """N(d, l): dimension of the degree-l spherical harmonics on S^{d-1}."""
    if l == 0:
        return 1
    return round((2 * l + d - 2) / l * math.comb(l + d - 3, l - 1))


def _gegenbauer(l: int, d: int, t: np.ndarray) -> np.ndarray:
    """Normalised P_l^{(d)}(t) with P_l(1) = 1 (Chebyshev T_l for d = 2)."""
    if d == 2:
        return np.cos(l * np.arccos(np.clip(t, -1, 1)))
    lam = (d - 2) / 2
    return eval_gegenbauer(l, lam, t) / eval_gegenbauer(l, lam, 1.0)


def harmonics(*, d: int = 3, degree: int = 8, s: float = 2.0, centres: int = 4, seed: int = 0) -> Target:
    if d < 2 or degree < 1 or centres < 1:
        raise ConfigError("target", f"d={d}, degree={degree}, centres={centres}",
                          allowed="d >= 2, degree >= 1, centres >= 1")
    gen = torch.Generator().manual_seed(seed)
    parts = []
    for l in range(1, degree + 1):
        z = torch.randn(centres, d, generator=gen, dtype=torch.float64)
        z = (z / z.norm(dim=1, keepdim=True)).numpy()
        alpha = torch.randn(centres, generator=gen, dtype=torch.float64).numpy()
        gram = _gegenbauer(l, d, np.clip(z @ z.T, -1, 1))
        rms = math.sqrt(float(alpha @ gram @ alpha) / harmonic_dimension(d, l))  # ||h_l|| / sqrt|S|
        parts.append((l, z, alpha * l ** (-s) / rms))

    def fn(x: torch.Tensor) -> torch.Tensor:
        xn = x.detach().cpu().numpy()
        out = sum(_gegenbauer(l, d, np.clip(xn @ z.T, -1, 1)) @ c for l, z, c in parts)
        return torch.as_tensor(out, dtype=x.dtype, device=x.device)

    sq = sphere_area(d) * sum(l ** (-2 * s) for l in range(1, degree + 1))
    return Target("harmonics", fn, "sphere", (), sq, {"d": d, "degree": degree, "s": s, "seed": seed})


def target_from_callable(fn: Callable, *, name: str = "custom", domain: str = "interval",
                         singularities=(), sq_norm: float | None = None) -> Target:
    """Wrap a user function (torch tensor -> tensor of shape (n,)) as a Target."""
    check_choice("target.domain", domain, ("interval", "sphere"))
    if not callable(fn):
        raise ConfigError("target", f"got {type(fn).__name__}", allowed="a callable")
    return Target(name, fn, domain, tuple(singularities), sq_norm)


TARGETS: dict[str, Callable[..., Target]] = {"gaussian": gaussian, "cusp": cusp, "jump": jump,
                                             "zonal": zonal, "harmonics": harmonics}
TARGET_DOMAINS = {"gaussian": "interval", "cusp": "interval", "jump": "interval", "zonal": "sphere",
                  "harmonics": "sphere"}  # where each named target lives: [-1, 1] or S^{d-1}


def make_target(name: str, **options) -> Target:
    """The named target function (``gaussian``, ``cusp`` |x|^β, ``jump``, on [−1, 1]; ``zonal``, ``harmonics``
    on S^{d-1}) with its ``options``; a bad name or option raises one ConfigError naming it."""
    check_choice("target", name, tuple(TARGETS))
    try:
        return TARGETS[name](**options)
    except TypeError as e:
        raise ConfigError(f"target.{name}", str(e)) from None
