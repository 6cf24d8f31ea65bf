r"""Readers for the UCI regression files of Caron et al. (E2), for users who have them locally.

Each reader takes the file as distributed by UCI and returns a :class:`Dataset` after the paper's
preparation (permutation seed 10, 40 / 40 / 20 split, train-statistics standardisation of x and y).
Columns (0-based) as the authors use them:

=========  ==============================  ==================================  =========  ======
name       file                            format                              x          y
=========  ==============================  ==================================  =========  ======
concrete   ``Concrete_Data.xls``           Excel 97 (.xls), header row         0..7       8
energy     ``ENB2012_data.xlsx``           Excel (.xlsx), header row           0..7       8 (Y1)
airfoil    ``airfoil_self_noise.dat``      tab / whitespace text, no header    0..4       5
ccpp       ``CCPP.zip``                    zip with ``CCPP/Folds5x2_pp.xlsx``  0..3       4 (PE)
naval      ``UCI CBM Dataset.zip``         zip with ``UCI CBM Dataset/data.txt`` 0..15    16
=========  ==============================  ==================================  =========  ======

``plant`` is an alias of ``ccpp``.  For the zips the extracted inner file is accepted too.  The naval
``data.txt`` has no header row; it is read as such (the authors' reader took its first row as a header
and so dropped one sample).  ``target`` overrides the target column.

Example:
    >>> from ntklab.data import load_dataset
    >>> # load_dataset("concrete", path="~/data/Concrete_Data.xls")   (needs the file)
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from .._errors import ConfigError, check_choice
from ._dataset import Dataset
from ._files import prepare_table
from ._prepare import PAPER_SPLIT_SEED
from ._tables import Table, read_excel, read_text, require_file

__all__ = ["UCI_FILES", "uci_dataset", "read_uci_table"]

# name -> (expected file, zip member suffix or None, reader kind, number of x columns, y column)
UCI_FILES: dict[str, tuple[str, str | None, str, int, int]] = {
    "concrete": ("Concrete_Data.xls", None, "excel", 8, 8),
    "energy": ("ENB2012_data.xlsx", None, "excel", 8, 8),
    "airfoil": ("airfoil_self_noise.dat", None, "whitespace", 5, 5),
    "ccpp": ("CCPP.zip", "Folds5x2_pp.xlsx", "excel", 4, 4),
    "naval": ("UCI CBM Dataset.zip", "data.txt", "whitespace", 16, 16),
}
ALIASES = {"plant": "ccpp"}


def _zip_member(p: Path, suffix: str) -> tuple[str, bytes]:
    try:
        with zipfile.ZipFile(p) as z:
            names = [n for n in z.namelist() if n.endswith(suffix) and not n.startswith("__MACOSX")]
            if not names:
                raise ConfigError("data.path", f"{p}: the zip holds no file ending in {suffix!r}",
                                  allowed=", ".join(z.namelist()[:10]))
            return names[0], z.read(names[0])
    except zipfile.BadZipFile:
        raise ConfigError("data.path", f"{p}: not a zip file") from None


def read_uci_table(name: str, path) -> Table:
    """The raw table of UCI file ``name`` (the zip's member for ccpp / naval)."""
    check_choice("data.dataset", name, tuple(UCI_FILES) + tuple(ALIASES))
    name = ALIASES.get(name, name)
    p = require_file(path)
    _, member, kind, _, _ = UCI_FILES[name]
    data, source, inner = None, str(p), p
    if p.suffix.lower() == ".zip":
        if member is None:
            raise ConfigError("data.path", f"{p}: {name} is read from {UCI_FILES[name][0]!r}, not a zip")
        mname, data = _zip_member(p, member)
        source, inner = f"{p}!{mname}", Path(mname)
    if kind == "excel":
        return read_excel(inner if data is None else Path(inner.name), source=source, data=data)
    text = None
    if data is not None:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError("data.path", f"{source}: not a UTF-8 text file") from None
    return read_text(inner, source=source, text=text, delimiter=None, header=False)


def uci_dataset(name: str, *, path: str = "", target=None, split_seed: int = PAPER_SPLIT_SEED) -> Dataset:
    table = read_uci_table(name, path)
    key = ALIASES.get(name, name)
    _, _, _, n_x, y_col = UCI_FILES[key]
    need = max(n_x, y_col + 1)
    if len(table.columns) < need:
        raise ConfigError("data.path", f"{table.source}: {key} needs at least {need} columns, "
                          f"found {len(table.columns)} ({', '.join(map(repr, table.columns))})")
    if target is None:
        target, features = y_col, [j for j in range(n_x) if j != y_col]
    else:
        features = None
    return prepare_table(key, table, target=target, features=features, split_seed=split_seed)


def uci_reader(name: str):
    """A registry entry ``fn(*, path, target=None, split_seed=10)`` for UCI file ``name``."""

    def fn(*, path: str = "", target=None, split_seed: int = PAPER_SPLIT_SEED) -> Dataset:
        return uci_dataset(name, path=path, target=target, split_seed=split_seed)

    fn.__name__ = name
    return fn
