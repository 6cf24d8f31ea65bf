"""Pieces the asymmetrical-scaling presets share: the (alpha, gamma) configurations, labels, loading runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runs._store import FINISHED, Run, load_run

__all__ = ["PAPER_CONFIGS", "config_label", "load_runs", "loglog_slope", "ordered"]

# (alpha, gamma) of Caron et al.: gamma = 1 (NTK scaling), (0.7, 0.5), (0.5, 0.2), (0.4, 0)
PAPER_CONFIGS: list[tuple[float, float]] = [(0.5, 1.0), (0.7, 0.5), (0.5, 0.2), (0.4, 0.0)]


def config_label(alpha: float, gamma: float) -> str:
    return "γ=1" if gamma == 1.0 else f"α={alpha:g}, γ={gamma:g}"


def load_runs(root: Path) -> list[Run]:
    """Every finished run directory below ``root`` (unfinished or corrupt ones are skipped)."""
    runs = []
    if not root.exists():
        return runs
    for cfg in sorted(root.rglob("config.json")):
        r = load_run(cfg.parent)
        if r.status in FINISHED:
            runs.append(r)
    return runs


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def ordered(values, *, increasing: bool) -> bool:
    v = np.asarray(values, float)
    d = np.diff(v)
    return bool(np.all(d > 0) if increasing else np.all(d < 0))
