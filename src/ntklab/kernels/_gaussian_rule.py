r"""Resolved 1-d Gaussian quadrature: moments and Hermite coefficients of sigma(sqrt(v) z), converged or refused.

Gauss–Hermite rules put their nodes where a polynomial needs them; z -> tanh(sqrt(v) z) at v = 60 varies on a
scale 1/sqrt(v) ~ 0.13 near 0 and a 1024-node Gauss–Hermite rule misses its moments by ~1e-4.  Here every
expectation over z ~ N(0, 1) uses a composite Gauss–Legendre rule: P equal panels of 16 nodes on [-14, 14]
(P even, so z = 0, where relu-like kinks sit, is a panel boundary; P(|z| > 14) = 1.6e-44),

    E[f(z)] ~= sum_i w_i phi(z_i) f(z_i),

started at a panel width min(1.75, 1.5 / sqrt(v), 6 / sqrt(K + 1)) (the activation's unit scale seen through
sqrt(v); about one period 2 pi / sqrt(K) of the degree-K Hermite polynomials) and doubled until two successive
rules agree to QUADRATURE_TOLERANCE (1e-14) relative to sqrt(E[f^2]) on every requested quantity:

    E[f],   E[f^2],   a_k = E[f(z) h_k(z)]  (k = 0..K, orthonormal h_k, the l2 norm of the change).

The finer rule's values are returned.  A rule that reaches 2^16 nodes without agreeing raises
:class:`~ntklab.kernels.KernelAccuracyError` (the accuracy reached is the last change); an integrand that is not
finite, or whose mass sits at the rule's ends (growth like exp(u^2 / (4 v))), is refused as an infinite moment.

Example:
    >>> import torch
    >>> from ntklab.kernels._gaussian_rule import gaussian_projection
    >>> p = gaussian_projection(torch.tanh, torch.tensor([60.0], dtype=torch.float64), 0, name="tanh")
    >>> round(float(p.second_moment[0]), 12)  # E[tanh(u)^2], u ~ N(0, 60)
    0.897689593769
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from numpy.polynomial.legendre import leggauss

from .._device import as_float64
from .._errors import ConfigError
from ._accuracy import QUADRATURE_TOLERANCE, KernelAccuracyError

__all__ = ["HALF_WIDTH", "NODES_PER_PANEL", "MAX_NODES", "gaussian_rule", "panel_rule", "graded_edges",
           "initial_panels", "gaussian_projection", "Projection", "on_unique"]

HALF_WIDTH = 14.0
NODES_PER_PANEL = 16
MAX_NODES = 2 ** 16
_EDGE = HALF_WIDTH - 2.0  # mass beyond |z| = 12 must be negligible: phi(12)^(1/2) ~ 1e-16 for bounded f


@lru_cache(maxsize=8)
def _legendre() -> tuple[np.ndarray, np.ndarray]:
    return leggauss(NODES_PER_PANEL)


@lru_cache(maxsize=64)
def graded_edges(first: float, widest: float, split: int = 1) -> np.ndarray:
    """Panel edges on [0, 1] graded away from 0: widths first * 1.25^k (at most ``widest``), the last one cut at 1,
    then every panel split into ``split`` equal parts (``first`` and ``widest`` as fractions of the interval)."""
    first, widest = min(first, widest, 1.0), min(widest, 1.0)
    edges, width = [0.0], first
    while edges[-1] < 1.0:
        edges.append(min(1.0, edges[-1] + width))
        width = min(widest, 1.25 * width)
    if len(edges) > 2 and edges[-1] - edges[-2] < 0.25 * (edges[-2] - edges[-3]):
        edges.pop(-2)  # no sliver at the end
    e = np.asarray(edges)
    if split > 1:
        e = np.concatenate([np.linspace(a, b, split + 1)[:-1] for a, b in zip(e[:-1], e[1:])] + [e[-1:]])
    return e


def panel_rule(lo, hi, panels: int | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite Gauss–Legendre nodes and weights (plain, no Gaussian factor) on [lo, hi] for broadcast tensors
    lo, hi: ``panels`` equal panels, or panel edges given as fractions of [lo, hi] (an array from 0 to 1);
    shape (*lo.shape, n_panels * 16)."""
    x, w = _legendre()
    lo = as_float64(lo)
    hi = as_float64(hi, device=lo.device)
    x = torch.as_tensor(x, dtype=torch.float64, device=lo.device)
    w = torch.as_tensor(w, dtype=torch.float64, device=lo.device)
    if isinstance(panels, np.ndarray):
        edges = torch.as_tensor(panels, dtype=torch.float64, device=lo.device)
    else:
        edges = torch.linspace(0.0, 1.0, panels + 1, dtype=torch.float64, device=lo.device)
    left, width = edges[:-1], edges[1:] - edges[:-1]
    frac = (left[:, None] + width[:, None] * (x[None, :] + 1) / 2).reshape(-1)  # (panels * 16,) in [0, 1]
    wfrac = (width[:, None] * w[None, :] / 2).reshape(-1)
    span = (hi - lo)[..., None]
    return lo[..., None] + span * frac, span * wfrac


