r"""The finite-width NNGP of one random fully connected network (the conjugate kernel of its top features).

With the network of :func:`ntklab.infinite_kernel` at finite width n (NTK parameterisation, N(0, 1) weights),
top-layer features X^L = sigma(h^L) in R^{N x n} and readout weight_var * <.,.> / n + bias_var,

    K-hat^L = weight_var X^L (X^L)^T / n + bias_var  ->  NNGP^L   as n -> infinity,

with fluctuations O(1/sqrt(n)) (the readout weights are integrated out exactly).  Every depth 1..L comes from one
forward pass.

Example:
    >>> import torch
    >>> from ntklab.kernels import random_network_nngp
    >>> x = torch.randn(4, 3, dtype=torch.float64)
    >>> random_network_nngp(x, depth=2, activation="relu", width=64, weight_var=2.0, seed=0).shape
    torch.Size([4, 4])
"""

from __future__ import annotations

import math

import torch

from .._device import exact_float32
from .._errors import ConfigError
from ._resolve import as_dual_activation

__all__ = ["random_network_layers", "random_network_nngp"]


def _random_network_inputs(x, *, depth, width, weight_var, bias_var, dtype) -> torch.Tensor:
    """The checks a random network's arguments pass, and ``x`` as a finite (n, d) tensor of ``dtype`` on its
    device."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError("depth", f"got {depth!r}", allowed="integers >= 1")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ConfigError("width", f"got {width!r}", allowed="integers >= 1")
    if not (weight_var >= 0 and bias_var >= 0):
        raise ConfigError("weight_var/bias_var", f"got {weight_var!r}, {bias_var!r}", allowed="[0, inf)")
    x = (x if torch.is_tensor(x) else torch.as_tensor(x, device="cpu")).to(dtype)
    if x.ndim != 2 or not torch.isfinite(x).all():
        raise ConfigError("x", "expected a finite 2-d (n, d) array")
    return x


def _hidden_layers(x, act, *, depth: int, width: int, weight_var: float, bias_var: float, seed: int, dtype):
    """Yield the features X^l = sigma(h^l), l = 1..depth, of the random network drawn from ``seed``: N(0, 1)
    weights and biases in one stream, h^l = (sqrt(weight_var) / sqrt(fan_in)) X^{l-1} W^l + sqrt(bias_var) b^l."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    sw, sb = math.sqrt(weight_var), math.sqrt(bias_var)
    h, fan_in = x, x.shape[1]
    for _ in range(depth):
        w = torch.randn(fan_in, width, generator=gen, dtype=dtype, device=x.device)
        b = torch.randn(width, generator=gen, dtype=dtype, device=x.device)
        h = act.fn((sw / math.sqrt(fan_in)) * (h @ w) + sb * b)
        fan_in = width
        yield h


def random_network_layers(x, activation, *, depth: int, width: int, weight_var: float, bias_var: float, seed: int,
                          all_depths: bool, dtype):
    """(l, X^l) for l = depth, or every l = 1..depth with ``all_depths``, of the random network drawn from
    ``seed`` (arguments checked now; the layers computed as they are iterated).  One weight stream for every use:
    :func:`random_network_nngp` and :func:`ntklab.kernels.random_network_outputs` see the same network."""
    x = _random_network_inputs(x, depth=depth, width=width, weight_var=weight_var, bias_var=bias_var, dtype=dtype)
    layers = _hidden_layers(x, as_dual_activation(activation), depth=depth, width=width, weight_var=weight_var,
                            bias_var=bias_var, seed=seed, dtype=dtype)
    return ((layer, h) for layer, h in enumerate(layers, start=1) if all_depths or layer == depth)


@exact_float32()
def random_network_nngp(x, *, depth: int, activation="relu", width: int, weight_var: float = 1.0,
                        bias_var: float = 0.0, seed: int, all_depths: bool = False,
                        dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """K-hat of one random network of the given width: (n, n), or (depth, n, n) with ``all_depths``; float64."""
    out = [weight_var * (h @ h.T).to(torch.float64) / width + bias_var
           for _, h in random_network_layers(x, activation, depth=depth, width=width, weight_var=weight_var,
                                             bias_var=bias_var, seed=seed, all_depths=all_depths, dtype=dtype)]
    return torch.stack(out) if all_depths else out[0]
