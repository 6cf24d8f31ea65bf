r"""Datasets that need no download: scikit-learn's bundled sets and generators, and MNIST-1D generated offline.

Each goes through the paper's preparation (:func:`ntklab.data.paper_split`: permutation seed 10,
40 / 40 / 20 train / valid / test, train-statistics standardisation, one-hot labels):

- ``diabetes``: 442 x 10 regression (the stand-in for the paper's UCI sets, E2);
- ``digits``: 1797 x 64 images, 10 classes, pixels / 16 (not standardised, as the paper's MNIST pixels / 255; E3);
- ``mnist1d``: 40-d MNIST-1D, 10 classes, generated with ``mnist1d.data.make_dataset(get_dataset_args())``
  (deterministic; ``num_samples`` = 5000 by default, never downloaded), standardised;
- ``friedman1`` / ``friedman2`` / ``friedman3``: scikit-learn's Friedman regression generators (seeded).

Example:
    >>> from ntklab.data import load_dataset
    >>> ds = load_dataset("diabetes")
    >>> ds.x_train.shape, ds.task
    (torch.Size([176, 10]), 'regression')
"""

from __future__ import annotations

import functools

import numpy as np

from .._errors import ConfigError
from ._dataset import Dataset
from ._prepare import PAPER_FRACTIONS, PAPER_SPLIT_SEED, paper_split

__all__ = ["diabetes", "digits", "mnist1d", "friedman"]


def diabetes(*, split_seed: int = PAPER_SPLIT_SEED) -> Dataset:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    return paper_split("diabetes", x, y, seed=split_seed, source="sklearn load_diabetes")


def digits(*, split_seed: int = PAPER_SPLIT_SEED, standardise_x: bool = False,
           fractions: tuple[float, float] = PAPER_FRACTIONS) -> Dataset:
    """``fractions`` = (train, valid) as :func:`paper_split`; e.g. (0.8, 0) gives the 1437 / 360 train / test
    split of the deep-network presets."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return paper_split("digits", x / 16.0, y, task="classification", n_classes=10, seed=split_seed,
                       standardise_x=standardise_x, fractions=fractions, source="sklearn load_digits")


@functools.lru_cache(maxsize=4)
def mnist1d_arrays(num_samples: int) -> tuple[np.ndarray, np.ndarray]:
    import mnist1d.data as md

    args = md.get_dataset_args()
    args.num_samples = num_samples
    d = md.make_dataset(args)  # generated offline (seeded by args.seed); never download=True
    x = np.concatenate([d["x"], d["x_test"]])
    y = np.concatenate([d["y"], d["y_test"]])
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def mnist1d(*, num_samples: int = 5000, split_seed: int = PAPER_SPLIT_SEED, standardise_x: bool = True,
            fractions: tuple[float, float] = PAPER_FRACTIONS) -> Dataset:
    if not isinstance(num_samples, int) or num_samples < 50:
        raise ConfigError("data.num_samples", f"got {num_samples!r}", allowed="integers >= 50")
    x, y = mnist1d_arrays(num_samples)
    return paper_split("mnist1d", x, y, task="classification", n_classes=10, seed=split_seed,
                       standardise_x=standardise_x, fractions=fractions, source="mnist1d make_dataset")


_FRIEDMAN = ("friedman1", "friedman2", "friedman3")


def friedman(*, which: int = 1, n_samples: int = 500, n_features: int = 10, noise: float = 0.0,
             seed: int = 0, split_seed: int = PAPER_SPLIT_SEED) -> Dataset:
    from sklearn import datasets as skd

    if which not in (1, 2, 3):
        raise ConfigError("data.which", f"got {which!r}", allowed="1, 2, 3")
    if not isinstance(n_samples, int) or n_samples < 5:
        raise ConfigError("data.n_samples", f"got {n_samples!r}", allowed="integers >= 5")
    if not noise >= 0:
        raise ConfigError("data.noise", f"got {noise!r}", allowed="[0, inf)")
    if which == 1:
        if not isinstance(n_features, int) or n_features < 5:
            raise ConfigError("data.n_features", f"got {n_features!r}", allowed="integers >= 5")
        x, y = skd.make_friedman1(n_samples=n_samples, n_features=n_features, noise=noise, random_state=seed)
    else:
        gen = skd.make_friedman2 if which == 2 else skd.make_friedman3
        x, y = gen(n_samples=n_samples, noise=noise, random_state=seed)
    return paper_split(f"friedman{which}", x, y, seed=split_seed, source=f"sklearn make_friedman{which}")


def friedman_named(which: int):
    """``friedman1``-style registry entries: the generator with ``which`` fixed."""

    def fn(*, n_samples: int = 500, n_features: int = 10, noise: float = 0.0, seed: int = 0,
           split_seed: int = PAPER_SPLIT_SEED) -> Dataset:
        return friedman(which=which, n_samples=n_samples, n_features=n_features, noise=noise, seed=seed,
                        split_seed=split_seed)

    fn.__name__ = f"friedman{which}"
    return fn
