"""Sweeps pass a device through: `set: [device=...]` of a preset sweep, run_unit's device, Ray's GPUs per run."""

from __future__ import annotations

import pytest

import ntklab
from ntklab._device import current_device
from ntklab._errors import ConfigError
from ntklab.runs import run_id
from ntklab.sweeps import SweepSpec, expand_sweep
from ntklab.sweeps._executors import execute_units
from ntklab.sweeps._unit import run_unit


def preset_spec(sets):
    return SweepSpec.model_validate({"name": "dev", "base": {"preset": "asym-simulated", "mode": "quick"},
                                     "grid": {"lr": [0.5, 1.0]}, "set": sets})


def test_a_preset_sweeps_device_is_not_an_option_nor_part_of_the_unit_id():
    plain, on_cpu = expand_sweep(preset_spec([])), expand_sweep(preset_spec(["device=cpu"]))
    assert [u.id for u in plain] == [u.id for u in on_cpu]
    assert all(u.payload["device"] == "cpu" and "device" not in u.payload["options"] for u in on_cpu)
    with pytest.raises(ConfigError, match="device"):
        expand_sweep(preset_spec(["device=tpu"]))


def test_run_unit_trains_its_runs_on_the_device_it_is_given(tmp_path, monkeypatch):
    seen = []
    real = ntklab.runs._train.train_many

    def spy(configs, **kw):
        seen.append(current_device())
        return real(configs, **kw)

    monkeypatch.setattr("ntklab.runs._train.train_many", spy)
    cfg = ntklab.RunConfig(network={"width": 8}, data={"options": {"n_train": 10, "n_test": 8, "d": 3}},
                           training={"steps": 2}, probes={"every": 1, "ntk": False, "top_nodes": 0})
    payload = cfg.model_dump(mode="json")
    unit = {"id": run_id(payload), "kind": "run", "grid": {}, "seed": 0, "payload": payload}
    out = run_unit(unit, tmp_path, threads=1, device="cpu")
    assert out["state"] == "done", out
    assert seen == ["cpu"]


def test_gpus_per_run_is_refused_off_ray_and_when_negative(tmp_path):
    with pytest.raises(ConfigError, match="--gpus-per-run.*ray only"):
        execute_units([], tmp_path, executor="local", gpus_per_run=1)
    with pytest.raises(ConfigError, match="--gpus-per-run"):
        execute_units([], tmp_path, executor="ray", gpus_per_run=-1)
