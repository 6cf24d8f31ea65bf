"""A sweep on a real two-node Ray cluster (head + worker node, started on this machine), with a Ray worker
process SIGKILLed mid-run: Ray reruns the task, the run resumes from its checkpoint, and every run finishes
exactly once, with numbers bitwise equal to the same run trained alone in a local process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from ntklab.runs import verify_run
from ntklab.sweeps import read_sweep

HERE = Path(__file__).parents[1] / "_children"
pytest.importorskip("ray", reason="ray is installed by `make install` (pinned in constraints.txt)")

SWEEP = {
    "name": "ray-kill",
    "base": {"config": {
        "network": {"width": 512},
        "data": {"name": "sphere_sin", "options": {"n_train": 100, "n_test": 20, "d": 10}},
        "optimizer": {"name": "momentum", "lr": 0.5, "momentum": 0.5},
        "training": {"steps": 300},
        "probes": {"every": 20, "checkpoint_every": 20, "ntk": False}}},
    "grid": {"network.scaling.gamma": [1.0, 0.5]},
    "seeds": 2,
}


def _wait_for_checkpoint(out: Path, deadline: float) -> tuple[str, int]:
    """The first unit seen mid-run (a checkpoint on disk): its id and the pid of the worker training it."""
    while time.time() < deadline:
        for ck in (out / "runs").glob("*/checkpoint.pt"):
            attempts = sorted((ck.parent / ".attempts").glob("*.json"))
            if attempts:
                return ck.parent.name, json.loads(attempts[-1].read_text())["pid"]
        time.sleep(0.02)
    raise AssertionError("no run reached its first checkpoint in time")


def test_ray_cluster_sweep_survives_a_killed_worker(tmp_path, run_python, equals_trained_alone):
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    log = tmp_path / "cluster.log"
    with open(log, "w") as log_fh:
        cluster = run_python(HERE / "ray_cluster.py", stdin=subprocess.PIPE, stderr=log_fh, start_new_session=True)
    try:
        line = cluster.stdout.readline()
        assert line.startswith("ADDRESS "), f"cluster did not start: {line!r} {log.read_text()[-3000:]}"
        address = line.split()[1]
        driver = run_python("-m", "ntklab", "sweep", sweep_file, "--executor", "ray", "--address", address,
                            "--out", out, "--retries", "3")
        killed_id, pid = _wait_for_checkpoint(out, time.time() + 150)
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = driver.communicate(timeout=240)
        assert driver.returncode == 0, stdout[-2000:] + stderr[-3000:]
    finally:
        try:
            cluster.communicate(timeout=60)  # closing stdin asks the cluster to shut down
        except subprocess.TimeoutExpired:  # pragma: no cover  (only if the clean shutdown hangs)
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.communicate()
    _, units = read_sweep(out)
    assert len(units) == 4
    finished = [ln.split()[1] for ln in stdout.splitlines() if ln.startswith("[") and ln.endswith(")")
                and " done " in ln]
    assert sorted(finished) == sorted(u.id for u in units), stdout  # every run reported done exactly once
    for u in units:
        path = out / "runs" / u.id
        assert verify_run(path, expected_id=u.id) is None, u.id
        attempts = [json.loads(p.read_text()) for p in sorted((path / ".attempts").glob("*.json"))]
        if u.id == killed_id:
            assert len(attempts) == 2 and attempts[1]["found"] == "partial", attempts  # resumed, not redone
            assert attempts[0]["pid"] == pid != attempts[1]["pid"]
        else:
            assert len(attempts) == 1, (u.id, attempts)
    # the resumed run equals the same run trained alone in a plain local process (one thread, like a task)
    equals_trained_alone(next(u for u in units if u.id == killed_id), out)
