r"""An MLP of torch's own layers, optionally batch-normalised: Agarwal et al.'s training networks.

With L hidden layers of width m, input x^0 = x in R^d and an elementwise activation sigma (by name, from
:data:`ntklab.nets.ACTIVATIONS`, e.g. ``relu`` or ``normalized_relu``):

    h^l = W^l x^{l-1} + b^l,     x^l = sigma(BN_l(h^l))  (BN_l = identity without batch normalisation),
    f(x) = W^{L+1} x^L + b^{L+1}

in the standard parameterisation (unit multipliers, one learning rate): W^l_ij ~ N(0, s^2 / fan_in) with
s = ``weight_std`` (sqrt(2), He, for relu; 1, LeCun, for the normalised relu, whose E sigma(z)^2 = 1 under
N(0, 1) keeps the second moment), the readout W^{L+1}_kj ~ N(0, output_std^2 / m), biases N(0, bias_std^2)
(0: zero biases).  BN_l is ``torch.nn.BatchNorm1d(m)`` (torch's defaults: gamma = 1, beta = 0, eps 1e-5,
momentum 0.1): batch statistics in train mode, running statistics in eval mode.

The four variants of the experiments (v2/v3) are relu, relu + BN, normalised relu, normalised relu + BN.
Parameter families as for the other networks: ``W`` the hidden weights (BatchNorm's gamma included), ``u`` the
readout (weight and bias), ``b`` the hidden biases (BatchNorm's beta included).  The draws come in a fixed order
from a generator seeded with ``seed`` (float64, then cast), so a seed gives the same network for any dtype.

``trainable=("u",)`` with ``bias=False`` trains the readout alone: f = W^{L+1} x^L is then linear in the trained
weights, on the fixed random features :meth:`TorchMLP.readout_features` (the top-layer version of Agarwal et
al.: GD on a convex least squares whose Hessian is 2 Phi^T Phi / n, Phi = x^L of the n training points).

BatchNorm's running statistics are buffers that training updates: such a network cannot be stacked with others
under ``vmap`` (:func:`has_batch_statistics`; the training loop trains it alone), and it must be measured in
eval mode.

Example:
    >>> import torch
    >>> from ntklab.nets import TorchMLP, has_batch_statistics
    >>> net = TorchMLP(40, [64, 64], 10, activation="normalized_relu", batch_norm=True, weight_std=1.0, seed=0)
    >>> net(torch.randn(8, 40)).shape, has_batch_statistics(net)
    (torch.Size([8, 10]), True)
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import nn

from ._activations import ACTIVATIONS, get_activation
from ._mlp import check_mlp_arguments

__all__ = ["TorchMLP", "has_batch_statistics"]

def has_batch_statistics(model: nn.Module) -> bool:
    """Whether ``model`` holds normalisation layers that track running statistics (updated in train mode)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats for m in model.modules())


def _linear(fan_in: int, fan_out: int, *, std: float, bias_std: float | None, gen, dtype) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out, bias=bias_std is not None, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64, device="cpu") * std)
        if bias_std is not None:
            layer.bias.copy_(torch.randn(fan_out, generator=gen, dtype=torch.float64, device="cpu") * bias_std)
    return layer


class TorchMLP(nn.Module):
    """f(x) = W^{L+1} x^L + b^{L+1} with x^l = sigma(BN_l(W^l x^{l-1} + b^l)), W^l ~ N(0, s^2 / fan_in)."""

    parameterization = "standard"

    def __init__(
        self,
        d: int,
        widths: Sequence[int] | int,
        out_dim: int = 1,
        *,
        activation: str = "relu",
        batch_norm: bool = False,
        bias: bool = True,
        weight_std: float = math.sqrt(2.0),
        bias_std: float = 0.0,
        output_std: float = 1.0,
        trainable: Iterable[str] = ("W", "u", "b"),
        seed: int | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        widths, trainable = check_mlp_arguments(
            d, widths, out_dim, stds={"weight_std": weight_std, "bias_std": bias_std, "output_std": output_std},
            trainable=trainable, bias=bias)
        get_activation(activation)  # validates the name; the function is looked up by name (picklable module)
        self.activation, self.batch_norm, self.has_bias = activation, bool(batch_norm), bool(bias)
        self.d, self.widths, self.out_dim, self.trainable = d, tuple(widths), out_dim, trainable
        gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
        b_std = float(bias_std) if bias else None
        linears, fan_in = [], d
        for m in widths:
            linears.append(_linear(fan_in, m, std=weight_std / math.sqrt(fan_in), bias_std=b_std, gen=gen,
                                   dtype=dtype))
            fan_in = m
        self.linears = nn.ModuleList(linears)
        self.norms = nn.ModuleList([nn.BatchNorm1d(m, dtype=dtype) for m in widths]) if batch_norm else None
        self.readout = _linear(fan_in, out_dim, std=output_std / math.sqrt(fan_in), bias_std=b_std, gen=gen,
                               dtype=dtype)
        for name, p in self.named_parameters():
            p.requires_grad_(self._family(name) in trainable)

    @staticmethod
    def _family(name: str) -> str:
        return "u" if name.startswith("readout.") else ("b" if name.endswith(".bias") else "W")

    @property
    def depth(self) -> int:
        return len(self.linears)

    def extra_repr(self) -> str:
        return (f"d={self.d}, widths={list(self.widths)}, out_dim={self.out_dim}, activation={self.activation!r}, "
                f"batch_norm={self.batch_norm}, bias={self.has_bias}, trainable={self.trainable}")

    def hidden_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x^1, ..., x^L and the output f (the coordinates a coord check measures)."""
        act, out = ACTIVATIONS[self.activation], []
        for l, linear in enumerate(self.linears):
            h = linear(x)
            x = act(self.norms[l](h) if self.norms is not None else h)
            out.append(x)
        return out + [self.readout(x)]

    def readout_features(self, x: torch.Tensor) -> torch.Tensor:
        """x^L, the features the readout sees (with ``trainable=("u",)`` the network is a linear model on them:
        training only the readout is least squares on these random features, Agarwal et al.'s top-layer case)."""
        return self.hidden_features(x)[-2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden_features(x)[-1]
