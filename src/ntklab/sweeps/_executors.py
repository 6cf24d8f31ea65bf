"""Executors: hand a sweep's units to this process, persistent local workers, or persistent Ray workers.

All of them call :func:`ntklab.sweeps.run_unit` on each unit, which writes into the shared run store
``<sweep>/runs/<id>``; they differ only in where that call happens.  Every unit trains with ``threads`` torch
threads (default 1) wherever it runs, so a unit's numbers do not depend on the executor or the worker count
(bitwise, on the CPU).

- ``local`` with ``workers=1``: in this process, one unit after another.
- ``local`` with ``workers=N``: this process and N - 1 spawned worker processes take units from one queue,
  each as soon as it is free.  The workers are persistent: each imports torch and ntklab once (about 2 s of CPU)
  and then trains unit after unit.  This process starts on the first unit at once and a worker gets its first
  unit only when it has finished importing, so the workers' start-up overlaps useful work instead of delaying
  the sweep (``driver=False``: N workers, this process only dispatches).  A worker that dies (killed, out of memory) takes down
  its pool: the pool is rebuilt and the units it was running are handed out again (they resume from their
  checkpoints) to workers only, up to ``retries`` times each; this process never takes a unit whose worker
  died.  Ctrl-C reaches this process only; it forwards one SIGINT to each worker, so that every running unit
  checkpoints at a step boundary (the same command resumes them).
- ``ray``: one persistent Ray actor per CPU (``num_cpus=1`` each; a private local instance with ``workers`` CPUs
  when ``address`` is None, else every CPU of the cluster at ``"auto"`` or ``"HOST:PORT"``, whose nodes must
  have ntklab installed and see ``sweep_dir`` at the same path).  Each actor imports once, then takes unit after
  unit.  An actor whose process dies is restarted by Ray and its unit handed out again (it resumes from its
  checkpoint), up to ``retries`` times per unit.

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
import signal
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from .._errors import ConfigError, check_choice
from ._spec import Unit
from ._unit import run_unit

__all__ = ["EXECUTORS", "execute_units", "available_cores"]

EXECUTORS = ("local", "ray")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover  (not Linux)
        return os.cpu_count() or 1


def _ready() -> bool:
    """A worker's first call: it returns once the worker has started and imported ntklab (unpickling this
    function imports ``ntklab.sweeps``)."""
    return True


def _init_worker(threads: int | None) -> None:
    """A local worker: its own process group (a terminal's Ctrl-C reaches the driver, which forwards one SIGINT),
    SIGINT ignored while idle (training installs its own handler), ``threads`` torch threads, imports done now."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    if threads:
        torch.set_num_threads(threads)


class _Reporter:
    """Counts finished units and hands each summary to ``on_result`` (or prints it); safe from any thread."""

    def __init__(self, total: int, progress: bool, on_result: Callable[[dict], None] | None):
        self.total, self.progress, self.on_result = total, progress, on_result
        self.done = 0
        self.results: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, summary: dict) -> dict:
        with self._lock:
            if "id" in summary:
                self.done += 1
                self.results.append(summary)
            if self.on_result is not None:
                self.on_result(summary)
            elif self.progress and "id" in summary:
                print(f"[{self.done}/{self.total}] {summary['id']} {summary['state']} "
                      f"({summary.get('seconds', 0):.1f} s)", flush=True)
        return summary


def _failed(u: Unit, why: str) -> dict:
    return {"id": u.id, "state": "failed", "error": why}


