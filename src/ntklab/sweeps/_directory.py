"""A sweep directory: ``sweep.json`` (the spec, every unit with its config, provenance) and ``runs/<id>/``.

:func:`run_sweep` expands a sweep, records it, and hands the units that are not finished to an executor;
running it again skips finished units, resumes interrupted ones and redoes failed or corrupt ones.
:func:`sweep_table` says where each unit stands (done / pending / partial / corrupt).

Example:
    >>> import tempfile
    >>> from ntklab.sweeps import run_sweep, sweep_from_dict
    >>> spec = sweep_from_dict({"base": {"config": {"training": {"steps": 2}, "network": {"width": 8}}},
    ...                         "grid": {"optimizer.lr": [0.5, 1.0]}})
    >>> out = tempfile.mkdtemp()
    >>> run_sweep(spec, out, progress=False).state.tolist()
    ['done', 'done']
    >>> run_sweep(spec, out, progress=False).state.tolist()  # nothing left to do
    ['skipped', 'skipped']
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .._errors import ConfigError
from .._io import atomic_write_json, make_dirs
from ..runs import provenance
from ._executors import execute_units
from ._spec import SweepSpec, Unit, expand_sweep
from ._unit import unit_dir, unit_state

__all__ = ["run_sweep", "sweep_table", "read_sweep", "default_sweep_dir", "write_sweep_record"]


def default_sweep_dir(spec: SweepSpec) -> Path:
    """Where a sweep runs by default: its ``out`` (relative to the sweep file) or ``results/sweeps/NAME``."""
    if spec.out:
        p = Path(spec.out)
        return p if p.is_absolute() else Path(spec.root) / p
    return Path("results") / "sweeps" / spec.name


def write_sweep_record(spec: SweepSpec, units: list[Unit], out: Path) -> None:
    atomic_write_json(out / "sweep.json", {"sweep": spec.model_dump(mode="json"),
                                           "units": [u.to_dict() for u in units], "provenance": provenance()})


def read_sweep(out: str | Path) -> tuple[dict, list[Unit]]:
    """The record (``sweep.json``) and the units of sweep directory ``out``."""
    f = Path(out) / "sweep.json"
    if not f.is_file():
        raise ConfigError("DIR", f"{str(out)!r} holds no sweep.json (not a sweep directory)")
    try:
        meta = json.loads(f.read_text())
        return meta, [Unit.from_dict(u) for u in meta["units"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError("DIR", f"{str(f)!r} is corrupt ({type(exc).__name__})") from None


def sweep_table(units: list[Unit], out: str | Path) -> pd.DataFrame:
    """One row per unit: id, kind, grid values, seed, state."""
    rows = [{"id": u.id, "kind": u.kind, **u.grid, "seed": u.seed, "state": unit_state(u, unit_dir(out, u.id))}
            for u in units]
    return pd.DataFrame(rows)


def run_sweep(spec: SweepSpec, out: str | Path | None = None, *, executor: str = "local", workers: int = 1,
              address: str | None = None, retries: int = 3, progress: bool = True, on_result=None,
              gpus_per_run: float = 0.0) -> pd.DataFrame:
    """Expand, record and execute a sweep; one row per unit with its final state (done/skipped/failed).
    ``gpus_per_run`` (Ray): GPUs each run asks Ray for; its runs then compute on ``cuda``."""
    units = expand_sweep(spec)
    out = Path(out) if out is not None else default_sweep_dir(spec)
    make_dirs(out)
    write_sweep_record(spec, units, out)
    results = execute_units(units, out, executor=executor, workers=workers, address=address, retries=retries,
                            progress=progress, on_result=on_result, gpus_per_run=gpus_per_run)
    by_id = {r["id"]: r for r in results}
    rows = [{"id": u.id, **u.grid, "seed": u.seed, "state": by_id.get(u.id, {}).get("state", "failed"),
             "error": by_id.get(u.id, {}).get("error", "")} for u in units]
    return pd.DataFrame(rows)
