r"""The functions computed by random fully connected networks: random targets of depth L (Das et al. 2019).

The network is the one of :func:`ntklab.kernels.random_network_nngp` for the same ``seed`` (the same hidden weights,
drawn in the same order): width n, NTK parameterisation, N(0, 1) weights, top features X^L = sigma(h^L).  Each
depth l gets its own readouts, ``outputs`` columns v^l ~ N(0, I_n) and a bias b^l ~ N(0, 1), from a generator of
its own (so depth l's function does not depend on ``all_depths``):

    f_l(x) = sqrt(weight_var) X^l(x) v^l / sqrt(n) + sqrt(bias_var) b^l.

Given the hidden weights, the columns are i.i.d. centred Gaussian processes with covariance exactly the finite-width
NNGP K-hat^l = weight_var X^l (X^l)^T / n + bias_var, which tends to the infinite-width NNGP (sigma-hat^{o l} of
the input cosines for a normalised sigma and |x| = sqrt(d)) as n grows.

Example:
    >>> import torch
    >>> from ntklab.kernels import random_network_outputs
    >>> x = torch.randn(5, 3, dtype=torch.float64)
    >>> random_network_outputs(x, depth=4, activation="normalized_relu", width=32, seed=0, outputs=2,
    ...                        all_depths=True).shape
    torch.Size([4, 5, 2])
"""

from __future__ import annotations

import math

import torch

from .._errors import ConfigError
from ._resolve import as_dual_activation

__all__ = ["random_network_outputs"]

_READOUT_STREAM = 1_000_003  # readout generator of depth l: seed * _READOUT_STREAM + l


def _hidden_layers(x, act, depth, width, weight_var, bias_var, seed, dtype):
    """Yield sigma(h^l) for l = 1..depth (the weight and bias stream of random_network_nngp)."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    h, fan_in = x, x.shape[1]
    for _ in range(depth):
        w = torch.randn(fan_in, width, generator=gen, dtype=dtype, device=x.device)
        b = torch.randn(width, generator=gen, dtype=dtype, device=x.device)
        h = act.fn(math.sqrt(weight_var / fan_in) * (h @ w) + math.sqrt(bias_var) * b)
        fan_in = width
        yield h


def random_network_outputs(x, *, depth: int, activation="relu", width: int, seed: int, outputs: int = 1,
                           weight_var: float = 1.0, bias_var: float = 0.0, all_depths: bool = False,
                           dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """f_L(x) of one random network: (n, outputs), or (depth, n, outputs) with ``all_depths``; float64."""
    for name, v, lo in (("depth", depth, 1), ("width", width, 1), ("outputs", outputs, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(name, f"got {v!r}", allowed=f"integers >= {lo}")
    if not (weight_var >= 0 and bias_var >= 0):
        raise ConfigError("weight_var/bias_var", f"got {weight_var!r}, {bias_var!r}", allowed="[0, inf)")
    act = as_dual_activation(activation)
    x = (x if torch.is_tensor(x) else torch.as_tensor(x, device="cpu")).to(dtype)
    if x.ndim != 2 or not torch.isfinite(x).all():
        raise ConfigError("x", "expected a finite 2-d (n, d) array")
    out = []
    for layer, h in enumerate(_hidden_layers(x, act, depth, width, weight_var, bias_var, seed, dtype), start=1):
        if not (all_depths or layer == depth):
            continue
        gen = torch.Generator(device=x.device).manual_seed(seed * _READOUT_STREAM + layer)
        v = torch.randn(width, outputs, generator=gen, dtype=dtype, device=x.device)
        b = torch.randn(outputs, generator=gen, dtype=dtype, device=x.device)
        out.append((math.sqrt(weight_var / width) * (h @ v) + math.sqrt(bias_var) * b).to(torch.float64))
    return torch.stack(out) if all_depths else out[0]
