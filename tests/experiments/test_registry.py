"""The preset catalogue, and experiment directories bound to their options."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import ntklab
from ntklab.cli import main
from ntklab.experiments import CATALOGUE, PRESETS, get_preset, register_preset
from ntklab.runs import load_runs

TINY = ["--quick", "--no-progress", "--set", "width=40", "--set", "steps=20", "--set", "seeds=1", "--set", "every=10",
        "--set", "sweep_widths=[40, 80, 160]", "--set", "sweep_steps=10", "--set", "sweep_seeds=1"]


def test_other_options_in_the_same_directory_are_refused_and_overwrite_replaces(tmp_path, capsys):
    """Reproducer: `run asym-simulated --quick --set lr=0.1 --out <dir of an lr=1 run>` recorded lr 0.1 in
    experiment.json but reused every lr=1 run, and its tables came out byte-identical."""
    out = tmp_path / "exp"
    assert main(["run", "asym-simulated", *TINY, "--out", str(out)]) == 0
    first = pd.read_csv(out / "final_by_config.csv")
    capsys.readouterr()
    assert main(["run", "asym-simulated", *TINY, "--set", "lr=0.1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "options.lr: 1.0 there, 0.1 here" in err and str(out) in err
    assert json.loads((out / "experiment.json").read_text())["options"]["lr"] == 1.0  # untouched
    assert main(["run", "asym-simulated", *TINY, "--set", "lr=0.1", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "experiment.json").read_text())["options"]["lr"] == 0.1
    second = pd.read_csv(out / "final_by_config.csv")
    assert not first.equals(second)
    runs = load_runs(out / "runs")
    assert runs and all(r.config["optimizer"]["lr"] == 0.1 for r in runs)  # no lr=1 run survived
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]


def test_the_same_options_reuse_every_finished_run(tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["run", "asym-simulated", *TINY, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", "asym-simulated", *TINY, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("reusing finished run") == 0  # --no-progress: the store reuses silently
    runs = load_runs(out / "runs")
    names = {r.path.name for r in runs}
    assert all(r.path.name.endswith(ntklab.runs.config_hash(r.config)) for r in runs) and len(names) == len(runs)


def test_the_catalogue_is_imported_on_first_use():
    assert set(CATALOGUE) <= set(PRESETS)
    assert all(":" in item.entry for item in CATALOGUE.values())
    assert get_preset("momentum").name == "momentum"
    register_preset("my-demo", "ntklab.experiments.asym.simulated:PRESET")
    try:
        assert get_preset("my-demo") is get_preset("asym-simulated")
    finally:
        PRESETS.unregister("my-demo")
    with pytest.raises(ntklab.ConfigError, match="preset: got 'nope'"):
        get_preset("nope")


def test_a_registered_network_passes_config_validation():
    """Config names are validated against the registries, so a registered network is a valid network.kind."""
    from ntklab.nets import NETWORKS, register_network

    register_network("my-net", lambda cfg, **kw: ntklab.ScaledShallowNet(kw["d"], cfg.width, seed=kw["seed"]))
    try:
        cfg = ntklab.RunConfig(network={"kind": "my-net", "width": 8}, training={"steps": 1})
        assert cfg.network.kind == "my-net"
        assert ntklab.train(cfg, progress=False).status == "done"
    finally:
        NETWORKS.unregister("my-net")
    with pytest.raises(ntklab.ConfigError, match="network.kind: got 'my-net'"):
        ntklab.config.config_from_dict({"network": {"kind": "my-net"}})


def test_the_catalogue_says_what_each_preset_is():
    """The catalogue's plain data (read by `ntklab presets` without importing torch) matches each preset."""
    from ntklab.experiments._catalogue import CATALOGUE as entries

    for name, item in entries.items():
        preset = get_preset(name)
        assert preset.name == name and preset.paper == item.paper, name
        assert tuple(preset.modes) == item.modes, name
        assert item.summary and len(item.summary) <= 110, name


def test_presets_name_prints_the_options_with_defaults_and_modes(capsys):
    assert main(["presets", "asym-simulated"]) == 0
    text = capsys.readouterr().out
    for needle in ("--quick", "--full", "sweep_widths", "[125, 250, 500, 1000]", "50000"):
        assert needle in text, needle
    assert main(["presets", "nope"]) == 2
