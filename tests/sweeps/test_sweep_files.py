"""Sweep files, stable run ids, skipping finished runs, and integrity: corrupt or half-written runs are redone."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntklab import ConfigError
from ntklab.cli import main
from ntklab.runs import run_id
from ntklab.sweeps import expand_sweep, load_sweep, run_sweep, sweep_from_dict, sweep_table

BASE = {"network": {"width": 8}, "data": {"options": {"n_train": 10, "n_test": 5, "d": 3}},
        "training": {"steps": 6}, "probes": {"every": 3, "ntk": False}}
YAML = """
name: tiny
base: {config: %s}
grid: {optimizer.lr: [0.5, 1.0]}
zip: [{network.scaling.gamma: [1.0, 0.5], network.scaling.kind: [ntk, zipf]}]
seeds: [0, 7]
""" % json.dumps(BASE)
TOML = """
name = "tiny"
seeds = [0, 7]
[base.config]
network = {width = 8}
data = {options = {n_train = 10, n_test = 5, d = 3}}
training = {steps = 6}
probes = {every = 3, ntk = false}
[grid]
"optimizer.lr" = [0.5, 1.0]
[[zip]]
"network.scaling.gamma" = [1.0, 0.5]
"network.scaling.kind" = ["ntk", "zipf"]
"""


def test_yaml_and_toml_expand_to_the_same_stable_ids(tmp_path):
    (tmp_path / "s.yaml").write_text(YAML)
    (tmp_path / "s.toml").write_text(TOML)
    a, b = expand_sweep(load_sweep(tmp_path / "s.yaml")), expand_sweep(load_sweep(tmp_path / "s.toml"))
    assert [u.id for u in a] == [u.id for u in b] and len(a) == 2 * 2 * 2  # grid x zip x seeds
    assert all(u.id == run_id(u.payload) for u in a)  # the id is the hash of the canonical config
    assert {(u.grid["network.scaling.gamma"], u.grid["network.scaling.kind"]) for u in a} == {(1.0, "ntk"), (0.5, "zipf")}
    assert sorted({u.seed for u in a}) == [0, 7] and len({u.id for u in a}) == 8


@pytest.mark.parametrize("bad, field", [
    ({"grid": {"network.widht": [1]}}, "network.widht"),
    ({"grid": {"network.width": [10, -1]}}, "network.width"),
    ({"zip": [{"optimizer.lr": [1.0], "network.width": [1, 2]}]}, "zip"),
    ({"grid": {"optimizer.lr": [1.0, 1.0]}}, "grid"),
    ({"seeds": 0}, "seeds"),
    ({"base": {"config": {}, "preset": "asym-simulated"}}, "base"),
    ({"grid": {"data.name": ["nope"]}}, "data.name"),
])
def test_bad_sweeps_are_refused_naming_the_field(bad, field):
    with pytest.raises(ConfigError) as err:
        expand_sweep(sweep_from_dict({"base": {"config": BASE}, **bad}))
    assert err.value.field.startswith(field), str(err.value)


def test_cli_dry_run_and_one_line_errors(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(YAML)
    assert main(["sweep", str(tmp_path / "s.yaml"), "--dry-run", "--out", str(tmp_path / "o")]) == 0
    assert "8 runs" in capsys.readouterr().out and not (tmp_path / "o" / "runs").exists()
    (tmp_path / "bad.yaml").write_text("grid: {network.width: [0]}\n")
    assert main(["sweep", str(tmp_path / "bad.yaml"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: network.width") and "\n" not in err


def _frame(path):
    return pd.read_parquet(path / "metrics.parquet")


def test_finished_runs_are_skipped_and_damaged_ones_redone(tmp_path):
    spec = sweep_from_dict({"base": {"config": BASE}, "grid": {"optimizer.lr": [0.25, 0.5, 1.0]}, "seeds": 2})
    out = tmp_path / "sw"
    assert set(run_sweep(spec, out, progress=False).state) == {"done"}
    units = expand_sweep(spec)
    dirs = [out / "runs" / u.id for u in units]
    before = {d.name: _frame(d) for d in dirs}
    m = dirs[0] / "metrics.parquet"
    m.write_bytes(m.read_bytes()[: m.stat().st_size // 2])  # truncated result file
    raw = bytearray((dirs[1] / "model.pt").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (dirs[1] / "model.pt").write_bytes(bytes(raw))  # one flipped bit in the weights
    (dirs[2] / "status").write_text('{"status": "running"}')  # killed before its first checkpoint
    (dirs[3] / "status").unlink()  # never got as far as its status
    (dirs[4] / "status").write_text('{"stat')  # a torn status file
    states = sweep_table(units, out).set_index("id").state
    assert [states[d.name] for d in dirs] == ["corrupt", "corrupt", "partial", "pending", "corrupt", "done"]
    again = run_sweep(spec, out, progress=False).set_index("id").state
    assert [again[d.name] for d in dirs] == ["done"] * 5 + ["skipped"]
    for d in dirs:  # redone runs give the very same numbers
        pd.testing.assert_frame_equal(_frame(d), before[d.name], check_exact=True)


def test_a_failing_run_is_reported_and_counted_out(tmp_path, capsys):
    base = {**BASE, "data": {"options": {"n_train": 10, "n_test": 5, "d": 3, "colour": 1}}}
    (tmp_path / "s.yaml").write_text(json.dumps({"name": "f", "base": {"config": base}, "seeds": 1}))
    assert main(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "failed" in capsys.readouterr().err
    units = expand_sweep(load_sweep(tmp_path / "s.yaml"))
    assert sweep_table(units, tmp_path / "o").state.tolist() == ["partial"]


AXES = {"network.width": (st.integers(1, 64), st.integers(-5, 0)),
        "optimizer.lr": (st.floats(1e-3, 10), st.sampled_from([0.0, -1.0, float("nan")])),
        "network.scaling.gamma": (st.floats(0, 1), st.floats(1.01, 5)),
        "training.loss": (st.sampled_from(["mse", "cross_entropy"]), st.just("hinge"))}


@st.composite
def sweeps(draw):
    grid, bad = {}, False
    for key in draw(st.lists(st.sampled_from(sorted(AXES)), min_size=1, max_size=3, unique=True)):
        vals = []
        for _ in range(draw(st.integers(1, 3))):
            invalid = draw(st.integers(0, 5)) == 0
            bad |= invalid
            vals.append(draw(AXES[key][1] if invalid else AXES[key][0]))
        grid[key] = vals
    return {"base": {"config": BASE}, "grid": grid, "seeds": draw(st.integers(1, 2))}, bad


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sweeps())
def test_sweep_expansion_fuzz(case):
    data, bad = case
    try:
        units = expand_sweep(sweep_from_dict(data))
    except ConfigError as exc:
        assert bad or "same run" in str(exc), str(exc)  # duplicates of a value are refused too
        return
    assert not bad
    n = 1
    for vals in data["grid"].values():
        n *= len(vals)
    assert len(units) == n * data["seeds"] and len({u.id for u in units}) == len(units)


def test_the_run_config_fields_may_sit_directly_under_base():
    """`base: {network: ...}` (the obvious guess) is read as `base: {config: {network: ...}}`."""
    short = sweep_from_dict({"base": {"network": {"width": 12}, "training": {"steps": 3}}})
    long = sweep_from_dict({"base": {"config": {"network": {"width": 12}, "training": {"steps": 3}}}})
    assert [u.id for u in expand_sweep(short)] == [u.id for u in expand_sweep(long)]
    with pytest.raises(ConfigError, match="base.netwrk: unknown field"):
        sweep_from_dict({"base": {"netwrk": {}}})
