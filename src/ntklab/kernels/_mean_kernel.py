r"""The mean NTK E_W[Theta(W_0)] of a node-scaled shallow net (the gamma = 1 infinite-width limit).

Since every node has the same law and u_kj^2 = 1, E Theta = (sum_j lambda_j) * E_w[per-node kernel]; with
sum_j lambda_j = 1 and only W trained (the paper):

    K(x, x') = (x^T x' / d) * E[sigma'(z) sigma'(z')],   (z, z') ~ N(0, Sigma),
    Sigma = weight_var / d * [[|x|^2, x^T x'], [x^T x', |x'|^2]]  (+ bias_var on every entry with a bias).

For ReLU E[1{z>0} 1{z'>0}] = (pi - arccos rho) / (2 pi) with rho the correlation (Caron et al. §1(b));
other activations use 2-d Gauss-Hermite quadrature.  Training u adds E[sigma(z) sigma(z')] (ReLU:
sqrt(S S') (sin t + (pi - t) cos t) / (2 pi)), training b adds E[sigma' sigma'].

Example:
    >>> import torch
    >>> from ntklab.kernels import shallow_mean_ntk
    >>> x = torch.nn.functional.normalize(torch.randn(4, 3, dtype=torch.float64), dim=1)
    >>> bool(torch.allclose(torch.diag(shallow_mean_ntk(x)), torch.full((4,), 0.5 / 3, dtype=torch.float64)))
    True
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..nets._activations import get_activation

__all__ = ["shallow_mean_ntk", "gaussian_expectation_2d"]


def gaussian_expectation_2d(f, g, var1, cov, var2, *, order: int = 64) -> torch.Tensor:
    """E[f(z) g(z')] for (z, z') ~ N(0, [[var1, cov], [cov, var2]]), elementwise over broadcast arrays."""
    t, w = np.polynomial.hermite_e.hermegauss(order)  # weight exp(-t^2/2)
    w = w / math.sqrt(2 * math.pi)
    t = torch.as_tensor(t, dtype=torch.float64)
    w = torch.as_tensor(w, dtype=torch.float64)
    var1, cov, var2 = (torch.as_tensor(v, dtype=torch.float64) for v in (var1, cov, var2))
    s1 = torch.sqrt(var1)
    c = torch.where(s1 > 0, cov / torch.where(s1 > 0, s1, 1), torch.zeros_like(cov))
    rest = torch.sqrt(torch.clamp(var2 - c * c, min=0))
    a, b = t.view(-1, 1), t.view(1, -1)
    wab = (w.view(-1, 1) * w.view(1, -1))
    z1 = s1[..., None, None] * a
    z2 = c[..., None, None] * a + rest[..., None, None] * b
    return (f(z1) * g(z2) * wab).sum((-1, -2))


def shallow_mean_ntk(
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    activation: str = "relu",
    weight_var: float = 2.0,
    bias_var: float = 0.0,
    trainable=("W",),
    total_lambda: float = 1.0,
) -> torch.Tensor:
    """E_W[Theta] for a single output, float64, shape (n1, n2)."""
    x1 = x1.to(torch.float64)
    x2 = x1 if x2 is None else x2.to(torch.float64)
    d = x1.shape[1]
    dot = x1 @ x2.T
    n1sq = (x1 * x1).sum(1)[:, None]
    n2sq = (x2 * x2).sum(1)[None, :]
    var1 = weight_var / d * n1sq + bias_var
    var2 = weight_var / d * n2sq + bias_var
    cov = weight_var / d * dot + bias_var
    var1, var2 = torch.broadcast_to(var1, cov.shape), torch.broadcast_to(var2, cov.shape)
    denom = torch.sqrt(var1 * var2)
    rho = torch.clamp(cov / torch.where(denom > 0, denom, 1), -1, 1)
    theta_ang = torch.arccos(rho)
    act = get_activation(activation)
    relu_like = {"relu": 1.0, "normalized_relu": math.sqrt(2 * math.pi / (math.pi - 1))}
    if activation in relu_like:
        c = relu_like[activation]
        dd = c * c * (math.pi - theta_ang) / (2 * math.pi)
    else:
        dd = gaussian_expectation_2d(act.derivative, act.derivative, var1, cov, var2)
    out = torch.zeros_like(cov)
    geo = 0.0
    if "W" in trainable:
        geo = dot / d
    if "b" in trainable:
        geo = geo + 1.0
    if "W" in trainable or "b" in trainable:
        out = out + dd * geo
    if "u" in trainable:
        if activation == "relu":
            ff = denom * (torch.sin(theta_ang) + (math.pi - theta_ang) * torch.cos(theta_ang)) / (2 * math.pi)
        else:
            ff = gaussian_expectation_2d(act.fn, act.fn, var1, cov, var2)
        out = out + ff
    return total_lambda * out
