r"""The random infinite-width limit of the neural tangent Gram (NTG) under asymmetrical node scaling, gamma < 1
(Caron et al. 2023; ../shared/papers.md §1(b)).

With lambda_j = gamma/m + (1 - gamma) lambda~_j and only W trained, Theta_0 = sum_j lambda_j H(w_j) with the
per-node Gram

    H(w)_ik = (x_i^T x_k / d) sigma'(w^T x_i / sqrt(d)) sigma'(w^T x_k / sqrt(d))     (ReLU: the indicator product).

The uniform part averages over m i.i.d. nodes and tends to gamma K (K = E H, :func:`shallow_mean_ntk`); the
Zipf part keeps the nodes of non-vanishing lambda~_j, whose weights stay random.  So as m -> infinity

    Theta_0  ->  gamma K + (1 - gamma) sum_j lambda~_j H(w_j),

a random matrix for gamma < 1 (the deterministic K for gamma = 1).  :func:`ntg_limit` evaluates it for a built
network from its ``top`` largest-lambda nodes, the others replaced by their mean:

    limit = gamma K + (1 - gamma) [ sum_{j in top} lambda~_j H(w_j) + (sum_{j not in top} lambda~_j) K ].

Replacing the tail by K is exact in expectation; its error has variance (1 - gamma)^2 sum_{j not in top}
lambda~_j^2 Var H, small once the top nodes hold most of lambda~'s square mass (Zipf j^{-1/alpha}: the tail's
square mass falls like top^{1 - 2/alpha}).  Since every H(w) is positive semi-definite,
lambda_min(limit) >= (gamma + (1 - gamma) tail) lambda_min(K) >= gamma lambda_min(K): the bound behind
"gamma > 0 => global convergence".  For K > 1 outputs the kernel is that of one output (u_kj^2 = 1, the same for
every output).

Example:
    >>> import torch, ntklab
    >>> from ntklab.kernels import ntg_limit, shallow_mean_ntk
    >>> lam = ntklab.node_scaling(4000, kind="zipf", gamma=0.5, alpha=0.5)
    >>> net = ntklab.ScaledShallowNet(3, 4000, lambdas=lam, seed=0, dtype=torch.float64)
    >>> x = torch.nn.functional.normalize(torch.randn(6, 3, dtype=torch.float64), dim=1)
    >>> limit = ntg_limit(net, x, gamma=0.5, top=50)
    >>> err = (ntklab.empirical_ntk(net, x) - limit).norm() / limit.norm()   # about m^-1/2
    >>> bool(err < 0.05), bool(torch.linalg.eigvalsh(limit)[0] >= 0.5 * torch.linalg.eigvalsh(shallow_mean_ntk(x))[0])
    (True, True)
"""

from __future__ import annotations

import math

import torch

from .._device import as_float64
from .._errors import ConfigError, check_range
from ..nets._shallow import ScaledShallowNet
from ._mean_kernel import shallow_mean_ntk

__all__ = ["ntg_limit", "node_grams"]


def _check_net(net) -> None:
    if not isinstance(net, ScaledShallowNet):
        raise ConfigError("net", f"got {type(net).__name__}", allowed="an ntklab.ScaledShallowNet")
    if tuple(net.trainable) != ("W",) or net.b is not None:
        raise ConfigError("net", f"trainable {net.trainable}, bias {net.b is not None}",
                          allowed="the paper's network: only W trains, no bias")


def node_grams(net, nodes, x1: torch.Tensor, x2: torch.Tensor | None = None, *, weights=None) -> torch.Tensor:
    """sum_{j in nodes} c_j H(w_j)(x1, x2), c = ``weights`` (default 1), float64 (n1, n2)."""
    _check_net(net)
    idx = torch.as_tensor(nodes, dtype=torch.long, device=x1.device).flatten()
    x1 = x1.to(torch.float64)
    x2 = x1 if x2 is None else x2.to(torch.float64)
    c = (torch.ones(idx.numel(), dtype=torch.float64, device=x1.device) if weights is None
         else as_float64(weights, device=x1.device))
    if c.shape != idx.shape:
        raise ConfigError("weights", f"shape {tuple(c.shape)} does not match {idx.numel()} nodes")
    with torch.no_grad():
        w = net.W.detach()[idx].to(torch.float64)
        act = net._act
        s1 = act.derivative(x1 @ w.T / math.sqrt(net.d))
        s2 = act.derivative(x2 @ w.T / math.sqrt(net.d))
        return (x1 @ x2.T / net.d) * ((s1 * c) @ s2.T)


def ntg_limit(net, x1: torch.Tensor, x2: torch.Tensor | None = None, *, gamma: float, top: int,
              lambda_tilde=None) -> torch.Tensor:
    """The random limit gamma K + (1 - gamma) [sum_top lambda~_j H(w_j) + tail K] of Theta_0 (module docstring).

    ``gamma``: the net's uniform weight (lambda~ = (lambda - gamma/m) / (1 - gamma) is read from the net);
    ``top``: how many of the largest-lambda nodes enter with their own weights; ``lambda_tilde``: the top nodes'
    lambda~ to use instead (e.g. the m -> infinity Zipf values), the tail mass then being 1 - sum(lambda_tilde).
    """
    _check_net(net)
    check_range("gamma", float(gamma), 0.0, 1.0)
    m = net.m
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= m:
        raise ConfigError("top", f"got {top!r}", allowed=f"integers in [1, {m}]")
    k = shallow_mean_ntk(x1, x2, activation=net.activation, weight_var=net.weight_std ** 2)
    if gamma == 1.0:
        return k
    lam = net.lambdas.detach().to(torch.float64)
    tilde = (lam - gamma / m) / (1 - gamma)
    if (tilde < -1e-12 * lam.max()).any():
        raise ConfigError("gamma", f"got {gamma:g}, but some lambda_j < gamma/m",
                          allowed="the gamma the net's lambdas were built with")
    tilde = tilde.clamp(min=0.0)
    order = torch.argsort(-lam, stable=True)
    nodes = order[:top]
    if lambda_tilde is None:
        weights, tail = tilde[nodes], float(tilde[order[top:]].sum())
    else:
        weights = as_float64(lambda_tilde).flatten()
        if weights.shape != (top,) or (weights < 0).any():
            raise ConfigError("lambda_tilde", f"shape {tuple(weights.shape)}", allowed=f"{top} values >= 0")
        tail = 1.0 - float(weights.sum())
    return gamma * k + (1 - gamma) * (node_grams(net, nodes, x1, x2, weights=weights) + tail * k)
