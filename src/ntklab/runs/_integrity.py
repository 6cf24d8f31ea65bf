"""Integrity of stored runs: a run counts as results only when its status is finished and its files check out.

When a run finishes, its status records the SHA-256 of every result file (``files``); :func:`verify_run`
recomputes them, so a half-written, truncated or bit-flipped run directory is detected (and a sweep redoes it)
instead of being read as results.  A run without recorded digests (older runs) is checked for readability.

Example:
    >>> import ntklab, tempfile
    >>> from ntklab.runs import verify_run
    >>> run = ntklab.train(ntklab.RunConfig(training={"steps": 2}, network={"width": 8}), progress=False)
    >>> verify_run(run.path) is None
    True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from ._identity import run_id
from ._store import FINISHED, METRIC_COLUMNS, read_status

__all__ = ["RESULT_FILES", "file_digests", "verify_run"]

RESULT_FILES = ("metrics.parquet", "arrays.npz", "model.pt")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_digests(path: str | Path) -> dict[str, str]:
    """SHA-256 of each result file present in run directory ``path``."""
    path = Path(path)
    return {f: _sha256(path / f) for f in RESULT_FILES if (path / f).is_file()}


def verify_run(path: str | Path, *, expected_id: str | None = None) -> str | None:
    """None if ``path`` holds a finished, intact run; otherwise why it does not count (a short reason)."""
    path = Path(path)
    st = read_status(path)
    if st.get("status") not in FINISHED:
        return f"status {st.get('status')}"
    try:
        meta = json.loads((path / "config.json").read_text())
        config = meta["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return "config.json missing or corrupt"
    if expected_id is not None and run_id(config) != expected_id:
        return "config does not match the run id"
    files = st.get("files")
    if isinstance(files, dict):
        for name, digest in files.items():
            if not (path / name).is_file():
                return f"{name} missing"
            if _sha256(path / name) != digest:
                return f"{name} corrupt (checksum)"
    try:
        cols = tuple(pd.read_parquet(path / "metrics.parquet").columns)
    except Exception:  # noqa: BLE001  (any reader error means the table is unusable)
        return "metrics.parquet missing or unreadable"
    if cols != METRIC_COLUMNS:
        return f"metrics.parquet has columns {cols}"
    return None
