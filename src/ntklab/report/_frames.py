"""Gather stored runs into one tidy DataFrame (mup style: diagnostics are frames, plots take frames)."""

from __future__ import annotations

from typing import Callable, Iterable

import pandas as pd

from ..runs._store import Run

__all__ = ["runs_frame"]


def runs_frame(runs: Iterable[Run], *, label: Callable[[Run], str] | None = None,
               columns: Callable[[Run], dict] | None = None, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Concatenate the metrics of ``runs`` with per-run columns: label, seed, status, run, plus ``columns(run)``."""
    frames = []
    wanted = None if metrics is None else set(metrics)
    for r in runs:
        m = r.metrics
        if wanted is not None:
            m = m[m.metric.isin(wanted)]
        m = m.copy()
        m["seed"] = r.seed
        m["status"] = r.status
        m["run"] = r.path.name
        m["label"] = label(r) if label else r.path.name
        for k, v in (columns(r) if columns else {}).items():
            m[k] = v
        frames.append(m)
    if not frames:
        return pd.DataFrame(columns=["step", "metric", "key", "value", "seed", "status", "run", "label"])
    return pd.concat(frames, ignore_index=True)