@lru_cache(maxsize=32)
def _rule_numpy(panels: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = panel_rule(-HALF_WIDTH, HALF_WIDTH, panels)
    z, w = z.numpy(), w.numpy()
    return z, w * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def gaussian_rule(panels: int, *, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes z_i and weights w_i phi(z_i) of the composite rule with ``panels`` panels (float64, on ``device``)."""
    z, w = _rule_numpy(int(panels))
    return torch.as_tensor(z, device=device), torch.as_tensor(w, device=device)


def initial_panels(v_max: float, degree: int = 0) -> int:
    """The starting panel count for variances up to v_max and Hermite degree ``degree``: a power of two (so that
    0 is a panel boundary and successive calls share rules and cached bases)."""
    h = min(1.75, 1.5 / math.sqrt(max(v_max, 1e-300)), 6.0 / math.sqrt(degree + 1))
    return 2 ** max(1, math.ceil(math.log2(2 * HALF_WIDTH / h)))


def _weighted_hermite(z: torch.Tensor, w: torch.Tensor, degree: int) -> torch.Tensor:
    """w_i h_k(z_i) as rows k = 0..degree, (degree + 1, N), by the stable recurrence
    h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k + 1) (on |z| <= 14 the values stay below ~1e20, so float64
    neither overflows nor loses the small weights)."""
    out = torch.empty(degree + 1, z.shape[0], dtype=torch.float64, device=z.device)
    out[0] = w
    if degree >= 1:
        torch.mul(z, w, out=out[1])
    for k in range(1, degree):
        torch.mul(z, out[k], out=out[k + 1]).sub_(out[k - 1], alpha=math.sqrt(k)).div_(math.sqrt(k + 1))
    return out


# (panels, device) -> (K + 1, N) weighted Hermite rows at the largest K asked so far
_BASES: dict[tuple[int, str], torch.Tensor] = {}


def _hermite_basis(panels: int, degree: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The rule's weighted Hermite basis as an (N, degree + 1) view on ``device``, cached per rule and device at the
    largest degree built so far (lower degrees are its first rows): successive layers, the derivative dual and the
    degree ladder 256 / 1024 / 2048 share it.  At most three are kept (at degree 2048 on 8192 nodes a basis is
    134 MB), built where they are used (never copied across devices on each call)."""
    key = (panels, str(torch.device(device)))
    rows = _BASES.get(key)
    if rows is None or rows.shape[0] <= degree:
        z, w = gaussian_rule(panels, device=device)
        rows = _weighted_hermite(z, w, degree)
        _BASES.pop(key, None)
        while len(_BASES) >= 3:
            _BASES.pop(next(iter(_BASES)))
        _BASES[key] = rows
    return rows[: degree + 1].T


@dataclass
class Projection:
    """Converged 1-d quantities per variance: E[f], E[f^2], the coefficients a_0..a_K (or None), the node count,
    and ``change``, the last refinement's largest change relative to sqrt(E[f^2]) (an estimate of the error left,
    at most QUADRATURE_TOLERANCE)."""

    mean: torch.Tensor
    second_moment: torch.Tensor
    coefficients: torch.Tensor | None
    nodes: int
    change: torch.Tensor


def _evaluate(fn, v, panels, degree, name, what):
    z, w = gaussian_rule(panels, device=v.device)
    try:
        vals = fn(torch.sqrt(v.clamp(min=0))[:, None] * z)
        if not isinstance(vals, torch.Tensor):
            raise TypeError(f"it returned {type(vals).__name__}, not a tensor")
    except Exception as exc:  # a callable that does not take (or give) float64 tensors
        raise ConfigError("activation", f"{name!r} failed on a float64 tensor: {exc}",
                          allowed="an elementwise callable on torch tensors") from exc
    vals = vals.to(torch.float64).expand(v.shape[0], z.shape[0])
    sq = vals * vals * w
    second = sq.sum(-1)
    edge = sq[:, z.abs() > _EDGE].sum(-1)
    bad = ~torch.isfinite(second) | (edge > 1e-15 * second)
    if bad.any():
        vb = float(v[bad][0])
        raise ConfigError("activation", f"E[{what}(u)^2] of {name!r} is infinite or does not converge for "
                          f"u ~ N(0, {vb:.4g})", allowed="an activation with finite second moment")
    mean = vals @ w
    coef = None
    if degree is not None:
        coef = vals @ _hermite_basis(panels, degree, v.device)
    return mean, second, coef


def _change(prev, cur):
    """Largest relative change of (mean, second moment, coefficients) between two rules, per variance."""
    scale = torch.sqrt(cur[1].clamp(min=1e-300))
    rel = torch.maximum((cur[0] - prev[0]).abs() / scale, (cur[1] - prev[1]).abs() / scale ** 2)
    if cur[2] is not None:
        rel = torch.maximum(rel, torch.linalg.vector_norm(cur[2] - prev[2], dim=-1) / scale)
    return torch.where(cur[1] > 0, rel, (cur[1] - prev[1]).abs())


def gaussian_projection(fn, v: torch.Tensor, degree: int | None = None, *, name: str = "sigma",
                        what: str = "sigma") -> Projection:
    """E[f(u)], E[f(u)^2] and (``degree`` not None) a_0..a_degree of z -> f(sqrt(v) z), for a 1-d float64 ``v``.

    Raises ConfigError for an infinite second moment and KernelAccuracyError when 2^16 nodes do not converge.
    """
    v = as_float64(v).reshape(-1)
    panels = initial_panels(float(v.max()) if v.numel() else 1.0, degree or 0)
    prev = _evaluate(fn, v, panels, degree, name, what)
    while True:
        panels *= 2
        cur = _evaluate(fn, v, panels, degree, name, what)
        rel = _change(prev, cur)
        if bool((rel <= QUADRATURE_TOLERANCE).all()):
            return Projection(cur[0], cur[1], cur[2], panels * NODES_PER_PANEL, rel)
        if 2 * panels * NODES_PER_PANEL > MAX_NODES:
            worst = int(torch.argmax(rel))
            quantity = f"E[{what}(u)^2]" if degree is None else f"the Hermite coefficients of {what}"
            if rel[worst] > 0.05:  # not a slow convergence but a divergence (e.g. 1/u): the moment is infinite
                raise ConfigError("activation", f"E[{what}(u)^2] of {name!r} is infinite or does not converge for "
                                  f"u ~ N(0, {float(v[worst]):.4g})", allowed="an activation with finite second moment")
            raise KernelAccuracyError(name, quantity, (float(v[worst]),), reached=float(rel[worst]),
                                      tolerance=QUADRATURE_TOLERANCE,
                                      detail=f"two rules of {panels * NODES_PER_PANEL // 2} and "
                                             f"{panels * NODES_PER_PANEL} nodes disagree; a kink away from 0?")
        prev = cur


def on_unique(fn, v: torch.Tensor, *, rel: float = 1e-13) -> torch.Tensor:
    """fn applied to the distinct values of ``v`` only (values within ``rel`` of their sorted neighbour share one
    evaluation), gathered back to v's shape: fn maps (R,) -> (R, ...) -> result (*v.shape, ...).

    On sphere data every point has the same variance, so a layer's quadrature work is done once, not n times.
    """
    flat = v.reshape(-1)
    if flat.numel() <= 1:
        out = fn(flat)
        return out.reshape(tuple(v.shape) + tuple(out.shape[1:]))
    vals, order = torch.sort(flat)
    gap = (vals[1:] - vals[:-1]) > rel * vals[1:].abs()
    group = torch.cat([torch.zeros(1, dtype=torch.long, device=v.device), torch.cumsum(gap.long(), 0)])
    reps = vals[torch.cat([torch.ones(1, dtype=torch.bool, device=v.device), gap])]
    inverse = torch.empty_like(group)
    inverse[order] = group
    out = fn(reps)
    return out[inverse].reshape(tuple(v.shape) + tuple(out.shape[1:]))
