r"""MNIST in the IDX format (``train-images-idx3-ubyte`` etc., optionally ``.gz``), as Caron et al. (E3) use it.

IDX: a 4-byte magic ``0x00 0x00 <type> <ndim>`` (type 0x08 = unsigned byte), then ndim big-endian int32
dimensions, then the data in C order.  The experiment: pixels / 255 flattened to 784 (not standardised),
one-hot labels; train = the first ``n_train`` training images, test = the first ``n_test`` test images;
the transfer split: training images ``n_train .. n_train + n_transfer`` (transfer-train) and test images
``n_test .. n_test + n_transfer`` (transfer-test).  (The authors: 5000 each.)

Example:
    >>> from ntklab.data import load_dataset
    >>> # load_dataset("mnist_idx", path="~/data/mnist")   (a directory holding the four IDX files)
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from .._errors import ConfigError
from ._dataset import Dataset
from ._prepare import one_hot
from ._tables import require_file

__all__ = ["read_idx", "mnist_idx", "MNIST_FILES"]

MNIST_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
               "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` is decompressed)."""
    p = require_file(path)
    raw = p.read_bytes()
    if p.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            raise ConfigError("data.path", f"{p}: not a valid gzip file") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise ConfigError("data.path", f"{p}: not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ConfigError("data.path", f"{p}: truncated IDX header")
    dims = tuple(int(v) for v in np.frombuffer(raw[4:head], dtype=">i4"))
    dtype = np.dtype(_TYPES[raw[2]])
    count = int(np.prod(dims)) if dims else 1
    if len(raw) - head != count * dtype.itemsize:
        raise ConfigError("data.path", f"{p}: IDX dimensions {dims} need {count * dtype.itemsize} bytes of data, "
                          f"found {len(raw) - head}")
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for cand in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / cand).exists():
            return directory / cand
    raise ConfigError("data.path", f"{directory}: no file {stem!r} (or {stem}.gz)",
                      allowed="a directory holding " + ", ".join(MNIST_FILES.values()))


def mnist_idx(*, path: str = "", n_train: int = 5000, n_test: int = 5000, n_transfer: int = 5000) -> Dataset:
    directory = require_file(path)
    if not directory.is_dir():
        raise ConfigError("data.path", f"{directory}: expected the directory holding the four MNIST IDX files")
    arr = {k: read_idx(_find(directory, v)) for k, v in MNIST_FILES.items()}
    for split in ("train", "test"):
        x, y = arr[f"x_{split}"], arr[f"y_{split}"]
        if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
            raise ConfigError("data.path", f"{directory}: {split} images {x.shape} and labels {y.shape} do not match")
    for name, v, avail in (("n_train", n_train, len(arr["y_train"])), ("n_test", n_test, len(arr["y_test"]))):
        if not isinstance(v, int) or not 1 <= v <= avail:
            raise ConfigError(f"data.{name}", f"got {v!r}", allowed=f"integers in [1, {avail}]")
    k = int(max(arr["y_train"].max(), arr["y_test"].max())) + 1
    x_all = {s: arr[f"x_{s}"].reshape(len(arr[f"x_{s}"]), -1).astype(np.float64) / 255.0 for s in ("train", "test")}
    y_all = {s: one_hot(arr[f"y_{s}"].astype(np.int64), k) for s in ("train", "test")}
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device="cpu")  # noqa: E731
    extra = {"source": str(directory)}
    tr_hi, te_hi = n_train + n_transfer, n_test + n_transfer
    if n_transfer > 0 and len(x_all["train"]) > n_train and len(x_all["test"]) > n_test:
        extra["transfer"] = {"x_train": t(x_all["train"][n_train:tr_hi]), "y_train": t(y_all["train"][n_train:tr_hi]),
                             "x_test": t(x_all["test"][n_test:te_hi]), "y_test": t(y_all["test"][n_test:te_hi])}
    return Dataset("mnist", t(x_all["train"][:n_train]), t(y_all["train"][:n_train]), t(x_all["test"][:n_test]),
                   t(y_all["test"][:n_test]), task="classification", n_classes=k, extra=extra)
