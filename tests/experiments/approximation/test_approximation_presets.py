"""The approximation presets through the CLI (--quick), their preconditions, and their option errors."""

import pandas as pd
import pytest

from ntklab.cli import main
from ntklab.experiments import get_preset

QUICK_1D_PASSES = {"gaussian: network rate no faster than the spline's",
                   "cusp: breakpoints move towards x=0 (mass within 0.1)"}


def _run(preset, out, *sets):
    argv = ["run", preset, "--quick", "--out", str(out), "--no-progress"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    return pd.read_csv(out / "claims.csv")


def test_approximation_1d_quick(tmp_path):
    claims = _run("approximation-1d", tmp_path)
    assert set(claims[claims.verdict == "PASS"].name) == QUICK_1D_PASSES  # as at 0712442
    assert claims[claims.name.str.contains("network error falls")].support.eq("95% CI over 6 nets").all()
    names = " ".join(claims.name)
    for t in ("gaussian", "cusp", "jump"):
        assert f"{t}: network error falls with m" in names
    assert "network rate no faster than the spline" in names and "breakpoints move towards" in names
    assert set(claims.verdict) <= {"PASS", "FAIL", "INCONCLUSIVE", "REPORTED"}
    rates = pd.read_csv(tmp_path / "rates.csv")
    assert set(rates.method) == {"network", "interpolant", "projection"}
    assert len(list((tmp_path / "figures").glob("approx1d_*.png"))) == 5
    assert main(["report", str(tmp_path)]) == 0  # the analysis is redone from the stored tables


def test_approximation_sphere_quick(tmp_path):
    claims = _run("approximation-sphere", tmp_path, "widths=[8,16]", "dims=[3]", "steps=10")
    assert any("zonal, d=3" in n for n in claims.name) and any("harmonics, d=3" in n for n in claims.name)
    assert len(list((tmp_path / "figures").glob("sphere_*.png"))) == 3
    # two widths: too few for a slope with an interval
    falls = claims[claims.name.str.contains("test error falls")]
    assert (falls.verdict == "INCONCLUSIVE").all()
    assert falls.measured.str.endswith("widths with a positive finite error (needs 3)").all()
    errors = pd.read_parquet(tmp_path / "tables" / "errors.parquet")
    assert set(errors.status) == {"budget"} and (errors.steps_run == 10).all()


@pytest.mark.parametrize("preset, sets", [
    ("approximation-1d", ["lr_factor=1e9"]),
    ("approximation-sphere", ["lr_factor=1e9", "dims=[3]"]),
])
def test_every_net_diverging_gives_no_pass_and_names_them(tmp_path, capsys, preset, sets):
    claims = _run(preset, tmp_path, *sets)
    shown = capsys.readouterr().out
    assert "PASS" not in set(claims.verdict)
    # the spline claim of 1-d needs no training: it stays a FAIL of the splines (-2.16 at 8, 16, 32 knots)
    trained = claims[~claims.name.str.startswith(("gaussian: spline", "GD runs", "NTK"))]
    assert (trained.verdict == "INCONCLUSIVE").all()
    assert trained.measured.str.contains(r"nets diverged or unfinished \(").all()
    assert "diverged: " in shown and " m=8 s0 after " in shown
    assert main(["report", str(tmp_path)]) == 0


def test_a_slope_over_untrained_nets_is_inconclusive(tmp_path):
    claims = _run("approximation-1d", tmp_path, "lr_factor=1e-6", "targets=[\"cusp\"]").set_index("name")
    c = claims.loc["cusp: network error falls with m (slope CI below 0)"]
    assert c.verdict == "INCONCLUSIVE"
    assert c.measured.startswith("cusp: relative error e_T/e_0 (worst net) 1 did not fall below 0.9")
    assert claims.loc["cusp: breakpoints move towards x=0 (mass within 0.1)"].verdict == "INCONCLUSIVE"


def test_presets_share_one_declaration():
    for name in ("approximation-1d", "approximation-sphere"):
        p = get_preset(name)
        assert set(p.modes) == {"quick", "full"} and p.modes["full"] == {} and p.modes["quick"]["seeds"] == 2


@pytest.mark.parametrize("preset, sets", [
    ("approximation-1d", ["seeds=0"]), ("approximation-1d", ["targets=[\"sine\"]"]),
    ("approximation-1d", ["targets=[\"zonal\"]"]), ("approximation-1d", ["scaling=\"mup\""]),
    ("approximation-1d", ["trainable=[\"c\"]"]), ("approximation-1d", ["output=\"flat\""]),
    ("approximation-1d", ["widths=[0, 8]"]), ("approximation-1d", ["bogus=1"]),
    ("approximation-sphere", ["dims=[1]"]), ("approximation-sphere", ["targets=[\"cusp\"]"]),
    ("approximation-sphere", ["trainable=[]"]),
])
def test_bad_options_exit_2(tmp_path, preset, sets, capsys):
    argv = ["run", preset, "--quick", "--out", str(tmp_path), "--no-progress"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and sets[0].split("=")[0] in err
    assert not (tmp_path / "tables").exists()  # refused before anything ran
