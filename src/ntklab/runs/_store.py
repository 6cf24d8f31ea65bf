"""The run store: one directory per run, bound to the hash of its config.

    <run>/config.json     the full config, its hash (run_id), seed, package versions, git commit (provenance)
    <run>/metrics.parquet tidy long table: step, metric, key, value
    <run>/arrays.npz      arrays (final lambda, per-node displacements, Theta_0 and Theta_T, ...)
    <run>/model.pt        the trained network's state_dict
    <run>/checkpoint.pt   state to resume from (model, optimiser, step, rows so far), while unfinished
    <run>/status          JSON: {"status": running|done|diverged|failed|interrupted, ...}

Every file is written atomically (write, then rename) with the permissions the umask gives.  Results count only
once ``status`` says ``done`` (or ``diverged``: a run whose loss blew up, kept with every row up to then, and
named as diverged wherever its results are used).

Example:
    >>> import ntklab, tempfile
    >>> cfg = ntklab.RunConfig(training={"steps": 5}, network={"width": 20}, probes={"every": 5})
    >>> run = ntklab.train(cfg, out=tempfile.mkdtemp() + "/run", progress=False)
    >>> run.status, run.series("train_risk").index.tolist()
    ('done', [0, 5])
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import atomic_save_npz, atomic_write_bytes, atomic_write_json, make_dirs
from ._identity import config_hash, read_json, run_id
from ._provenance import provenance

__all__ = ["Run", "load_run", "load_runs", "init_run", "write_metrics", "write_arrays", "set_status",
           "read_status", "run_id", "run_dir", "METRIC_COLUMNS", "STATUSES", "FINISHED", "rows_to_frame"]

METRIC_COLUMNS = ("step", "metric", "key", "value")
STATUSES = ("running", "done", "diverged", "failed", "interrupted")
FINISHED = ("done", "diverged")


def run_dir(root: str | Path, config: dict) -> Path:
    """Where a run of ``config`` lives under ``root``: ``<root>/<name>-<config hash>``."""
    return Path(root) / f"{config.get('name', 'run')}-{config_hash(config)}"


def rows_to_frame(rows) -> pd.DataFrame:
    """Tidy rows ``(step, metric, key, value)`` as a DataFrame with the store's column types."""
    df = pd.DataFrame(list(rows), columns=list(METRIC_COLUMNS))
    df["step"] = df["step"].astype("int64")
    df["metric"] = df["metric"].astype(str)
    df["key"] = df["key"].astype(str)
    df["value"] = df["value"].astype("float64")
    return df


def init_run(path: str | Path, config: dict, *, seed: int) -> Path:
    """Start run directory ``path``: its ``config.json`` (config, hash, seed, provenance) and status running."""
    path = make_dirs(path)
    atomic_write_json(path / "config.json", {"config": config, "seed": seed, "run_id": run_id(config),
                                             "provenance": provenance()})
    set_status(path, "running", device=config.get("device", "cpu"))
    return path


def write_metrics(path: str | Path, rows) -> None:
    """Write a run's rows (or frame) as ``metrics.parquet``, atomically."""
    df = rows if isinstance(rows, pd.DataFrame) else rows_to_frame(rows)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(Path(path) / "metrics.parquet", buf.getvalue())


def write_arrays(path: str | Path, arrays: dict) -> None:
    """Write a run's arrays as ``arrays.npz``, atomically."""
    atomic_save_npz(Path(path) / "arrays.npz", **arrays)


def set_status(path: str | Path, status: str, **info) -> None:
    """Record a run's ``status`` (one of ``STATUSES``) with ``info`` (e.g. checksums, the divergence step)."""
    if status not in STATUSES:
        raise ValueError(f"status: got {status!r} (allowed: {', '.join(STATUSES)})")
    atomic_write_json(Path(path) / "status", {"status": status, **info})


def read_status(path: str | Path) -> dict:
    """A run's status record; ``{'status': 'missing'}`` or ``{'status': 'corrupt'}`` when unreadable."""
    f = Path(path) / "status"
    if not f.exists():
        return {"status": "missing"}
    st = read_json(f)
    return st if st is not None and "status" in st else {"status": "corrupt"}


@dataclass
class Run:
    """A stored run: its config, status, metrics (tidy DataFrame) and arrays.

    ``reused`` is True when :func:`ntklab.train` found this run finished and did not train it again.
    """

    path: Path
    config: dict
    status: str
    info: dict = field(default_factory=dict)
    reused: bool = False
    _metrics: pd.DataFrame | None = None
    _arrays: dict | None = None

    @property
    def metrics(self) -> pd.DataFrame:
        """Every recorded row: columns ``step, metric, key, value`` (key "" for scalar metrics)."""
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

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.path.name))

    def series(self, metric: str, key: str = "") -> pd.Series:
        """One metric as a Series indexed by step."""
        m = self.metrics
        sel = m[(m.metric == metric) & (m.key == key)]
        return sel.set_index("step")["value"].sort_index()

    def final(self, metric: str, key: str = "") -> float:
        """The last recorded value of ``metric`` (at ``key``); NaN when the run never recorded it."""
        s = self.series(metric, key)
        return float(s.iloc[-1]) if len(s) else float("nan")

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))


def load_run(path: str | Path) -> Run:
    """The run stored in directory ``path`` (any status; check ``.status`` before reading results)."""
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        raise FileNotFoundError(f"run: {str(path)!r} has no config.json (not a run directory)")
    meta = read_json(cfg_file)
    if meta is None:
        raise FileNotFoundError(f"run: {str(cfg_file)!r} is unreadable")
    st = read_status(path)
    return Run(path=path, config=meta.get("config", {}), status=st.get("status", "missing"), info=st)


def load_runs(root: str | Path, configs=None, *, finished_only: bool = True) -> list[Run]:
    """Runs under ``root``: exactly those of ``configs`` (RunConfigs or dicts, each at :func:`run_dir`) when
    given, else every run directory below ``root``; ``finished_only`` keeps status done or diverged."""
    root = Path(root)
    if configs is not None:
        dicts = [c if isinstance(c, dict) else c.model_dump(mode="json") for c in configs]
        paths = [run_dir(root, d) for d in dicts]
        runs = [load_run(p) for p in paths if (p / "config.json").exists()]
    else:
        runs = [load_run(f.parent) for f in sorted(root.rglob("config.json"))] if root.exists() else []
    return [r for r in runs if r.status in FINISHED] if finished_only else runs
