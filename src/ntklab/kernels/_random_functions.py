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
from ._random_features import random_network_layers

__all__ = ["random_network_outputs"]

_READOUT_STREAM = 1_000_003  # readout generator of depth l: seed * _READOUT_STREAM + l


def random_network_outputs(x, *, depth: int, activation="relu", width: int, seed: int, outputs: int = 1,
                           weight_var: float = 1.0, bias_var: float = 0.0, all_depths: bool = False,
                           dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """f_L(x) of one random network: (n, outputs), or (depth, n, outputs) with ``all_depths``; float64."""
    if isinstance(outputs, bool) or not isinstance(outputs, int) or outputs < 1:
        raise ConfigError("outputs", f"got {outputs!r}", allowed="integers >= 1")
    out = []
    for layer, h in random_network_layers(x, activation, depth=depth, width=width, weight_var=weight_var,
                                          bias_var=bias_var, seed=seed, all_depths=all_depths, dtype=dtype):
        gen = torch.Generator(device=h.device).manual_seed(seed * _READOUT_STREAM + layer)
        v = torch.randn(width, outputs, generator=gen, dtype=dtype, device=h.device)
        b = torch.randn(outputs, generator=gen, dtype=dtype, device=h.device)
        out.append((math.sqrt(weight_var / width) * (h @ v) + math.sqrt(bias_var) * b).to(torch.float64))
    return torch.stack(out) if all_depths else out[0]
