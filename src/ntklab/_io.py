r"""Atomic file writes that honour the umask, and the one writer of tables.

Every file ntklab writes goes through :func:`atomic_write_bytes`: the data go to a temporary file in the same
directory, are flushed and fsynced, get the permissions a plain ``open(path, "w")`` would give (0666 minus the
process umask; ``tempfile.mkstemp`` alone would leave 0600), and are renamed over the target.  A reader
therefore sees the old file or the new one, never a half-written one.

A failure of the operating system (read-only directory, full disk, quota) raises :class:`WriteError`, which
names the path and the OS error in one line; the command line prints it and exits with status 1.

Example:
    >>> import os, tempfile, pandas as pd
    >>> from ntklab._io import atomic_write_text, write_table
    >>> d = tempfile.mkdtemp()
    >>> atomic_write_text(os.path.join(d, "a.txt"), "hello")
    >>> _ = write_table(pd.DataFrame({"x": [1, 2]}), os.path.join(d, "t.parquet"))
    >>> sorted(os.listdir(d))
    ['a.txt', 't.parquet']
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["WriteError", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_save_npz",
           "atomic_save_torch", "write_table", "make_dirs", "file_mode", "staging_dir", "replace_dir"]


class WriteError(OSError):
    """Writing ``path`` failed in the operating system; ``str()`` is one line naming the path and the cause."""

    def __init__(self, path: str | Path, cause: OSError):
        self.path = str(path)
        self.cause = cause
        reason = cause.strerror or type(cause).__name__
        super().__init__(cause.errno, f"cannot write {self.path!r}: {reason}")

    def __str__(self) -> str:
        return self.args[1]


def file_mode() -> int:
    """0o666 minus the process umask: the mode ``open(path, "w")`` gives a new file."""
    return 0o666 & ~_umask()


def make_dirs(path: str | Path) -> Path:
    """``mkdir -p`` (modes from the umask), raising :class:`WriteError` on an OS failure."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(path, exc) from None
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, chmod to the umask's mode, rename)."""
    path = Path(path)
    make_dirs(path.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise WriteError(path, exc) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str | None) -> None:
    if tmp is not None and os.path.exists(tmp):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def staging_dir(target: str | Path) -> Path:
    """A new hidden directory beside ``target`` (``.NAME.staging-XXXX``, mode from the umask) to build a
    replacement of ``target`` in; see :func:`replace_dir`."""
    target = Path(target)
    make_dirs(target.parent)
    try:
        path = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
        os.chmod(path, 0o777 & ~_umask())
    except OSError as exc:
        raise WriteError(target.parent, exc) from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_dir(staging: str | Path, target: str | Path) -> None:
    """Put the finished directory ``staging`` in place of ``target`` (two renames: the old directory moves
    aside, the new one takes its name, the old one is removed).  A reader sees the old tree or the new one,
    never a mix; a crash between the two renames leaves ``target`` absent and both trees intact beside it."""
    staging, target = Path(staging), Path(target)
    old = None
    try:
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
        os.rename(staging, target)
    except OSError as exc:
        raise WriteError(target, exc) from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_save_npz(path, **arrays) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


def atomic_save_torch(path, obj) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def write_table(frame, path: str | Path) -> Path:
    """Write a DataFrame atomically: Parquet for ``.parquet`` (object columns as strings), CSV for ``.csv``."""
    path = Path(path)
    if path.suffix == ".csv":
        atomic_write_text(path, frame.to_csv(index=False))
        return path
    if path.suffix != ".parquet":
        raise ValueError(f"write_table: {str(path)!r} must end in .parquet or .csv")
    buf = io.BytesIO()
    objects = {c: str for c in frame.columns if frame[c].dtype == object}
    (frame.astype(objects) if objects else frame).to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
    return path
