r"""Shallow network with asymmetrical node scaling (Caron et al. 2023).

    f_k(x) = sum_{j=1}^m  u_kj * sqrt(lambda_j) * sigma(w_j^T x / sqrt(d) + b_j),   k = 1..K

Paper initialisation: w_j ~ N(0, 2 I_d), u_kj Rademacher (+-1), no bias; only W trains.  lambda is a buffer
(``lambdas = None`` means the NTK scaling lambda_j = 1/m).  A second buffer ``mask`` (ones by default) removes
pruned nodes exactly: node j contributes mask_j * sqrt(lambda_j) * sigma(...).

Example:
    >>> import torch, ntklab
    >>> lam = ntklab.node_scaling(500, kind="zipf", gamma=0.5, alpha=0.7)
    >>> net = ntklab.ScaledShallowNet(10, 500, lambdas=lam, seed=0).double()
    >>> net(torch.randn(4, 10, dtype=torch.float64)).shape
    torch.Size([4, 1])
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from .._errors import ConfigError, check_range
from ._activations import get_activation

__all__ = ["ScaledShallowNet", "TRAINABLE_PARAMS"]

TRAINABLE_PARAMS = ("W", "u", "b")


class ScaledShallowNet(nn.Module):
    """f(x) = u diag(sqrt(lambda) * mask) sigma(W x / sqrt(d) + b); outputs have shape (n, out_dim)."""

    def __init__(
        self,
        d: int,
        m: int,
        *,
        out_dim: int = 1,
        lambdas: torch.Tensor | None = None,
        activation: str = "relu",
        bias: bool = False,
        trainable: Iterable[str] = ("W",),
        weight_std: float = math.sqrt(2.0),
        bias_std: float = 1.0,
        seed: int | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        for name, v in (("d", d), ("m", m), ("out_dim", out_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(name, f"got {v!r}", allowed="integers >= 1")
        check_range("weight_std", float(weight_std), 0.0)
        check_range("bias_std", float(bias_std), 0.0)
        trainable = tuple(trainable)
        for t in trainable:
            if t not in TRAINABLE_PARAMS:
                raise ConfigError("trainable", f"got {t!r}", allowed="any of 'W', 'u', 'b'")
        if "b" in trainable and not bias:
            raise ConfigError("trainable", "'b' is trainable but bias=False", allowed="set bias=True")
        if not trainable:
            raise ConfigError("trainable", "no parameter would train", allowed="a non-empty subset of W, u, b")
        self.d, self.m, self.out_dim = d, m, out_dim
        self.activation = activation
        self._act = get_activation(activation)
        self.trainable = trainable
        self.has_bias = bias
        self.weight_std, self.bias_std = float(weight_std), float(bias_std)  # the init scales (read by kernels)

        gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
        W = torch.randn(m, d, generator=gen, dtype=torch.float64, device="cpu") * weight_std
        u = torch.randint(0, 2, (out_dim, m), generator=gen, device="cpu").to(torch.float64) * 2 - 1
        self.W = nn.Parameter(W.to(dtype), requires_grad="W" in trainable)
        self.u = nn.Parameter(u.to(dtype), requires_grad="u" in trainable)
        if bias:
            b = torch.randn(m, generator=gen, dtype=torch.float64, device="cpu") * bias_std
            self.b = nn.Parameter(b.to(dtype), requires_grad="b" in trainable)
        else:
            self.register_parameter("b", None)

        if lambdas is None:
            lam = torch.full((m,), 1.0 / m, dtype=torch.float64, device="cpu")
        else:
            lam = torch.as_tensor(lambdas, dtype=torch.float64, device="cpu")
            if lam.shape != (m,):
                raise ConfigError("lambdas", f"shape {tuple(lam.shape)} does not match width m={m}")
            if not torch.isfinite(lam).all() or (lam < 0).any():
                raise ConfigError("lambdas", "must be finite and non-negative")
        self.register_buffer("lambdas", lam.to(dtype))
        self.register_buffer("mask", torch.ones(m, dtype=dtype, device="cpu"))

    def extra_repr(self) -> str:
        return (f"d={self.d}, m={self.m}, out_dim={self.out_dim}, activation={self.activation!r}, "
                f"bias={self.has_bias}, trainable={self.trainable}")

    def node_scale(self) -> torch.Tensor:
        """s_j = sqrt(lambda_j) * mask_j, the factor multiplying node j's output."""
        return torch.sqrt(self.lambdas) * self.mask

    def preactivations(self, x: torch.Tensor) -> torch.Tensor:
        z = x @ self.W.T / math.sqrt(self.d)
        if self.b is not None:
            z = z + self.b
        return z

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """h_j(x) = sqrt(lambda_j) mask_j sigma(w_j^T x / sqrt(d) + b_j), shape (n, m)."""
        return self._act(self.preactivations(x)) * self.node_scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x) @ self.u.T

    def node_weights(self) -> torch.Tensor:
        """The incoming weights of each hidden node, shape (m, d): what per-node displacement measures."""
        return self.W
