r"""The paper's preparation of a real dataset (Caron et al., E2/E3): permute, split, standardise, one-hot.

Given inputs X (N, d) and targets y (N,) (regression) or labels (N,) (classification):

1. permute the rows with ``np.random.RandomState(seed).permutation(N)`` (the authors: seed 10);
2. split in order into train / valid / test with n_train = int(0.4 N), n_valid = int(0.4 N), test = the rest;
3. standardise x (and, for regression, y) with the *train* mean and standard deviation (ddof 0):
   x' = (x - mean_train) / std_train.  A column constant on the train split (std 0) is only centred
   (divided by 1 instead of 0, so no inf/NaN reaches the network; the authors set the NaN to 0);
4. classification targets become one-hot rows (K = n_classes), kept unstandardised.

The valid split is the transfer data: it is cut 50 / 50 in order into transfer-train and transfer-test
(``Dataset.extra["transfer"]``), with no re-standardisation.

Example:
    >>> import numpy as np
    >>> from ntklab.data import paper_split
    >>> x, y = np.arange(40.0).reshape(20, 2), np.arange(20.0)
    >>> ds = paper_split("toy", x, y)
    >>> ds.x_train.shape, ds.x_test.shape, ds.extra["transfer"]["x_train"].shape
    (torch.Size([8, 2]), torch.Size([4, 2]), torch.Size([4, 2]))
"""

from __future__ import annotations

import numpy as np
import torch

from .._errors import ConfigError
from ._dataset import Dataset

__all__ = ["paper_split", "one_hot", "standardise", "transfer_split", "PAPER_SPLIT_SEED"]

PAPER_SPLIT_SEED = 10


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n_classes) one-hot rows of integer ``labels``."""
    out = np.zeros((len(labels), n_classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """(a - mean_train) / std_train for ``train`` and every array in ``others`` (std 0 -> 1)."""
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return [(a - mean) / std for a in (train, *others)]


def transfer_split(x: np.ndarray, y: np.ndarray) -> dict[str, torch.Tensor]:
    """The valid split cut 50 / 50 in order: transfer-train (first half) and transfer-test."""
    h = len(x) // 2
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device="cpu")  # noqa: E731
    return {"x_train": t(x[:h]), "y_train": t(y[:h]), "x_test": t(x[h:]), "y_test": t(y[h:])}


# The smallest splits a run and its claims can use: the train statistics standardise the data and the probes take
# lambda_min of the n_train x n_train NTK, which needs more rows than parameters of a line (8 is the floor below
# which the presets' orderings and slopes are not measurable); the valid split feeds the 50/50 transfer split.
MIN_TRAIN, MIN_VALID, MIN_TEST = 8, 2, 2
PAPER_FRACTIONS = (0.4, 0.4)  # train, valid; the test split is the rest


def split_sizes(n: int, train: float, valid: float) -> tuple[int, int]:
    """(n_train, n_valid) of ``n`` rows at fractions (train, valid); the test split is the rest."""
    return int(train * n), int(valid * n)


def _large_enough(n: int, train: float, valid: float) -> bool:
    n_tr, n_va = split_sizes(n, train, valid)
    return n_tr >= MIN_TRAIN and n - n_tr - n_va >= MIN_TEST and (valid == 0 or n_va >= MIN_VALID)


def minimum_rows(train: float, valid: float) -> int:
    """The fewest rows that give every split its minimum at these fractions."""
    n = MIN_TRAIN + MIN_TEST
    while not _large_enough(n, train, valid):
        n += 1
    return n


def _check_fractions(fractions) -> tuple[float, float]:
    tr, va = (float(f) for f in fractions)
    if not (0 < tr < 1 and 0 <= va < 1 and tr + va < 1):
        raise ConfigError("data.fractions", f"got {list(fractions)}",
                          allowed="[train, valid] with 0 < train, 0 <= valid, train + valid < 1")
    return tr, va


def paper_split(name: str, x, y, *, task: str = "regression", n_classes: int | None = None,
                seed: int = PAPER_SPLIT_SEED, fractions=PAPER_FRACTIONS, standardise_x: bool = True,
                standardise_y: bool = True, source: str = "") -> Dataset:
    """Permute (seed), split train / valid / test, standardise with train statistics, one-hot labels.

    ``fractions`` = (train, valid); the test split is the rest.  ``source`` names the file in messages.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    where = source or name
    if x.ndim != 2 or len(x) != len(y):
        raise ConfigError("data", f"{where}: x must be (N, d) with one target per row, got x {x.shape}, y {y.shape}")
    if not np.isfinite(x).all():
        raise ConfigError("data", f"{where}: inputs contain NaN or infinite values")
    tr, va = _check_fractions(fractions)
    n = len(x)
    n_tr, n_va = split_sizes(n, tr, va)
    if not _large_enough(n, tr, va):
        raise ConfigError("data", f"{where}: {n} rows are too few for the split {tr:g}/{va:g}/rest "
                                  f"({n_tr} train, {n_va} valid, {n - n_tr - n_va} test rows; needs at least "
                                  f"{MIN_TRAIN} train{f', {MIN_VALID} valid' if va > 0 else ''} and {MIN_TEST} "
                                  f"test rows: at least {minimum_rows(tr, va)} rows)")
    perm = np.random.RandomState(seed).permutation(n)
    x, y = x[perm], y[perm]
    if task == "classification":
        labels = y.astype(np.int64)
        k = int(n_classes if n_classes is not None else labels.max() + 1)
        y = one_hot(labels, k)
    else:
        y = np.asarray(y, dtype=np.float64).reshape(n, -1)
        if not np.isfinite(y).all():
            raise ConfigError("data", f"{where}: targets contain NaN or infinite values")
        k = None
    parts = [slice(0, n_tr), slice(n_tr, n_tr + n_va), slice(n_tr + n_va, n)]
    xs = [x[p] for p in parts]
    ys = [y[p] for p in parts]
    if standardise_x:
        xs = standardise(*xs)
    if standardise_y and task == "regression":
        ys = standardise(*ys)
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device="cpu")  # noqa: E731
    extra = {"valid": {"x": t(xs[1]), "y": t(ys[1])}, "split_seed": seed, "source": where}
    if n_va >= 2:
        extra["transfer"] = transfer_split(xs[1], ys[1])
    return Dataset(name, t(xs[0]), t(ys[0]), t(xs[2]), t(ys[2]), task=task, n_classes=k, extra=extra)
