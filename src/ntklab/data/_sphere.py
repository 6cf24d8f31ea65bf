r"""Simulated data of Caron et al. (E1): inputs uniform on the unit sphere S^{d-1},

    y = (1/d) sum_k 5 sin(pi x_k) + eps,   eps ~ N(0, noise^2)   (d = 50, noise = 0.1, n = 100 + 100).

The authors generated the data once without a seed; here ``seed`` fixes it.

Example:
    >>> from ntklab.data import sphere_sin
    >>> ds = sphere_sin(seed=0)
    >>> ds.x_train.shape, ds.y_train.shape
    (torch.Size([100, 50]), torch.Size([100, 1]))
"""

from __future__ import annotations

import math

import torch

from .._errors import ConfigError
from ._dataset import Dataset

__all__ = ["sphere_sin", "uniform_sphere"]


def uniform_sphere(n: int, d: int, *, generator: torch.Generator) -> torch.Tensor:
    """n points uniform on S^{d-1} (normalised Gaussians), float64."""
    x = torch.randn(n, d, generator=generator, dtype=torch.float64, device="cpu")
    return x / x.norm(dim=1, keepdim=True)


def sphere_sin(*, n_train: int = 100, n_test: int = 100, d: int = 50, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Caron et al.'s E1 data: ``n_train`` + ``n_test`` points uniform on S^{d-1},
    y = mean_k 5 sin(π x_k) + N(0, noise²), drawn from ``seed``; float64 tensors (a run casts them to its dtype)."""
    for name, v in (("n_train", n_train), ("n_test", n_test), ("d", d)):
        if v < 1:
            raise ConfigError(f"data.{name}", f"got {v}", allowed="integers >= 1")
    if not noise >= 0:
        raise ConfigError("data.noise", f"got {noise}", allowed="[0, inf)")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = uniform_sphere(n_train + n_test, d, generator=gen)
    y = (5 * torch.sin(math.pi * x)).mean(1, keepdim=True)
    y = y + noise * torch.randn(y.shape, generator=gen, dtype=torch.float64, device="cpu")
    return Dataset("sphere_sin", x[:n_train], y[:n_train], x[n_train:], y[n_train:])
