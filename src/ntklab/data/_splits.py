r"""The splits the deep-network presets use: points on the sphere, digits on the sphere, and standardised
train / test splits of digits and mnist1d (Agarwal et al.'s experiments, run on CPU-sized data).

Example:
    >>> from ntklab.data import digits_split, sphere_points
    >>> x_tr, y_tr, x_te, y_te = digits_split(seed=0)
    >>> x_tr.shape, x_te.shape, tuple(sphere_points(5, 3, seed=0).shape)
    ((1437, 64), (360, 64), (5, 3))
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._bundled import mnist1d_arrays
from ._prepare import standardise
from ._sphere import uniform_sphere

__all__ = ["sphere_points", "digits_on_sphere", "digits_split", "mnist1d_split"]


def sphere_points(n: int, d: int, *, seed: int) -> torch.Tensor:
    """n points uniform on S^{d-1}, float64."""
    return uniform_sphere(n, d, generator=torch.Generator(device="cpu").manual_seed(seed))


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float64), data.target.astype(np.int64)


def digits_on_sphere(n: int, *, seed: int) -> torch.Tensor:
    """n random digits (8x8 = 64 pixels, sklearn's bundled copy), each scaled to unit norm, float64."""
    x, _ = _load_digits()
    idx = np.random.default_rng(seed).permutation(len(x))[:n]
    x = torch.as_tensor(x[idx], device="cpu")
    return x / x.norm(dim=1, keepdim=True)


def digits_split(*, seed: int = 0, test_fraction: float = 0.2):
    """(x_train, y_train, x_test, y_test) of the digits as NumPy arrays, features standardised on the
    training part (1437 / 360 rows at the default 0.2)."""
    x, y = _load_digits()
    idx = np.random.default_rng(seed).permutation(len(x))
    n_test = math.ceil(test_fraction * len(x))  # 360 of 1797
    te, tr = idx[:n_test], idx[n_test:]
    x_tr, x_te = standardise(x[tr], x[te])
    return x_tr, y[tr], x_te, y[te]


def mnist1d_split():
    """mnist1d (4000 train / 1000 test, 40 features) generated offline with the package's default arguments,
    features standardised on the training part."""
    x, y = mnist1d_arrays(5000)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.int64)
    x_tr, x_te = standardise(x[:4000], x[4000:])
    return x_tr, y[:4000], x_te, y[4000:]
