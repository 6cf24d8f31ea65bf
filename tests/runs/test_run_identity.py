"""A run directory is bound to the hash of its canonical config: reuse, resume, refuse, overwrite."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml

import ntklab
from ntklab.cli import main
from ntklab.runs import RunConflict, first_difference, run_dir

SMALL = {"network": {"width": 20}, "training": {"steps": 6}, "probes": {"every": 3}}


def _cfg(**network):
    return ntklab.RunConfig(**{**SMALL, "network": {**SMALL["network"], **network}})


def _yaml(path, **network):
    path.write_text(yaml.safe_dump({**SMALL, "network": {**SMALL["network"], **network}}))
    return path


def test_a_different_config_is_refused_naming_the_directory_and_the_field(tmp_path, capsys):
    """Reproducer: `run a.yaml --out X`, then `run b.yaml --out X` (b differs in network.width) printed the first
    run's metrics with status done and exit 0."""
    out = tmp_path / "X"
    assert main(["run", str(_yaml(tmp_path / "a.yaml")), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["run", str(_yaml(tmp_path / "b.yaml", width=30)), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(out) in err and "network.width: 20 there, 30 here" in err and "--overwrite" in err
    assert json.loads((out / "config.json").read_text())["config"]["network"]["width"] == 20  # untouched


def test_set_overrides_are_part_of_the_identity(tmp_path, capsys):
    a = _yaml(tmp_path / "a.yaml")
    out = tmp_path / "X"
    assert main(["run", str(a), "--out", str(out), "--no-progress"]) == 0
    assert main(["run", str(a), "--out", str(out), "--no-progress", "--set", "optimizer.lr=0.5"]) == 2
    assert "optimizer.lr: 1.0 there, 0.5 here" in capsys.readouterr().err


def test_two_configs_with_the_same_default_directory(tmp_path, capsys, monkeypatch):
    """Both configs are named "run" and default to results/run: the second is refused, not mixed in."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(_yaml(tmp_path / "a.yaml")), "--no-progress"]) == 0
    assert main(["run", str(_yaml(tmp_path / "b.yaml", depth=1, width=25)), "--no-progress"]) == 2
    assert "results/run" in capsys.readouterr().err


def test_the_same_config_is_reused_and_says_so(tmp_path, capsys):
    a = _yaml(tmp_path / "a.yaml")
    out = tmp_path / "X"
    assert main(["run", str(a), "--out", str(out), "--no-progress"]) == 0
    before = (out / "metrics.parquet").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["run", str(a), "--out", str(out), "--no-progress"]) == 0
    assert f"reusing finished run {out}" in capsys.readouterr().err
    assert (out / "metrics.parquet").stat().st_mtime_ns == before  # not trained again


def test_train_refuses_an_existing_directory_of_another_config(tmp_path):
    out = tmp_path / "run"
    ntklab.train(_cfg(), out=out, progress=False)
    with pytest.raises(RunConflict, match="network.width: 20 there, 40 here"):
        ntklab.train(_cfg(width=40), out=out, progress=False)
    assert ntklab.train(_cfg(), out=out, progress=False).reused


def test_a_foreign_directory_is_not_filled(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ntklab.ConfigError, match="not empty and holds no config.json"):
        ntklab.train(_cfg(), out=tmp_path, progress=False)


def test_overwrite_replaces_the_run_and_never_mixes_files(tmp_path):
    out = tmp_path / "run"
    old = ntklab.train(_cfg(), out=out, progress=False)
    (out / "stray.txt").write_text("an old file that must not survive")
    new = ntklab.train(_cfg(width=40), out=out, progress=False, overwrite=True)
    assert new.status == "done" and new.config["network"]["width"] == 40
    assert not (out / "stray.txt").exists()
    assert old.path == new.path and len(new.arrays["node_norm_sq"]) == 40
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging or old directory left behind


def test_an_interrupted_overwrite_leaves_the_old_run_and_resumes(tmp_path, monkeypatch):
    from ntklab.runs import _train

    out = tmp_path / "run"
    ntklab.train(_cfg(), out=out, progress=False)
    cfg = _cfg(width=40).model_copy(update={"probes": ntklab.config.ProbeConfig(every=3, checkpoint_every=2)})
    real = _train.replace_dir

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(_train, "replace_dir", crash)
    with pytest.raises(KeyboardInterrupt):
        ntklab.train(cfg, out=out, progress=False, overwrite=True)
    assert json.loads((out / "config.json").read_text())["config"]["network"]["width"] == 20  # old run intact
    monkeypatch.setattr(_train, "replace_dir", real)
    run = ntklab.train(cfg, out=out, progress=False, overwrite=True)
    assert run.config["network"]["width"] == 40 and run.status == "done"


def test_first_difference_walks_sorted_keys_depth_first():
    assert first_difference({"a": 1, "b": {"c": [1, 2]}}, {"a": 1, "b": {"c": [1, 3]}}) == ("b.c[1]", 2, 3)
    assert first_difference({"a": 1}, {"a": 1}) is None
    assert first_difference({"a": 1}, {"a": 1, "z": 0}) == ("z", "<missing>", 0)


def test_train_many_puts_each_run_under_its_config_hash(tmp_path):
    cfgs = [_cfg(), _cfg(width=21)]
    runs = ntklab.train_many(cfgs, out=tmp_path, progress=False)
    assert [r.path for r in runs] == [run_dir(tmp_path, c.model_dump(mode="json")) for c in cfgs]
    assert runs[0].path.name.startswith("run-") and runs[0].path != runs[1].path


def test_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run = ntklab.train(_cfg(), out=tmp_path / "run", progress=False)
    finally:
        os.umask(old)
    for f in ("config.json", "status", "metrics.parquet", "arrays.npz", "model.pt"):
        assert stat.S_IMODE((run.path / f).stat().st_mode) == 0o644, f
    old = os.umask(0o077)
    try:
        run = ntklab.train(_cfg(width=22), out=tmp_path / "private", progress=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((run.path / "metrics.parquet").stat().st_mode) == 0o600
