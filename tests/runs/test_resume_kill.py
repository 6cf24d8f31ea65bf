"""A run killed with SIGKILL and started again ends bitwise identical to an uninterrupted run.

Real processes, real SIGKILL: a child trains and kills itself at a chosen point (after a checkpoint, half-way
through writing one, inside a probe between checkpoints, after the final model is written); a second process
resumes every killed run through the sweep's ``run_unit`` and also trains uninterrupted references (among them
a full-batch GD run, which takes the closed-form step of :mod:`ntklab.dynamics._shallow_grad`).  All on CPU
with one torch thread.  Equality is exact (no tolerance): resuming must replay the very same float operations.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ntklab.runs import read_status, run_id, verify_run
from ntklab.sweeps import Unit

HERE = Path(__file__).parents[1] / "_children"


def _config(kind: str) -> dict:
    opt = {"momentum-batch": {"name": "momentum", "lr": 0.5, "momentum": 0.9}, "adam": {"name": "adam", "lr": 0.01},
           "gd": {"name": "gd", "lr": 1.0}}[kind]  # gd: the closed-form E1 step (full-batch MSE, W only)
    return {"name": "resume", "seed": 3, "dtype": "float32",
            "data": {"name": "sphere_sin", "options": {"n_train": 24, "n_test": 8, "d": 4}},
            "network": {"width": 48, "scaling": {"kind": "zipf", "gamma": 0.5, "alpha": 0.7}},
            "optimizer": opt,
            "training": {"steps": 60, "batch_size": 8 if kind == "momentum-batch" else None},
            "probes": {"every": 5, "checkpoint_every": 10, "ntk_points": 12, "top_nodes": 2}}


def _unit(cfg: dict) -> dict:
    from ntklab.config import config_from_dict

    d = config_from_dict(cfg).model_dump(mode="json")
    return Unit(id=run_id(d), kind="run", grid={}, seed=d["seed"], payload=d).to_dict()


# (config, kill point, N, checkpoint step left on disk when killed)
CASES = [("momentum-batch", "after_ckpt", 1, 10), ("adam", "mid_ckpt", 3, 20),
         ("momentum-batch", "probe", 45, 40), ("adam", "after_model", 0, 50), ("gd", "probe", 35, 30)]
KINDS = ("momentum-batch", "adam", "gd")


def _same_run(a: Path, b: Path) -> None:
    ma, mb = pd.read_parquet(a / "metrics.parquet"), pd.read_parquet(b / "metrics.parquet")
    pd.testing.assert_frame_equal(ma, mb, check_exact=True)
    with np.load(a / "arrays.npz") as xa, np.load(b / "arrays.npz") as xb:
        assert sorted(xa.files) == sorted(xb.files)
        for k in xa.files:
            assert np.array_equal(xa[k], xb[k]), k
    sa, sb = (torch.load(p / "model.pt", weights_only=True) for p in (a, b))
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_kill_and_resume_is_bitwise_identical(tmp_path, run_python):
    killed, ref_dir = tmp_path / "killed", tmp_path / "ref"
    procs = []
    for i, (kind, point, n, _) in enumerate(CASES):
        cfg = _config(kind)
        out = killed / str(i) / "runs" / _unit(cfg)["id"]
        procs.append(run_python(HERE / "kill_child.py", json.dumps(cfg), out, point, n))
    for (kind, point, n, ck_step), p in zip(CASES, procs):
        _, err = p.communicate(timeout=120)
        assert p.returncode == -9, f"{point}: child was not killed (rc {p.returncode}): {err[-2000:]}"
    jobs = []
    for i, (kind, point, n, ck_step) in enumerate(CASES):
        unit = _unit(_config(kind))
        path = killed / str(i) / "runs" / unit["id"]
        assert read_status(path)["status"] == "running", point
        assert verify_run(path) == "status running", point  # an interrupted run never counts as results
        assert torch.load(path / "checkpoint.pt", weights_only=False)["step"] == ck_step, point
        jobs.append({"unit": unit, "dir": str(killed / str(i))})
    refs = {kind: _unit(_config(kind)) for kind in KINDS}
    jobs += [{"unit": u, "dir": str(ref_dir / kind)} for kind, u in refs.items()]
    p = run_python(HERE / "resume_child.py", json.dumps(jobs))
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, err[-3000:]
    summaries = json.loads(out.strip().splitlines()[-1])
    for (kind, point, _, _), s in zip(CASES, summaries):
        assert s["state"] == "done" and s["resumed"], (point, s)
    for i, (kind, point, _, _) in enumerate(CASES):
        unit = refs[kind]
        path = killed / str(i) / "runs" / unit["id"]
        assert verify_run(path, expected_id=unit["id"]) is None, point
        assert not list(path.glob(".*.tmp")), f"{point}: stale temporary files left"
        _same_run(path, ref_dir / kind / "runs" / unit["id"])