class _Queue:
    """The units left, shared by this process and the workers' dispatcher; a unit whose worker died goes back
    for workers only (``retry``)."""

    def __init__(self, units: list[Unit]):
        self._fresh = deque(units)
        self._retry: deque[Unit] = deque()
        self._lock = threading.Lock()
        self.closed = False

    def take(self, *, worker: bool) -> Unit | None:
        with self._lock:
            if self.closed:
                return None
            if worker and self._retry:
                return self._retry.popleft()
            return self._fresh.popleft() if self._fresh else None

    def retry(self, u: Unit) -> None:
        with self._lock:
            self._retry.append(u)

    def give_back(self, units: list[Unit]) -> None:
        """Units the workers took but never started (their pool could not be built): anyone may take them."""
        with self._lock:
            self._fresh.extendleft(reversed(units))

    def empty_for_workers(self) -> bool:
        with self._lock:
            return self.closed or not (self._fresh or self._retry)

    def drain_retries(self) -> list[Unit]:
        with self._lock:
            out, self._retry = list(self._retry), deque()
            return out

    def close(self) -> None:
        with self._lock:
            self.closed = True


class _Workers(threading.Thread):
    """Feeds ``n`` persistent spawned workers from the queue, one unit per idle worker, and reports results."""

    def __init__(self, n: int, threads, sweep_dir: Path, queue: _Queue, retries: int, report: _Reporter):
        super().__init__(name="ntklab-sweep-workers", daemon=True)
        self.n, self.threads, self.sweep_dir, self.queue, self.retries, self.report = \
            n, threads, sweep_dir, queue, retries, report
        self.deaths: dict[str, int] = {}
        self.pool: ProcessPoolExecutor | None = None
        self.interrupted = False
        self.error: BaseException | None = None
        self.finished = threading.Event()  # waited on instead of join(): a Ctrl-C inside Thread.join corrupts
        # the thread's state on Python 3.11 (it then looks stopped while it still runs)
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            for _ in range(self.retries + 1):
                if not self._serve_one_pool():
                    return
            for u in self.queue.drain_retries():  # every rebuilt pool died too: what is left failed
                self.report(_failed(u, "worker died too often"))
        except BaseException as exc:  # noqa: BLE001  (re-raised by the driver)
            self.error = exc
        finally:
            self.finished.set()

    def wait_done(self) -> None:
        while not self.finished.wait(0.5):
            pass

    def _new_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            self.pool = ProcessPoolExecutor(max_workers=self.n, mp_context=get_context("spawn"),
                                            initializer=_init_worker, initargs=(self.threads,))
            return self.pool

    def _serve_one_pool(self) -> bool:
        """Serve units until none is left for the workers (False: done) or a worker died (True: build another
        pool).  A worker gets its first unit only once it has imported everything (its ``_ready`` call came
        back): until then the driver takes the units, so a slow start-up never leaves a unit waiting."""
        pool = self._new_pool()
        readies = {pool.submit(_ready) for _ in range(self.n)}
        running: dict = {}
        free, broken = 0, False
        try:
            while True:
                while not broken and free > 0 and (u := self.queue.take(worker=True)) is not None:
                    try:
                        running[pool.submit(run_unit, u.to_dict(), str(self.sweep_dir), threads=self.threads)] = u
                        free -= 1
                    except (BrokenProcessPool, RuntimeError):
                        self.queue.give_back([u])
                        broken = True
                if not running and (broken or self.queue.empty_for_workers()):
                    return broken
                done, _ = wait(set(running) | readies, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    if fut in readies:
                        readies.discard(fut)
                        try:
                            fut.result()
                            free += 1
                        except BrokenProcessPool:
                            broken = True
                    else:
                        broken |= self._collect(fut, running.pop(fut))
                        free += 1
        finally:
            # a worker still importing would hold up the end of a short sweep: do not wait for it (it leaves by
            # itself once imported; the interpreter joins it at exit)
            pool.shutdown(wait=not readies, cancel_futures=True)

    def _collect(self, fut, u: Unit) -> bool:
        """Report one finished future; True when its worker died."""
        try:
            self.report(fut.result())
            return False
        except BrokenProcessPool:
            if self.queue.closed:  # a worker hit by the forwarded Ctrl-C before it had set up its handler
                self.interrupted = True
                return False
            self.deaths[u.id] = self.deaths.get(u.id, 0) + 1
            if self.deaths[u.id] > self.retries:
                self.report(_failed(u, "worker died too often"))
            else:
                self.queue.retry(u)
            return True
        except KeyboardInterrupt:  # the worker checkpointed its unit after the forwarded Ctrl-C
            self.interrupted = True
            return False
        except Exception as exc:  # noqa: BLE001  (an error outside run_unit's own handling)
            self.report(_failed(u, f"{type(exc).__name__}: {exc}"))
            return False

    def interrupt(self) -> None:
        """One SIGINT to each worker process (a running unit checkpoints and stops; idle workers ignore it)."""
        self.queue.close()
        with self._lock:
            procs = list(getattr(self.pool, "_processes", {}).values()) if self.pool is not None else []
        for p in procs:
            try:
                os.kill(p.pid, signal.SIGINT)
            except (ProcessLookupError, AttributeError, TypeError):
                pass


def _local(units, sweep_dir, workers, threads, retries, report, driver: bool) -> None:
    queue = _Queue(units)
    helpers = _Workers(workers - 1 if driver else workers, threads, sweep_dir, queue, retries, report)
    helpers.start()  # the workers import while this process already trains
    try:
        while driver and (u := queue.take(worker=False)) is not None:
            report(run_unit(u.to_dict(), sweep_dir, threads=threads))
        helpers.wait_done()  # a Ctrl-C while waiting for the workers' last units lands here too
    except BaseException:
        helpers.interrupt()
        helpers.wait_done()
        raise
    if helpers.error is not None:
        raise helpers.error
    if helpers.interrupted:
        raise KeyboardInterrupt


def _ray(units, sweep_dir, workers, threads, address, retries, report, gpus_per_run) -> None:
    from ._ray_workers import run_on_ray

    run_on_ray(units, sweep_dir, workers=workers, threads=threads, address=address, retries=retries, report=report,
               gpus_per_run=gpus_per_run)


def execute_units(units: list[Unit], sweep_dir: str | Path, *, executor: str = "local", workers: int = 1,
                  threads: int | None = 1, address: str | None = None, retries: int = 3, progress: bool = True,
                  on_result: Callable[[dict], None] | None = None, driver: bool = True,
                  gpus_per_run: float = 0.0) -> list[dict]:
    """Run every unit (finished ones are skipped); one summary dict per unit, in order of completion.

    ``gpus_per_run`` (Ray only): each run's actor asks Ray for that many GPUs (``num_gpus``) and its runs compute
    on ``cuda`` (the GPU Ray assigned it).

    ``threads``: torch threads of every unit wherever it runs (None or 0: this process's setting for the units
    run here, the library default in workers); ``on_result`` also receives events (dicts without ``id``, e.g.
    ``{"event": "ray_ready", "seconds": ...}``); ``driver=False`` (local, ``workers`` > 1) leaves every unit
    to ``workers`` spawned workers instead of training in this process too."""
    check_choice("--executor", executor, EXECUTORS)
    if workers < 1:
        raise ConfigError("--workers", f"got {workers}", allowed="an integer >= 1")
    if retries < 0:
        raise ConfigError("--retries", f"got {retries}", allowed="an integer >= 0")
    if threads is not None and threads < 0:
        raise ConfigError("threads", f"got {threads}", allowed="an integer >= 1, or 0/None for the default")
    if address is not None and executor != "ray":
        raise ConfigError("--address", "applies to --executor ray only")
    if not gpus_per_run >= 0:
        raise ConfigError("--gpus-per-run", f"got {gpus_per_run}", allowed="a number >= 0")
    if gpus_per_run and executor != "ray":
        raise ConfigError("--gpus-per-run", "applies to --executor ray only (locally, set device in the sweep's "
                                            "base or with set: [device=cuda])")
    sweep_dir = Path(sweep_dir).resolve()
    report = _Reporter(len(units), progress, on_result)
    if executor == "ray":
        _ray(units, sweep_dir, workers, threads, address, retries, report, gpus_per_run)
    elif workers == 1 or (driver and len(units) <= 1):
        for u in units:
            report(run_unit(u.to_dict(), sweep_dir, threads=threads))
    else:
        _local(units, sweep_dir, min(workers, len(units)), threads, retries, report, driver)
    return list(report.results)
