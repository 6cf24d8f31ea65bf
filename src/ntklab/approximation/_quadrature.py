r"""Continuous L2 losses by quadrature: the infinite-sample setting of approximation theory.

On [-1, 1] the L2 norm ||g||^2 = int_{-1}^{1} g(x)^2 dx is replaced by Gauss-Legendre quadrature
sum_q omega_q g(x_q)^2 (exact for polynomials of degree 2n - 1 on each panel).  ``breaks`` split [-1, 1]
into panels (e.g. at a target's cusp or jump) with nodes shared out in proportion to the panel lengths, so a
piecewise-smooth target integrates to high accuracy.  On the sphere S^{d-1} the surface measure is replaced by
seeded Monte Carlo: n uniform points with equal weights |S^{d-1}| / n, |S^{d-1}| = 2 pi^{d/2} / Gamma(d/2).

A :class:`Quadrature` is a weighted data source: nodes ``x``, weights ``w``; ``norm(g(x))`` is the L2 norm,
``dataset(target)`` the :class:`~ntklab.data.Dataset` the training loops read (weights in ``extra``).

Example:
    >>> import torch
    >>> from ntklab.approximation import gauss_legendre
    >>> q = gauss_legendre(2000)
    >>> round(float(q.integrate(q.x ** 2)), 12)      # int x^2 = 2/3
    0.666666666667
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.special import roots_legendre

from .._errors import ConfigError
from ..data import Dataset, uniform_sphere

__all__ = ["Quadrature", "gauss_legendre", "sphere_monte_carlo", "sphere_area"]


@dataclass(frozen=True)
class Quadrature:
    """Nodes ``x`` ((n,) on the interval, (n, d) on the sphere) and weights ``w`` (n,), float64."""

    x: torch.Tensor
    w: torch.Tensor
    domain: str  # "interval" or "sphere"

    @property
    def n(self) -> int:
        return self.w.shape[0]

    def integrate(self, values: torch.Tensor) -> torch.Tensor:
        """sum_q w_q values_q over the last axis (batched values (..., n) allowed)."""
        return (values * self.w).sum(-1)

    def norm(self, values: torch.Tensor) -> torch.Tensor:
        """The L2 norm of g from its node values g(x_q)."""
        return self.integrate(values * values).sqrt()

    def inputs(self) -> torch.Tensor:
        """Nodes as network inputs, shape (n, d) (d = 1 on the interval)."""
        return self.x[:, None] if self.x.ndim == 1 else self.x

    def dataset(self, target, *, name: str = "quadrature") -> Dataset:
        """The target at the nodes as a Dataset (train = test = nodes); weights in ``extra['weights']``."""
        x = self.inputs()
        y = target(self.x)[:, None]
        return Dataset(name, x, y, x, y, extra={"weights": self.w, "domain": self.domain})


@lru_cache(maxsize=64)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return roots_legendre(n)


def gauss_legendre(n: int = 2000, *, breaks=()) -> Quadrature:
    """Composite Gauss-Legendre rule with n nodes on [-1, 1], panels split at ``breaks``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError("quadrature.n", f"got {n!r}", allowed="integers >= 1")
    cuts = sorted({float(b) for b in breaks})
    if any(not -1.0 < b < 1.0 for b in cuts):
        raise ConfigError("quadrature.breaks", f"got {cuts}", allowed="points inside (-1, 1)")
    edges = np.array([-1.0, *cuts, 1.0])
    lengths = np.diff(edges)
    if n < len(lengths):
        raise ConfigError("quadrature.n", f"{n} nodes for {len(lengths)} panels", allowed=f">= {len(lengths)}")
    share = np.maximum(1, np.floor(n * lengths / 2.0).astype(int))
    share[np.argmax(lengths)] += n - share.sum()  # the rounding remainder goes to the longest panel
    xs, ws = [], []
    for (lo, hi), k in zip(zip(edges[:-1], edges[1:]), share):
        t, wt = _legendre(int(k))
        xs.append(0.5 * (hi - lo) * t + 0.5 * (hi + lo))
        ws.append(0.5 * (hi - lo) * wt)
    x, w = np.concatenate(xs), np.concatenate(ws)
    return Quadrature(torch.from_numpy(x), torch.from_numpy(w), "interval")


def sphere_area(d: int) -> float:
    """|S^{d-1}| = 2 pi^{d/2} / Gamma(d/2)."""
    return 2 * math.pi ** (d / 2) / math.gamma(d / 2)


def sphere_monte_carlo(n: int = 10_000, d: int = 3, *, seed: int) -> Quadrature:
    """n seeded uniform points on S^{d-1} with equal weights |S^{d-1}| / n (surface measure)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError("quadrature.n", f"got {n!r}", allowed="integers >= 1")
    if isinstance(d, bool) or not isinstance(d, int) or d < 2:
        raise ConfigError("d", f"got {d!r}", allowed="integers >= 2")
    x = uniform_sphere(n, d, generator=torch.Generator().manual_seed(seed))
    w = torch.full((n,), sphere_area(d) / n, dtype=torch.float64)
    return Quadrature(x, w, "sphere")
