"""Executors: hand a sweep's units to this process, a local process pool, or a Ray cluster.

All three call :func:`ntklab.sweeps.run_unit` on each unit, which writes into the shared run store
``<sweep>/runs/<id>``; they differ only in where that call happens.

- ``local`` with ``workers=1``: in this process, one unit after another.
- ``local`` with ``workers=N``: N spawned worker processes, each with ``torch.set_num_threads(cores // N)`` so
  the workers together do not oversubscribe the cores.  If a worker dies (killed, out of memory) the pool is
  rebuilt and the unfinished units are handed out again (they resume from their checkpoints), up to
  ``retries`` times.
- ``ray``: each unit is a Ray task (``num_cpus=1``, ``max_retries=retries``: a task whose worker or node dies
  is rerun, and resumes from its checkpoint).  ``address=None`` starts a private local Ray instance with
  ``workers`` CPUs; ``"auto"`` or ``"HOST:PORT"`` joins an existing cluster, whose nodes must have ntklab
  installed and see ``sweep_dir`` at the same path (a shared file system).

Example:
    >>> import tempfile
    >>> from ntklab.sweeps import execute_units, expand_sweep, sweep_from_dict
    >>> spec = sweep_from_dict({"base": {"config": {"training": {"steps": 2}, "network": {"width": 8}}},
    ...                         "seeds": 2})
    >>> [s["state"] for s in execute_units(expand_sweep(spec), tempfile.mkdtemp(), progress=False)]
    ['done', 'done']
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from .._errors import ConfigError, check_choice
from ._spec import Unit
from ._unit import run_unit

__all__ = ["EXECUTORS", "execute_units", "available_cores", "threads_per_worker"]

EXECUTORS = ("local", "ray")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover  (not Linux)
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    return max(1, available_cores() // max(1, workers))


def _init_worker(threads: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def _serial(units, sweep_dir, report) -> list[dict]:
    return [report(run_unit(u.to_dict(), sweep_dir)) for u in units]


def _pool(units, sweep_dir, workers, retries, report) -> list[dict]:
    threads = threads_per_worker(workers)
    pending = {u.id: u for u in units}
    results: list[dict] = []
    for _ in range(retries + 1):
        if not pending:
            break
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                     initializer=_init_worker, initargs=(threads,)) as pool:
                futures = {pool.submit(run_unit, u.to_dict(), str(sweep_dir)): uid for uid, u in pending.items()}
                for fut in as_completed(futures):
                    results.append(report(fut.result()))
                    pending.pop(futures[fut])
        except BrokenProcessPool:
            continue  # a worker died: rebuild the pool, resubmit what is unfinished
    results += [report({"id": uid, "state": "failed", "error": "worker died too often"}) for uid in pending]
    return results


def _ray(units, sweep_dir, workers, address, retries, report) -> list[dict]:
    try:
        import ray
    except ModuleNotFoundError:
        raise ConfigError("--executor", "ray is not installed (pip install ray)", allowed="local") from None
    started = time.time()
    if address is None:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=retries)(run_unit)
        refs = {task.remote(u.to_dict(), str(sweep_dir), threads=1): u.id for u in units}
        report({"event": "ray_ready", "seconds": time.time() - started})
        results, waiting = [], list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            try:
                results.append(report(ray.get(ready[0])))
            except Exception as exc:  # noqa: BLE001  (retries exhausted: the unit stays unfinished)
                results.append(report({"id": refs[ready[0]], "state": "failed",
                                       "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}))
        return results
    finally:
        ray.shutdown()


def execute_units(units: list[Unit], sweep_dir: str | Path, *, executor: str = "local", workers: int = 1,
                  address: str | None = None, retries: int = 3, progress: bool = True,
                  on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every unit (finished ones are skipped); one summary dict per unit, in order of completion."""
    check_choice("--executor", executor, EXECUTORS)
    if workers < 1:
        raise ConfigError("--workers", f"got {workers}", allowed="an integer >= 1")
    if retries < 0:
        raise ConfigError("--retries", f"got {retries}", allowed="an integer >= 0")
    if address is not None and executor != "ray":
        raise ConfigError("--address", "applies to --executor ray only")
    sweep_dir = Path(sweep_dir).resolve()
    done = [0]

    def report(summary: dict) -> dict:
        if "id" in summary:
            done[0] += 1
        if on_result is not None:
            on_result(summary)
        elif progress and "id" in summary:
            print(f"[{done[0]}/{len(units)}] {summary['id']} {summary['state']} "
                  f"({summary.get('seconds', 0):.1f} s)", flush=True)
        return summary

    if executor == "ray":
        results = _ray(units, sweep_dir, workers, address, retries, report)
    elif workers == 1:
        results = _serial(units, sweep_dir, report)
    else:
        results = _pool(units, sweep_dir, workers, retries, report)
    return [r for r in results if "id" in r]
