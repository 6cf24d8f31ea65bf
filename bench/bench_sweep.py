"""Sweep executors: 8 equal runs, serial vs 2 local worker processes vs a 2-node local Ray cluster.

    python bench/bench_sweep.py [--runs 8] [--steps 600] [--width 1000]

Prints wall times and speed-ups over the serial sweep (in-process, with torch's default thread count and\nwith one thread).  The Ray
cluster (head + one worker node, one CPU each) is started before the timed sweep; its start-up time is
reported separately, and the Ray sweep time includes connecting the driver and starting the worker processes.
Every executor trains each run alone with the same code, so all three must give bitwise-equal metrics (checked).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from ntklab.sweeps import expand_sweep, run_sweep, sweep_from_dict


def spec(runs: int, steps: int, width: int):
    return sweep_from_dict({"name": "bench", "seeds": runs, "base": {"config": {
        "network": {"width": width}, "data": {"options": {"n_train": 100, "n_test": 50, "d": 10}},
        "training": {"steps": steps}, "probes": {"every": 100, "ntk": False, "top_nodes": 0}}}})


def timed(label: str, sp, out: Path, **kw) -> float:
    t = time.perf_counter()
    res = run_sweep(sp, out, progress=False, **kw)
    wall = time.perf_counter() - t
    assert (res.state == "done").all(), res
    print(f"{label:<34s} {wall:8.2f} s", flush=True)
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--width", type=int, default=1000)
    a = ap.parse_args()
    sp = spec(a.runs, a.steps, a.width)
    root = Path(tempfile.mkdtemp(prefix="ntklab-bench-sweep-"))
    print(f"{a.runs} runs x {a.steps} steps, width {a.width}; torch threads (serial) {torch.get_num_threads()}")
    serial = timed(f"serial (in-process, {torch.get_num_threads()} threads)", sp, root / "serial")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    serial1 = timed("serial (in-process, 1 thread)", sp, root / "serial1")
    torch.set_num_threads(threads)
    pool = timed("local pool, 2 workers", sp, root / "pool", workers=2)
    from ray.cluster_utils import Cluster

    t = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    start_up = time.perf_counter() - t
    print(f"{'ray: 2-node cluster start-up':<34s} {start_up:8.2f} s (not in the ratio)")
    try:
        ray_wall = timed("ray, 2 nodes x 1 CPU", sp, root / "ray", executor="ray", address=cluster.address)
    finally:
        cluster.shutdown()
    for u in expand_sweep(sp):  # the executors agree to the last bit
        frames = [pd.read_parquet(root / k / "runs" / u.id / "metrics.parquet") for k in ("pool", "ray")]
        assert frames[0].equals(frames[1]), u.id
    for name, base in ((f"serial ({threads} threads)", serial), ("serial (1 thread)", serial1)):
        print(f"speed-up over {name}: local pool {base / pool:.2f}x, ray {base / ray_wall:.2f}x "
              f"(ray incl. start-up {base / (ray_wall + start_up):.2f}x)")


if __name__ == "__main__":
    main()
