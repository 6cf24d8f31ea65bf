r"""The mean NTK E_W[Theta(W_0)] of a node-scaled shallow net (the gamma = 1 infinite-width limit).

Since every node has the same law and u_kj^2 = 1, E Theta = (sum_j lambda_j) * E_w[per-node kernel]; with
sum_j lambda_j = 1 and only W trained (the paper):

    K(x, x') = (x^T x' / d) * E[sigma'(z) sigma'(z')],   (z, z') ~ N(0, Sigma),
    Sigma = weight_var / d * [[|x|^2, x^T x'], [x^T x', |x'|^2]]  (+ bias_var on every entry with a bias).

For ReLU E[1{z>0} 1{z'>0}] = (pi - arccos rho) / (2 pi) with rho the correlation (Caron et al. §1(b));
every expectation comes from :func:`ntklab.kernels.dual_activation` (closed forms, else Mehler series).  Training u adds E[sigma(z) sigma(z')] (ReLU:
sqrt(S S') (sin t + (pi - t) cos t) / (2 pi)), training b adds E[sigma' sigma'].

Example:
    >>> import torch
    >>> from ntklab.kernels import shallow_mean_ntk
    >>> x = torch.nn.functional.normalize(torch.randn(4, 3, dtype=torch.float64), dim=1)
    >>> bool(torch.allclose(torch.diag(shallow_mean_ntk(x)), torch.full((4,), 0.5 / 3, dtype=torch.float64)))
    True
"""

from __future__ import annotations

import torch

from .._device import exact_float32
from ._resolve import dual_activation

__all__ = ["shallow_mean_ntk"]


@exact_float32()
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
    dd = dual_activation(activation, rho, var1, var2, derivative=True)  # E[sigma'(z) sigma'(z')]
    out = torch.zeros_like(cov)
    geo = 0.0
    if "W" in trainable:
        geo = dot / d
    if "b" in trainable:
        geo = geo + 1.0
    if "W" in trainable or "b" in trainable:
        out = out + dd * geo
    if "u" in trainable:
        out = out + dual_activation(activation, rho, var1, var2)  # E[sigma(z) sigma(z')]
    return total_lambda * out
