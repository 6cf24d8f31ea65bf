"""Sweep executors: serial (in-process, 1 thread) against 2 persistent local workers and a 2-node Ray cluster.

    python bench/bench_sweep.py [--long-runs 8 --long-s 10 --short-runs 32 --short-s 0.3]

Two sizes, each of equal runs (seeds of one config: width 500, n = 100, d = 10, NTK probes), their steps
calibrated here so that one run takes about ``--long-s`` / ``--short-s`` seconds serially:

- 8 runs of about 10 s: 2 local workers >= 1.7 x serial; Ray on a local cluster of 2 nodes x 1 CPU (started
  before the sweep; its start-up, and the actors' imports until every worker is ready, reported separately)
  >= 1.6 x serial;
- 32 runs of about 0.3 s: 2 local workers >= 1.2 x serial (the workers' start-up included: that is what the
  user waits for).

Every executor trains each run alone with one torch thread, so all must give bitwise-equal metrics (checked).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import QUICK, Row, save_rows, setup_torch, verdict

torch = setup_torch()
import pandas as pd  # noqa: E402

from ntklab.sweeps import expand_sweep, run_sweep, sweep_from_dict  # noqa: E402
from ntklab.sweeps._unit import run_unit  # noqa: E402


def spec(runs: int, steps: int, name: str):
    return sweep_from_dict({"name": name, "seeds": runs, "base": {"config": {
        "network": {"width": 500}, "data": {"options": {"n_train": 100, "n_test": 50, "d": 10}},
        "training": {"steps": steps},
        "probes": {"every": max(1, steps // 10), "ntk": True, "ntk_points": 50, "top_nodes": 2}}}})


def _one_run_seconds(steps: int, root: Path) -> float:
    unit = expand_sweep(spec(1, steps, f"cal{steps}"))[0]
    t0 = time.perf_counter()
    run_unit(unit.to_dict(), root / f"cal{steps}", threads=1)
    return time.perf_counter() - t0


def calibrate(seconds: float, root: Path) -> int:
    """Steps for one run of about ``seconds`` (serial, 1 thread, store included): a first guess from runs of 200
    and 800 steps, then one run at the guess and a linear correction (robust to a noisy first pair)."""
    _one_run_seconds(50, root)  # warm-up
    t1, t2 = _one_run_seconds(200, root), _one_run_seconds(800, root)
    per_step = max(t2 - t1, 0.25 * t2) / 600  # a non-positive difference is noise: take a quarter of the run
    fixed = min(max(t1 - 200 * per_step, 0.0), 0.5 * seconds)
    guess = max(10, int((seconds - fixed) / per_step))
    t3 = _one_run_seconds(guess, root)
    return max(10, int(guess * (seconds - fixed) / max(t3 - fixed, 1e-3)))


def timed(label: str, sp, out: Path, **kw) -> tuple[float, dict]:
    events = {}
    t = time.perf_counter()

    def on_result(s):
        if "event" in s:
            events[s["event"]] = s["seconds"]

    res = run_sweep(sp, out, progress=False, on_result=on_result, **kw)
    wall = time.perf_counter() - t
    assert (res.state == "done").all(), res
    print(f"  {label:<36s} {wall:8.2f} s", flush=True)
    return wall, events


def same_metrics(sp, root: Path, names: list[str]) -> bool:
    for u in expand_sweep(sp):
        frames = [pd.read_parquet(root / k / "runs" / u.id / "metrics.parquet") for k in names]
        if not all(frames[0].equals(f) for f in frames[1:]):
            return False
    return True


def ray_cluster():
    from ray.cluster_utils import Cluster

    t = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    return cluster, time.perf_counter() - t


def bench_size(label: str, runs: int, seconds: float, target_pool: float, target_ray: float | None,
               root: Path) -> list[Row]:
    steps = calibrate(seconds, root)
    sp = spec(runs, steps, label.replace(" ", "-"))
    case = f"{runs} runs of ~{seconds:g} s"
    print(f"{case} ({steps} steps each):", flush=True)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial, _ = timed("serial (in-process, 1 thread)", sp, root / f"{label}-serial")
    finally:
        torch.set_num_threads(old)
    pool, _ = timed("local, 2 workers", sp, root / f"{label}-pool", workers=2)
    rows = [Row("sweep executors", case, "serial, 1 thread", serial, [serial],
                note=f"in-process, ntklab imported; {steps} steps per run (calibrated here)"),
            Row("sweep executors", case, "local, 2 workers", pool, [pool], ratio=serial / pool,
                target=f">= {target_pool} x serial", met=verdict(serial / pool >= target_pool),
                note=f"speed-up {serial / pool:.2f} x, the workers' start-up included")]
    names = [f"{label}-serial", f"{label}-pool"]
    if target_ray is not None:
        try:
            cluster, start_up = ray_cluster()
        except Exception as exc:  # noqa: BLE001  (reported in the table)
            rows.append(Row("sweep executors", case, "ray, 2 nodes x 1 CPU", float("nan"), note=f"not run: {exc}"))
        else:
            try:
                wall, ev = timed("ray, 2 nodes x 1 CPU", sp, root / f"{label}-ray", executor="ray",
                                 address=cluster.address)
            finally:
                cluster.shutdown()
            ready = ev.get("ray_ready", 0.0)
            speed = serial / max(wall - ready, 1e-9)
            rows.append(Row("sweep executors", case, "ray, 2 nodes x 1 CPU", wall - ready, [wall - ready],
                            ratio=serial / (wall - ready), target=f">= {target_ray} x serial (start-up apart)",
                            met=verdict(speed >= target_ray),
                            note=(f"speed-up {speed:.2f} x after start-up: cluster {start_up:.1f} s + connect and "
                                  f"workers ready {ready:.1f} s; with them {serial / (wall + start_up):.2f} x")))
            names.append(f"{label}-ray")
    equal = same_metrics(sp, root, names)
    rows.append(Row("sweep executors", case, "bitwise equal metrics", float("nan"), target="all executors equal",
                    met=verdict(equal), note=" = ".join(n.split("-")[-1] for n in names)))
    return rows


def main(argv=None) -> list[Row]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--long-runs", type=int, default=8)
    ap.add_argument("--long-s", type=float, default=2.0 if QUICK else 10.0)
    ap.add_argument("--short-runs", type=int, default=32)
    ap.add_argument("--short-s", type=float, default=0.3)
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ntklab-bench-sweep-"))
    try:
        rows = bench_size("long", a.long_runs, a.long_s, 1.7, None if a.no_ray else 1.6, root)
        rows += bench_size("short", a.short_runs, a.short_s, 1.2, None, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    save_rows(rows, "sweep")
    return rows


if __name__ == "__main__":
    from _common import print_table

    print_table(main())
