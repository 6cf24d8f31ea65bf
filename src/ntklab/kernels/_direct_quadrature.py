r"""Bivariate Gaussian expectations entry by entry, where the Mehler series converges too slowly (|rho| near 1).

For (u, v) with variances v1, v2 and correlation rho, write u = sqrt(v1) z and v = sqrt(v2) (rho z + s xi) with
z, xi independent N(0, 1) and s = sqrt(1 - rho^2).  Then

    E[f(u) g(v)] = E_z[ f(sqrt(v1) z) E_xi[ g(sqrt(v2) (rho z + s xi)) ] ],

an outer composite Gauss–Legendre rule in z (16-node panels on [-14, 14], graded from width
min(1.5 / sqrt(v), 1.5 s) at z = 0 by a factor 1.25 up to 1.75) times an inner one in xi split at xi* = -rho z / s,
where the argument of g crosses 0, and graded away from it alike.  A kink of f or g at 0 (relu, leaky relu, steps)
thus falls on panel boundaries and the rules stay exact to rounding, and the steep part of tanh-like sigma gets the
fine panels.  At s = 0 (rho = +-1, duplicated or antipodal points) the inner expectation is g(+-sqrt(v2) z)
itself: the exact 1-d moment.  Both rules are refined
(every panel split in two) until two successive results agree to QUADRATURE_TOLERANCE relative to
sqrt(E[f(u)^2] E[g(v)^2]); past 2^14 outer nodes a :class:`~ntklab.kernels.KernelAccuracyError` names the
activation, the variances, rho and the accuracy reached.

Example:
    >>> import torch
    >>> from ntklab.kernels._direct_quadrature import bivariate_expectation
    >>> one = torch.ones(1, dtype=torch.float64)
    >>> out = bivariate_expectation(torch.relu, torch.relu, one, one, one, scale=0.5 * one, name="relu", what="relu")
    >>> round(float(out[0]), 14)  # E[relu(u)^2] = 1/2 at rho = 1
    0.5
"""

from __future__ import annotations

import math

import torch

from ._accuracy import QUADRATURE_TOLERANCE, KernelAccuracyError
from ._gaussian_rule import HALF_WIDTH, NODES_PER_PANEL, graded_edges, panel_rule

__all__ = ["bivariate_expectation"]

MAX_OUTER_NODES = 2 ** 14
_WORK = 2 ** 20  # evaluations per slab
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_WIDEST = 1.75  # the widest panel in z or xi (the Gaussian weight's own scale)


def _first_width(variance: float) -> float:
    """The finest panel, next to the kink: the activation's unit scale seen through sqrt(variance)."""
    return min(_WIDEST, 1.5 / math.sqrt(max(variance, 1e-300)))


def _outer_rule(v_max: float, s_min: float, split: int, device):
    """Nodes z and weights w phi(z) on [-14, 14], graded away from z = 0 in both directions.  The finest panel also
    resolves the inner expectation E_xi[g(sqrt(v2) (rho z + s xi))], which for a g kinked at 0 varies in z on the
    scale s / |rho| (a Phi(rho z / s) for a step)."""
    first = min(_first_width(v_max), 1.5 * s_min) if s_min > 0 else _first_width(v_max)
    edges = graded_edges(first / HALF_WIDTH, _WIDEST / HALF_WIDTH, split)
    z, w = panel_rule(0.0, HALF_WIDTH, edges)
    z, w = torch.cat([-z.flip(0), z]).to(device), torch.cat([w.flip(0), w]).to(device)
    return z, w * torch.exp(-0.5 * z * z) * _INV_SQRT_2PI


