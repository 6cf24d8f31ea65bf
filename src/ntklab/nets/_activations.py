r"""Elementwise activations by name, with their derivatives.

The closed-form NTK of a shallow net needs sigma and sigma'.  ``normalized_relu`` is the affine map of ReLU
with mean 0 and second moment 1 under N(0, 1) (Agarwal et al.):

    sigma(z) = sqrt(2 pi / (pi - 1)) * (max(z, 0) - 1/sqrt(2 pi)).

``gelu`` is the exact (erf) GELU, z * Phi(z), with derivative Phi(z) + z phi(z).

Example:
    >>> from ntklab.nets import get_activation
    >>> act = get_activation("tanh")
    >>> float(act.derivative(torch.tensor(0.0)))
    1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .._errors import check_choice

__all__ = ["Activation", "get_activation", "ACTIVATIONS"]

_SQRT_2PI = math.sqrt(2 * math.pi)
_NRELU_SCALE = math.sqrt(2 * math.pi / (math.pi - 1))


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)


def _phi(z):
    return torch.exp(-0.5 * z * z) / _SQRT_2PI


def _Phi(z):
    return 0.5 * (1 + torch.erf(z / math.sqrt(2)))


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", torch.relu, lambda z: (z > 0).to(z.dtype)),
    "normalized_relu": Activation(
        "normalized_relu",
        lambda z: _NRELU_SCALE * (torch.relu(z) - 1 / _SQRT_2PI),
        lambda z: _NRELU_SCALE * (z > 0).to(z.dtype),
    ),
    "tanh": Activation("tanh", torch.tanh, lambda z: 1 - torch.tanh(z) ** 2),
    "erf": Activation("erf", torch.erf, lambda z: (2 / math.sqrt(math.pi)) * torch.exp(-z * z)),
    "gelu": Activation("gelu", lambda z: z * _Phi(z), lambda z: _Phi(z) + z * _phi(z)),
    "identity": Activation("identity", lambda z: z, torch.ones_like),
    "softplus": Activation("softplus", torch.nn.functional.softplus, torch.sigmoid),
}


def get_activation(name: str) -> Activation:
    """The :class:`Activation` σ named ``name`` (with its derivative σ′), from ``ACTIVATIONS``."""
    check_choice("activation", name, tuple(ACTIVATIONS))
    return ACTIVATIONS[name]
