r"""Points uniform on the sphere with arbitrary labels (the setting of Du et al. 2019 and Bu et al. 2021).

x_i uniform on S^{d-1} (so |x_i| = 1 and no two are parallel almost surely); labels independent of x:
``labels="sign"`` draws y_i = +-1 (Rademacher), ``"gaussian"`` draws y_i ~ N(0, 1).  Registered as
``sphere_random``.

Example:
    >>> from ntklab.data import load_dataset
    >>> ds = load_dataset("sphere_random", n_train=10, n_test=5, d=4, seed=1)
    >>> ds.x_train.shape, sorted(set(ds.y_train.flatten().tolist()))
    (torch.Size([10, 4]), [-1.0, 1.0])
"""

from __future__ import annotations

import torch

from .._errors import ConfigError, check_choice
from ._dataset import Dataset
from ._registry import register_dataset
from ._sphere import uniform_sphere

__all__ = ["sphere_random"]


def sphere_random(*, n_train: int = 100, n_test: int = 20, d: int = 20, labels: str = "sign",
                  seed: int = 0) -> Dataset:
    """Points uniform on S^{d-1} with labels independent of x (``sign``: y_i = ±1, ``gaussian``: y_i ~ N(0, 1)),
    ``n_train`` / ``n_test`` of them, drawn from ``seed``; float64."""
    for name, v in (("n_train", n_train), ("n_test", n_test), ("d", d)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"data.{name}", f"got {v!r}", allowed="integers >= 1")
    check_choice("data.labels", labels, ("sign", "gaussian"))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = uniform_sphere(n_train + n_test, d, generator=gen)
    if labels == "sign":
        y = torch.randint(0, 2, (n_train + n_test, 1), generator=gen, device="cpu").to(torch.float64) * 2 - 1
    else:
        y = torch.randn(n_train + n_test, 1, generator=gen, dtype=torch.float64, device="cpu")
    return Dataset("sphere_random", x[:n_train], y[:n_train], x[n_train:], y[n_train:])


register_dataset("sphere_random", sphere_random)