def _inner(g, v2, rho, z, split):
    """E_xi[g(sqrt(v2) (rho z + s xi))] for every entry e and outer node a: (m, N_o); the xi rule is graded away
    from xi* = -rho z / s on both sides."""
    s = torch.sqrt((1 - rho * rho).clamp(min=0))
    r2 = torch.sqrt(v2)
    out = torch.empty(rho.shape[0], z.shape[0], dtype=torch.float64, device=z.device)
    exact = s == 0
    if exact.any():  # rho = +-1: the inner expectation is a point value
        out[exact] = g(r2[exact, None] * rho[exact, None] * z[None, :])
    rest = (~exact).nonzero().reshape(-1)
    if rest.numel() == 0:
        return out
    width = (r2 * s)[rest]  # the scale sqrt(v2) s of g's argument in xi
    rest = rest[torch.argsort(width, descending=True)]  # chunks of similar width share a grid
    edges0 = graded_edges(_first_width(float(width.max()) ** 2) / (2 * HALF_WIDTH), _WIDEST / (2 * HALF_WIDTH),
                          split)
    step = max(1, _WORK // max(1, z.shape[0] * 2 * (edges0.size - 1) * NODES_PER_PANEL))
    for lo in range(0, rest.numel(), step):
        idx = rest[lo:lo + step]
        edges = graded_edges(_first_width(float((r2[idx] * s[idx]).max()) ** 2) / (2 * HALF_WIDTH),
                             _WIDEST / (2 * HALF_WIDTH), split)
        se, re_, r2e = s[idx, None], rho[idx, None], r2[idx, None]
        kink = (-re_ * z[None, :] / se).clamp(-HALF_WIDTH, HALF_WIDTH)  # (e, N_o)
        xl, wl = panel_rule(kink, torch.full_like(kink, -HALF_WIDTH), edges)
        xr, wr = panel_rule(kink, torch.full_like(kink, HALF_WIDTH), edges)
        xi, wx = torch.cat([xl, xr], -1), torch.cat([wl.abs_(), wr], -1)  # (e, N_o, N_i)
        wx.mul_(torch.exp(xi * xi * -0.5)).mul_(_INV_SQRT_2PI)
        vals = g(r2e[..., None] * (re_[..., None] * z[None, :, None] + se[..., None] * xi))
        out[idx] = (vals * wx).sum(-1)
    return out


def _estimate(f, g, v1, v2, rho, split):
    s = torch.sqrt((1 - rho * rho).clamp(min=0))
    s_min = float(s[s > 0].min()) if bool((s > 0).any()) else 0.0
    z, w = _outer_rule(float(torch.maximum(v1, v2).max()), s_min, split, rho.device)
    fz = f(torch.sqrt(v1)[:, None] * z[None, :])
    return (fz * _inner(g, v2, rho, z, split) * w).sum(-1), z.shape[0]


def bivariate_expectation(f, g, v1, v2, rho, *, scale, name: str, what: str) -> torch.Tensor:
    """E[f(u) g(v)] for 1-d float64 tensors v1, v2, rho of one length, converged to QUADRATURE_TOLERANCE * scale
    (scale = sqrt(E[f(u)^2] E[g(v)^2]) per entry)."""
    if rho.numel() == 0:
        return torch.zeros_like(rho)
    v1, v2 = v1.clamp(min=0), v2.clamp(min=0)
    split = 1
    prev, _ = _estimate(f, g, v1, v2, rho, split)
    todo = torch.arange(rho.numel(), device=rho.device)
    out = prev.clone()
    while True:
        split *= 2
        cur, nodes = _estimate(f, g, v1[todo], v2[todo], rho[todo], split)
        change = (cur - prev).abs() / scale[todo].clamp(min=1e-300)
        out[todo] = cur
        done = change <= QUADRATURE_TOLERANCE
        if bool(done.all()):
            return out
        if 2 * nodes > MAX_OUTER_NODES:
            k = int(torch.argmax(change))
            e = int(todo[k])
            raise KernelAccuracyError(
                name, f"E[{what}(u) {what}(v)]", (float(v1[e]), float(v2[e])), reached=float(change[k]),
                tolerance=QUADRATURE_TOLERANCE,
                detail=f"rho = {float(rho[e]):.10g}, where the Mehler series needs more than its largest degree; "
                       f"bivariate rules of {nodes // 2} and {nodes} outer nodes disagree (a kink away from 0?)")
        todo, prev = todo[~done], cur[~done]
