"""The local executor's persistent workers: bitwise equal to a serial sweep, a killed worker replaced and its unit
resumed, Ctrl-C forwarded so that running units checkpoint and the same command resumes them.  The last two run
the sweep in a child whose units all go to workers (``driver=False``), so that a worker is training whatever
the machine's load (with the driver training too, it may finish every unit before a worker has imported)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import yaml

from ntklab.runs import read_status, verify_run
from ntklab.sweeps import execute_units, expand_sweep, read_sweep, sweep_from_dict

CHILD = Path(__file__).parent / "_sweep_child.py"


def _sweep(steps: int, width: int, *, every: int, seeds: int = 2, checkpoint_every: int | None = None) -> dict:
    return {"name": "workers",
            "base": {"config": {
                "network": {"width": width},
                "data": {"name": "sphere_sin", "options": {"n_train": 60, "n_test": 20, "d": 8}},
                "training": {"steps": steps},
                "probes": {"every": every, "ntk_points": 20, "top_nodes": 2, "checkpoint_every": checkpoint_every}}},
            "grid": {"optimizer.name": ["gd", "momentum"], "network.scaling.gamma": [1.0, 0.5]},
            "seeds": seeds}


def _attempts(path: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((path / ".attempts").glob("*.json"))]


def test_two_workers_equal_serial_bitwise_and_each_process_takes_many_units(tmp_path):
    units = expand_sweep(sweep_from_dict(_sweep(40, 64, every=10)))
    serial = execute_units(units, tmp_path / "serial", progress=False)
    pooled = execute_units(units, tmp_path / "pool", workers=2, progress=False)
    assert sorted(s["id"] for s in serial) == sorted(s["id"] for s in pooled) == sorted(u.id for u in units)
    assert {s["state"] for s in serial + pooled} == {"done"}
    pids = set()
    for u in units:
        a, b = (tmp_path / k / "runs" / u.id for k in ("serial", "pool"))
        pd.testing.assert_frame_equal(pd.read_parquet(a / "metrics.parquet"), pd.read_parquet(b / "metrics.parquet"),
                                      check_exact=True)
        pids.update(x["pid"] for x in _attempts(b))
    # 8 units, 2 processes: the driver and one persistent worker, never a fresh process per unit
    assert os.getpid() in pids and len(pids) <= 2, pids


def _wait_for_worker_checkpoint(out: Path, driver: int, deadline: float) -> tuple[str, int]:
    """A unit mid-run in a worker process (not the driver): its id and the worker's pid."""
    while time.time() < deadline:
        for ck in (out / "runs").glob("*/checkpoint.pt"):
            attempts = _attempts(ck.parent)
            if attempts and attempts[-1]["pid"] != driver and read_status(ck.parent).get("status") == "running":
                return ck.parent.name, attempts[-1]["pid"]
        time.sleep(0.02)
    raise AssertionError("no worker reached a checkpoint in time")


def test_a_killed_worker_is_replaced_and_its_unit_resumes(tmp_path, run_python, equals_trained_alone):
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(_sweep(400, 256, every=20, seeds=1, checkpoint_every=20)))
    out = tmp_path / "out"
    driver = run_python(CHILD, sweep_file, out, 2)
    killed_id, pid = _wait_for_worker_checkpoint(out, driver.pid, time.time() + 150)
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stdout[-2000:] + stderr[-3000:]
    _, units = read_sweep(out)
    finished = [ln.split()[1] for ln in stdout.splitlines() if ln.startswith("[") and " done " in ln]
    assert sorted(finished) == sorted(u.id for u in units), stdout  # each unit reported done exactly once
    attempts = _attempts(out / "runs" / killed_id)
    assert len(attempts) == 2 and attempts[1]["found"] == "partial", attempts  # resumed, not redone
    assert attempts[1]["pid"] not in (pid, driver.pid)  # by a new worker: the driver never takes it
    equals_trained_alone(next(u for u in units if u.id == killed_id), out)


def test_ctrl_c_reaches_every_running_unit_and_the_same_command_resumes(tmp_path, run_python):
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(_sweep(3000, 256, every=100, seeds=1)))
    out = tmp_path / "out"
    driver = run_python(CHILD, sweep_file, out, 2)
    deadline = time.time() + 150
    while time.time() < deadline:  # both workers are training a unit
        running = [p for p in (out / "runs").glob("*") if read_status(p).get("status") == "running"]
        if len(running) == 2:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the two workers were never both training")
    driver.send_signal(signal.SIGINT)  # to the driver only: it forwards one SIGINT to each worker
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err[-3000:]
    states = {p.name: read_status(p).get("status") for p in running}
    assert set(states.values()) <= {"interrupted", "done"} and "interrupted" in states.values(), states
    for p in running:  # a unit still running at the Ctrl-C stopped at a step boundary with its checkpoint
        if states[p.name] == "interrupted":
            assert (p / "checkpoint.pt").exists()
    again = run_python("-m", "ntklab", "sweep", sweep_file, "--workers", "2", "--out", out, "--no-progress")
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    _, units = read_sweep(out)
    assert all(verify_run(out / "runs" / u.id, expected_id=u.id) is None for u in units)
    resumed = [json.loads(x.read_text()) for p in running for x in sorted((p / ".attempts").glob("*.json"))[1:]]
    assert any(a["found"] == "partial" for a in resumed)  # the interrupted units resumed, not redone
