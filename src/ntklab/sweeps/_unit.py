"""Run one sweep unit where this process stands: lock its directory, skip it if finished, else (re)do it.

The same function runs in-process, in a local worker process and as a Ray task, so every executor shares one
rule: a unit lives in ``<sweep>/runs/<id>``; an exclusive lock (``fcntl.flock``, released by the kernel when
its holder dies) keeps two processes from training it at once; a finished, intact unit is skipped; a corrupt
one is wiped and redone; an interrupted one resumes from its last checkpoint.  Each attempt leaves a marker
under ``.attempts/`` (pid, host, time) so retries after a crash can be audited.

Sweep runs are trained one at a time (never stacked with other runs): a vmapped group rounds differently
from a lone run, so training alone makes a run's numbers independent of the executor, the worker count and
any interruption (bitwise, on CPU with a fixed thread count).

Example:
    >>> import tempfile
    >>> from ntklab.sweeps import expand_sweep, run_unit, sweep_from_dict
    >>> spec = sweep_from_dict({"base": {"config": {"training": {"steps": 2}, "network": {"width": 8}}}})
    >>> unit = expand_sweep(spec)[0]
    >>> out = tempfile.mkdtemp()
    >>> run_unit(unit.to_dict(), out)["state"], run_unit(unit.to_dict(), out)["state"]
    ('done', 'skipped')
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from .._device import current_device, using_device
from .._io import atomic_write_json, make_dirs
from .._threads import torch_threads
from ..experiments import get_preset, run_preset
from ..runs import file_digests, read_status, set_status, train, verify_run
from ._spec import Unit

__all__ = ["run_unit", "unit_state", "unit_dir"]


def unit_dir(sweep_dir: str | Path, unit_id: str) -> Path:
    """The directory of unit ``unit_id`` in a sweep: ``<sweep_dir>/runs/<unit_id>`` (the id is its config hash)."""
    return Path(sweep_dir) / "runs" / unit_id


@contextmanager
def _locked(path: Path):
    make_dirs(path)
    with open(path / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _verify_preset(path: Path) -> str | None:
    st = read_status(path)
    if st.get("status") != "done":
        return f"status {st.get('status')}"
    if not (path / "experiment.json").is_file():
        return "experiment.json missing"
    for cfg in sorted(path.rglob("config.json")):
        reason = verify_run(cfg.parent)
        if reason is not None:
            return f"{cfg.parent.relative_to(path)}: {reason}"
    return None


def unit_state(unit: Unit, path: Path) -> str:
    """done | pending (never started) | partial (interrupted or failed: resumed or redone) | corrupt."""
    status = read_status(path).get("status")
    if status == "missing":
        return "pending"
    reason = _verify_preset(path) if unit.kind == "preset" else verify_run(path, expected_id=unit.id)
    if reason is None:
        return "done"
    return "corrupt" if status in ("done", "diverged", "corrupt") else "partial"


def _wipe(path: Path) -> None:
    for child in path.iterdir():
        if child.name in (".lock", ".attempts"):
            continue
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def _execute(unit: Unit, path: Path) -> None:
    if unit.kind == "run":
        train(unit.payload, out=path, progress=False, resume=True)
        return
    preset = get_preset(unit.payload["preset"])
    opts = preset.options.model_validate(unit.payload["options"])
    if read_status(path).get("status") in ("done", "diverged"):
        _wipe(path)
    set_status(path, "running")
    run_preset(preset.name, path, options=opts, progress=False, device=current_device() or unit.payload.get("device"))
    set_status(path, "done", files=file_digests(path))


def run_unit(unit: dict, sweep_dir: str | Path, *, threads: int | None = None, device: str | None = None) -> dict:
    """Do unit ``unit`` (a :meth:`Unit.to_dict`) under ``sweep_dir`` unless it is finished; a summary dict.
    ``device``: where its runs compute (default: the unit's own: its config's, or its preset's ``device``)."""
    with torch_threads(threads), using_device(device):
        return _run_unit(Unit.from_dict(unit), sweep_dir)


def _run_unit(u: Unit, sweep_dir: str | Path) -> dict:
    path = unit_dir(sweep_dir, u.id)
    started = time.time()
    with _locked(path):
        before = unit_state(u, path)
        if before == "done":
            return {"id": u.id, "state": "skipped", "seconds": 0.0}
        if before == "corrupt":
            _wipe(path)
        for tmp in path.glob(".*.tmp"):  # a killed writer's half-written temporary file (we hold the lock)
            tmp.unlink()
        attempt = {"pid": os.getpid(), "host": platform.node(), "started": started, "found": before}
        atomic_write_json(path / ".attempts" / f"{started:.6f}-{os.getpid()}.json", attempt)
        try:
            _execute(u, path)
        except Exception as exc:  # noqa: BLE001  (reported per unit; the sweep goes on)
            set_status(path, "failed", error=f"{type(exc).__name__}: {exc}")
            return {"id": u.id, "state": "failed", "error": f"{type(exc).__name__}: {exc}",
                    "seconds": time.time() - started}
        after = unit_state(u, path)
    state = "done" if after == "done" else "failed"
    out = {"id": u.id, "state": state, "seconds": time.time() - started, "resumed": before == "partial"}
    if state == "failed":
        out["error"] = json.dumps(read_status(path))
    return out
