r"""Gauss–Hermite numerics for one Gaussian variable: nodes, orthonormal Hermite polynomials, 1-d moments.

With probabilists' nodes t_i and weights w_i (sum_i w_i = 1),

    E_{z ~ N(0,1)}[f(z)] ~= sum_i w_i f(t_i),

exact for polynomials of degree <= 2 * order - 1.  The orthonormal Hermite polynomials h_k = He_k / sqrt(k!)
satisfy E[h_j(z) h_k(z)] = delta_jk and the stable recurrence

    h_0 = 1,  h_1 = t,  h_{k+1} = (t h_k - sqrt(k) h_{k-1}) / sqrt(k + 1),

so the Hermite coefficients of f(z) = sigma(sqrt(v) z) are a_k(v) = E[f(z) h_k(z)] = sum_i w_i f(t_i) h_k(t_i).

Example:
    >>> import torch
    >>> from ntklab.kernels._gauss_hermite import gauss_hermite, gaussian_moment
    >>> t, w = gauss_hermite(32)
    >>> round(float((w * t**4).sum()), 12)
    3.0
    >>> round(float(gaussian_moment(torch.square, torch.tensor([4.0], dtype=torch.float64))[0]), 10)
    4.0
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from scipy.special import roots_hermitenorm

__all__ = ["gauss_hermite", "hermite_basis", "gaussian_moment", "hermite_coefficients_of", "on_unique"]

DEFAULT_ORDER = 256  # nodes of the 1-d rule; the largest node is about sqrt(4 * order) = 32


@lru_cache(maxsize=16)
def _nodes(order: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = roots_hermitenorm(order)  # stable for large orders (numpy's hermegauss overflows past ~300)
    return t, w / w.sum()


def gauss_hermite(order: int = DEFAULT_ORDER, *, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilists' Gauss–Hermite nodes and weights (float64, weights sum to 1)."""
    t, w = _nodes(int(order))
    return (torch.as_tensor(t, dtype=torch.float64, device=device),
            torch.as_tensor(w, dtype=torch.float64, device=device))


def hermite_basis(t: torch.Tensor, degree: int) -> torch.Tensor:
    """Orthonormal Hermite polynomials h_0..h_degree at ``t``: shape (*t.shape, degree + 1)."""
    cols = [torch.ones_like(t)]
    if degree >= 1:
        cols.append(t.clone())
    for k in range(1, degree):
        cols.append((t * cols[k] - math.sqrt(k) * cols[k - 1]) / math.sqrt(k + 1))
    return torch.stack(cols, dim=-1)


@lru_cache(maxsize=16)
def _weighted_basis(order: int, degree: int) -> torch.Tensor:
    """w_i h_k(t_i): (order, degree + 1), cached (the recurrence is degree passes over the nodes)."""
    t, w = gauss_hermite(order)
    return hermite_basis(t, degree) * w[:, None]


def _scaled_values(fn, var: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """f(sqrt(var) t_i) on a (..., order) grid, with the nodes and weights."""
    t, w = gauss_hermite(order, device=var.device)
    z = torch.sqrt(torch.clamp(var, min=0))[..., None] * t
    return fn(z), t, w


def gaussian_moment(fn, var: torch.Tensor, *, order: int = DEFAULT_ORDER) -> torch.Tensor:
    """E[fn(u)] for u ~ N(0, var), elementwise over ``var`` (float64; distinct variances evaluated once)."""

    def moment(v):
        vals, _, w = _scaled_values(fn, v, order)
        return (vals * w).sum(-1)

    return on_unique(moment, torch.as_tensor(var, dtype=torch.float64))


def hermite_coefficients_of(fn, var: torch.Tensor, degree: int, *, order: int = DEFAULT_ORDER) -> torch.Tensor:
    """a_k(v) = E[fn(sqrt(v) z) h_k(z)], k = 0..degree: shape (*var.shape, degree + 1)."""

    def coefficients(v):
        vals, _, _ = _scaled_values(fn, v, order)
        return vals @ _weighted_basis(order, degree).to(v.device)  # (R, order) @ (order, degree + 1)

    return on_unique(coefficients, torch.as_tensor(var, dtype=torch.float64))


def on_unique(fn, v: torch.Tensor, *, rel: float = 1e-13) -> torch.Tensor:
    """fn applied to the distinct values of ``v`` only (values within ``rel`` of their sorted neighbour share one
    evaluation), gathered back to v's shape: fn maps (R,) -> (R, ...) -> result (*v.shape, ...).

    On sphere data every point has the same variance, so a layer's Gauss–Hermite work is done once, not n times.
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
