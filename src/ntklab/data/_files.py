r"""The user's own files: generic CSV and NPZ, with a choice of target column.

- ``csv_file(path=..., target=-1, features=None, delimiter=",", header=True, task="regression")``: a
  delimited text file (``delimiter="whitespace"`` for space/tab separated); ``target`` is a column name or
  an integer index (negative from the end), ``features`` the input columns (default: all others).
- ``npz_file(path=..., x_key="x", y_key="y", target=None, task=...)``: arrays ``x`` (N, d) and ``y`` (N,);
  or, with ``target``, one array ``x_key`` whose column ``target`` is the target.

Both then go through the paper's preparation (:func:`ntklab.data.paper_split`).  Classification labels
must be integers 0..K-1.  A missing file, an unknown column, a non-numeric or NaN cell raises
``ConfigError`` naming the file and the column.

Example:
    >>> import tempfile, pathlib
    >>> from ntklab.data import load_dataset
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy.csv"
    >>> _ = p.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{2 * i}\n" for i in range(20)))
    >>> load_dataset("csv", path=str(p), target="y").x_train.shape
    torch.Size([8, 2])
"""

from __future__ import annotations

import numpy as np

from .._errors import ConfigError, check_choice
from ._dataset import Dataset
from ._prepare import PAPER_SPLIT_SEED, paper_split
from ._tables import Table, column_index, read_text, require_file, select_columns

__all__ = ["csv_file", "npz_file", "prepare_table"]

TASKS = ("regression", "classification")


def _labels(y: np.ndarray, source: str, column: str) -> np.ndarray:
    if not np.all(y == np.round(y)) or y.min() < 0:
        raise ConfigError("data.target", f"{source}: column {column!r} must hold integer class labels 0..K-1 "
                          "for classification")
    return y.astype(np.int64)


def prepare_table(name: str, table: Table, *, target=-1, features=None, task: str = "regression",
                  split_seed: int = PAPER_SPLIT_SEED, standardise_x: bool = True) -> Dataset:
    check_choice("data.task", task, TASKS)
    x, y, names = select_columns(table, target=target, features=features)
    if task == "classification":
        y = _labels(y, table.source, table.columns[column_index(table, target, "data.target")])
    ds = paper_split(name, x, y, task=task, seed=split_seed, standardise_x=standardise_x, source=table.source)
    ds.extra["features"] = names
    return ds


def csv_file(*, path: str = "", target=-1, features: list | None = None, delimiter: str = ",",
             header: bool = True, task: str = "regression", split_seed: int = PAPER_SPLIT_SEED,
             standardise_x: bool = True) -> Dataset:
    p = require_file(path)
    table = read_text(p, delimiter=None if delimiter == "whitespace" else delimiter, header=header)
    return prepare_table(p.stem, table, target=target, features=features, task=task, split_seed=split_seed,
                         standardise_x=standardise_x)


def npz_file(*, path: str = "", x_key: str = "x", y_key: str = "y", target: int | None = None,
             task: str = "regression", split_seed: int = PAPER_SPLIT_SEED, standardise_x: bool = True) -> Dataset:
    p = require_file(path)
    check_choice("data.task", task, TASKS)
    try:
        arrays = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise ConfigError("data.path", f"{p}: cannot read as .npz ({type(exc).__name__}: {exc})") from None
    with arrays:
        keys = list(arrays.files)
        if x_key not in keys:
            raise ConfigError("data.x_key", f"{p}: no array {x_key!r}", allowed=", ".join(map(repr, keys)))
        x = np.asarray(arrays[x_key])
        if target is None:
            if y_key not in keys:
                raise ConfigError("data.y_key", f"{p}: no array {y_key!r}", allowed=", ".join(map(repr, keys)))
            y = np.asarray(arrays[y_key])
    x2 = x.reshape(len(x), -1).astype(object)
    columns = [f"{x_key}[:, {j}]" for j in range(x2.shape[1])]
    if target is None:
        y = y.reshape(len(y), -1) if y.ndim else y.reshape(1, 1)
        if len(y) != len(x2) or y.shape[1] != 1:
            raise ConfigError("data.y_key", f"{p}: {y_key!r} must hold one target per row of {x_key!r} "
                              f"(got x {x.shape}, y {arrays_shape(y)})")
        x2, columns, target = np.column_stack([x2, y.astype(object)]), columns + [y_key], -1
    return prepare_table(p.stem, Table(str(p), columns, x2.tolist()), target=target, task=task,
                         split_seed=split_seed, standardise_x=standardise_x)


def arrays_shape(a) -> tuple:
    return tuple(np.shape(a))
