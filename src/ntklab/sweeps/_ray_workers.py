"""The ``ray`` executor: one persistent Ray actor per CPU, each importing ntklab once and taking unit after unit.

A Ray task would pay its worker's start-up and imports again wherever Ray starts a fresh worker process; an
actor holds one CPU and one process for the whole sweep, so those costs are paid once per CPU, while the
cluster connects (reported as the event ``{"event": "ray_ready", "seconds": ...}``: every actor constructed,
counted from the call).  Units are handed out one at a time to whichever actor is free.  An actor whose
process dies (killed, out of memory, its node lost) is restarted by Ray (``max_restarts=retries``) and the unit
it was running goes back to the queue: it resumes from its checkpoint on the next free actor, up to
``retries`` times per unit; an actor that cannot be restarted any more leaves the pool.
"""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path

from .._errors import ConfigError
from ._spec import Unit
from ._unit import run_unit

__all__ = ["run_on_ray", "UnitWorker"]

RESTART_WAIT_S = 120.0  # how long an actor whose process died may take to be restarted before it is given up


class UnitWorker:
    """A persistent worker (a Ray actor): torch and ntklab imported at construction, ``threads`` torch threads."""

    def __init__(self, threads: int | None, device: str | None = None):
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.threads, self.device = threads, device

    def ready(self) -> int:
        return os.getpid()

    def run(self, unit: dict, sweep_dir: str) -> dict:
        return run_unit(unit, sweep_dir, threads=self.threads, device=self.device)


def _connect(ray, workers: int, address: str | None, gpus_per_run: float = 0.0) -> int:
    """ray.init; the number of actors to start (the private instance's CPUs, or the cluster's; with
    ``gpus_per_run``, no more than its GPUs can hold)."""
    kw = dict(log_to_driver=False, configure_logging=False)
    if address is None:
        ray.init(num_cpus=workers, include_dashboard=False, **kw)
        n = workers
    else:
        ray.init(address=address, **kw)
        n = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if gpus_per_run:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        if gpus < gpus_per_run:
            raise ConfigError("--gpus-per-run", f"the Ray cluster has {gpus:g} GPUs",
                              allowed=f"at most {gpus:g}, or start nodes with ray start --num-gpus=G")
        n = min(n, int(gpus // gpus_per_run))
    return n


def run_on_ray(units: list[Unit], sweep_dir: Path, *, workers: int, threads: int | None, address: str | None,
               retries: int, report, gpus_per_run: float = 0.0) -> None:
    try:
        import ray
        from ray.exceptions import RayActorError
    except ModuleNotFoundError:
        raise ConfigError("--executor", "ray is not installed (pip install ray)", allowed="local") from None
    started = time.time()
    n = min(_connect(ray, workers, address, gpus_per_run), max(1, len(units)))
    try:
        actor_cls = ray.remote(num_cpus=1, num_gpus=gpus_per_run, max_restarts=retries,
                               max_task_retries=0)(UnitWorker)
        device = "cuda" if gpus_per_run else None  # Ray sets CUDA_VISIBLE_DEVICES to the actor's GPU
        actors = [actor_cls.remote(threads, device) for _ in range(n)]
        _Dispatcher(ray, RayActorError, actors, units, str(sweep_dir), retries, report, started).run()
    finally:
        ray.shutdown()


class _Dispatcher:
    """Hands the units to the actors, one at a time each; an actor whose process died is polled (``ready``)
    until Ray has restarted it, and only then given work again (a call to a restarting actor fails at once)."""

    def __init__(self, ray, actor_error, actors, units, sweep_dir: str, retries: int, report, started: float):
        self.ray, self.actor_error, self.actors, self.sweep_dir = ray, actor_error, actors, sweep_dir
        self.retries, self.report, self.started = retries, report, started
        self.queue = deque(units)
        self.running: dict = {}  # ref -> (actor index, unit)
        self.ready = {a.ready.remote(): i for i, a in enumerate(actors)}  # first start-up
        self.recovering: dict = {}  # ref -> (actor index, poll deadline)
        self.deaths: dict[str, int] = {}
        self.actor_deaths = [0] * len(actors)
        self.alive, self.idle = set(range(len(actors))), set()

    def run(self) -> None:
        for i in range(len(self.actors)):
            self._hand_out(i)
        while (self.running or self.ready or self.recovering) and self.alive:
            done, _ = self.ray.wait(list(self.running) + list(self.ready) + list(self.recovering), num_returns=1,
                                    timeout=1.0)
            if not done:
                continue
            ref = done[0]
            if ref in self.ready:
                self._started(ref)
            elif ref in self.recovering:
                self._polled(ref)
            else:
                self._finished(ref)
        for u in self.queue:  # no actor left to take them
            self.report({"id": u.id, "state": "failed", "error": "no Ray worker left"})

    def _hand_out(self, i: int) -> None:
        self.idle.discard(i)
        if i not in self.alive:
            return
        if self.queue:
            u = self.queue.popleft()
            self.running[self.actors[i].run.remote(u.to_dict(), self.sweep_dir)] = (i, u)
        else:
            self.idle.add(i)

    def _started(self, ref) -> None:
        self.ready.pop(ref)
        try:
            self.ray.get(ref)
        except self.actor_error:
            pass  # its first unit reports the death
        if not self.ready:
            self.report({"event": "ray_ready", "seconds": time.time() - self.started})

    def _polled(self, ref) -> None:
        i, deadline = self.recovering.pop(ref)
        try:
            self.ray.get(ref)
            self._hand_out(i)  # restarted
        except self.actor_error:
            if time.time() < deadline:
                time.sleep(0.2)
                self.recovering[self.actors[i].ready.remote()] = (i, deadline)  # still restarting
            else:
                self.alive.discard(i)  # never came back

    def _finished(self, ref) -> None:
        i, u = self.running.pop(ref)
        try:
            self.report(self.ray.get(ref))
        except self.actor_error:
            self._died(i, u)
            return
        except Exception as exc:  # noqa: BLE001  (an error outside run_unit's own handling)
            self.report({"id": u.id, "state": "failed", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"})
        self._hand_out(i)

    def _died(self, i: int, u: Unit) -> None:
        """Actor ``i`` died running ``u``: ``u`` goes back to the queue (or fails after ``retries`` deaths), the
        actor is polled until restarted (or leaves the pool after ``retries`` deaths of its own)."""
        self.deaths[u.id] = self.deaths.get(u.id, 0) + 1
        if self.deaths[u.id] > self.retries:
            self.report({"id": u.id, "state": "failed", "error": "worker died too often"})
        else:
            self.queue.appendleft(u)  # it resumes from its checkpoint on the next free actor
            for j in list(self.idle):
                self._hand_out(j)
        self.actor_deaths[i] += 1
        if self.actor_deaths[i] > self.retries:
            self.alive.discard(i)
        else:
            self.recovering[self.actors[i].ready.remote()] = (i, time.time() + RESTART_WAIT_S)
