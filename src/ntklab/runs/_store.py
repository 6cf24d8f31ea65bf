"""The run store: one directory per run.

    <run>/config.json    the full config, seed, package versions, git commit (provenance)
    <run>/metrics.parquet tidy long table: step, metric, key, value
    <run>/arrays.npz     arrays (final lambda, per-node displacements, Theta_0 and Theta_T, ...)
    <run>/checkpoint.pt  state to resume from (model, optimiser, step, rows so far)
    <run>/status         JSON: {"status": running|done|diverged|failed, ...}

Every file is written atomically (write, then rename).  Results count only once ``status`` says ``done``
(or ``diverged``: a finished run whose loss blew up, kept with all rows up to then).

Example:
    >>> import ntklab, tempfile
    >>> cfg = ntklab.RunConfig(training={"steps": 5}, network={"width": 20}, probes={"every": 5})
    >>> run = ntklab.train(cfg, out=tempfile.mkdtemp(), progress=False)
    >>> run.status, run.series("train_risk").index.tolist()
    ('done', [0, 5])
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_save_npz, atomic_write_bytes, atomic_write_json
from ._provenance import provenance

__all__ = ["Run", "load_run", "init_run", "write_metrics", "write_arrays", "set_status", "read_status",
           "run_id", "METRIC_COLUMNS", "STATUSES", "rows_to_frame"]

METRIC_COLUMNS = ("step", "metric", "key", "value")
STATUSES = ("running", "done", "diverged", "failed")
FINISHED = ("done", "diverged")


def run_id(config_dict: dict) -> str:
    """A stable id: hash of the canonical JSON of the config (sorted keys)."""
    canon = json.dumps(config_dict, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode()).hexdigest()[:12]


def rows_to_frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=list(METRIC_COLUMNS))
    df["step"] = df["step"].astype("int64")
    df["metric"] = df["metric"].astype(str)
    df["key"] = df["key"].astype(str)
    df["value"] = df["value"].astype("float64")
    return df


def init_run(path: str | Path, config: dict, *, seed: int) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path / "config.json", {"config": config, "seed": seed, "run_id": run_id(config),
                                             "provenance": provenance()})
    set_status(path, "running")
    return path


def write_metrics(path: str | Path, rows) -> None:
    import io

    df = rows if isinstance(rows, pd.DataFrame) else rows_to_frame(rows)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(Path(path) / "metrics.parquet", buf.getvalue())


def write_arrays(path: str | Path, arrays: dict) -> None:
    atomic_save_npz(Path(path) / "arrays.npz", **arrays)


def set_status(path: str | Path, status: str, **info) -> None:
    if status not in STATUSES:
        raise ValueError(f"status: got {status!r} (allowed: {', '.join(STATUSES)})")
    atomic_write_json(Path(path) / "status", {"status": status, **info})


def read_status(path: str | Path) -> dict:
    f = Path(path) / "status"
    if not f.exists():
        return {"status": "missing"}
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError:
        return {"status": "corrupt"}


@dataclass
class Run:
    """A stored run: its config, status, metrics (tidy DataFrame) and arrays."""

    path: Path
    config: dict
    status: str
    info: dict = field(default_factory=dict)
    _metrics: pd.DataFrame | None = None
    _arrays: dict | None = None

    @property
    def metrics(self) -> pd.DataFrame:
        if self._metrics is None:
            f = self.path / "metrics.parquet"
            self._metrics = pd.read_parquet(f) if f.exists() else rows_to_frame([])
        return self._metrics

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            f = self.path / "arrays.npz"
            self._arrays = dict(np.load(f)) if f.exists() else {}
        return self._arrays

    def series(self, metric: str, key: str = "") -> pd.Series:
        """One metric as a Series indexed by step."""
        m = self.metrics
        sel = m[(m.metric == metric) & (m.key == key)]
        return sel.set_index("step")["value"].sort_index()

    def final(self, metric: str, key: str = "") -> float:
        s = self.series(metric, key)
        return float(s.iloc[-1]) if len(s) else float("nan")

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))


def load_run(path: str | Path) -> Run:
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"run: {str(path)!r} has no config.json (not a run directory)")
    meta = json.loads(cfg_file.read_text())
    st = read_status(path)
    return Run(path=path, config=meta.get("config", {}), status=st.get("status", "missing"), info=st)
