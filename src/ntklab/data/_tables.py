r"""From a table of cells (header + rows) to numeric inputs X (N, d) and a target y (N,), with errors
that name the file and the column.

``select_columns(table, target=..., features=None)`` picks the target column (a name, or an integer index,
negative counting from the end) and the feature columns (default: every other column), converts each cell
to float and refuses a cell that is empty, NaN or not a number, naming the file, the column and the row.
Spreadsheets are read with xlrd (.xls) and openpyxl (.xlsx), text files with pandas.

Example:
    >>> from ntklab.data._tables import Table, select_columns
    >>> t = Table("toy.csv", ["a", "b", "y"], [[1, 2, 3], [4, 5, 6]])
    >>> x, y, names = select_columns(t, target="y")
    >>> x.tolist(), y.tolist(), names
    ([[1.0, 2.0], [4.0, 5.0]], [3.0, 6.0], ['a', 'b'])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import ConfigError

__all__ = ["Table", "select_columns", "read_excel", "read_text", "require_file", "column_index"]


@dataclass
class Table:
    source: str  # the file (and member) the cells came from, for messages
    columns: list[str]
    rows: list[list]


def require_file(path, field: str = "data.path") -> Path:
    if path is None or str(path) == "":
        raise ConfigError(field, "no file given", allowed="the path of an existing file")
    p = Path(str(path)).expanduser()
    if not p.exists():
        raise ConfigError(field, f"file {str(p)!r} does not exist")
    return p


def column_index(table: Table, col, field: str) -> int:
    n = len(table.columns)
    if isinstance(col, bool):
        col = str(col)
    if isinstance(col, (int, np.integer)):
        if -n <= col < n:
            return int(col) % n
    elif col in table.columns:
        return table.columns.index(col)
    elif isinstance(col, str) and col.lstrip("-").isdigit() and col not in table.columns:
        return column_index(table, int(col), field)
    raise ConfigError(field, f"{table.source}: no column {col!r}",
                      allowed=", ".join(repr(c) for c in table.columns) + f" or an index in [-{n}, {n - 1}]")


def _to_float(table: Table, j: int) -> np.ndarray:
    out = np.empty(len(table.rows))
    name = table.columns[j]
    for i, row in enumerate(table.rows):
        v = row[j] if j < len(row) else None
        try:
            f = float(v) if not isinstance(v, str) else float(v.strip())
        except (TypeError, ValueError):
            raise ConfigError("data", f"{table.source}: column {name!r}, data row {i + 1}: "
                              f"non-numeric value {v!r}") from None
        if not math.isfinite(f):
            raise ConfigError("data", f"{table.source}: column {name!r}, data row {i + 1}: "
                              f"{'missing value (NaN)' if f != f else 'infinite value'}")
        out[i] = f
    return out


def select_columns(table: Table, *, target=-1, features=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X, y, feature names) from ``table``; every cell must be a finite number."""
    if not table.rows:
        raise ConfigError("data", f"{table.source}: the table has no rows")
    t = column_index(table, target, "data.target")
    if features is None:
        f_idx = [j for j in range(len(table.columns)) if j != t]
    else:
        f_idx = [column_index(table, c, "data.features") for c in features]
        if t in f_idx:
            raise ConfigError("data.features", f"{table.source}: the target {table.columns[t]!r} is also a feature")
    if not f_idx:
        raise ConfigError("data.features", f"{table.source}: no feature column left besides the target")
    x = np.stack([_to_float(table, j) for j in f_idx], axis=1)
    y = _to_float(table, t)
    return x, y, [table.columns[j] for j in f_idx]


def read_excel(path: Path, *, source: str | None = None, data=None, header: bool = True) -> Table:
    """First sheet of a .xls (xlrd) or .xlsx (openpyxl) file; ``data`` = the file's bytes (zip members)."""
    source = source or str(path)
    suffix = Path(str(path)).suffix.lower()
    try:
        if suffix == ".xls":
            import xlrd

            book = xlrd.open_workbook(str(path)) if data is None else xlrd.open_workbook(file_contents=data)
            sheet = book.sheet_by_index(0)
            cells = [sheet.row_values(i) for i in range(sheet.nrows)]
        else:
            import io

            import openpyxl

            src = str(path) if data is None else io.BytesIO(data)
            book = openpyxl.load_workbook(src, read_only=True, data_only=True)
            cells = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            book.close()
    except ConfigError:
        raise
    except Exception as exc:  # a corrupt or mislabelled spreadsheet: one clear line
        raise ConfigError("data.path", f"{source}: cannot read as {suffix or 'a spreadsheet'} "
                          f"({type(exc).__name__}: {exc})") from None
    cells = [r for r in cells if any(c not in (None, "") for c in r)]  # drop blank rows
    return _as_table(source, cells, header)


def _as_table(source: str, cells: list[list], header: bool) -> Table:
    if not cells:
        raise ConfigError("data", f"{source}: the file holds no data")
    width = max(len(r) for r in cells)
    if header:
        cols = [str(c).strip() if c not in (None, "") else f"column {j}" for j, c in enumerate(cells[0])]
        cols += [f"column {j}" for j in range(len(cols), width)]
        rows = cells[1:]
    else:
        cols = [f"column {j}" for j in range(width)]
        rows = cells
    return Table(source, cols, [list(r) for r in rows])


def read_text(path: Path, *, source: str | None = None, text: str | None = None, delimiter: str | None = ",",
              header: bool = True) -> Table:
    """A delimited text file (``delimiter=None``: any whitespace); cells stay strings until selected."""
    source = source or str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError("data.path", f"{source}: not a UTF-8 text file") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if delimiter is None:
        cells = [ln.split() for ln in lines]
    else:
        import csv

        cells = [[c.strip() for c in row] for row in csv.reader(lines, delimiter=delimiter)]
    return _as_table(source, cells, header)
