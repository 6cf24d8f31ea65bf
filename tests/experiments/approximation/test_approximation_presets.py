"""The approximation presets through the CLI (--quick), and their option errors."""

import pandas as pd
import pytest

from ntklab.cli import main


def test_approximation_1d_quick(tmp_path):
    assert main(["run", "approximation-1d", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    claims = pd.read_csv(tmp_path / "claims.csv")
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
    assert main(["run", "approximation-sphere", "--quick", "--out", str(tmp_path), "--no-progress",
                 "--set", "widths=[8,16]", "--set", "dims=[3]", "--set", "steps=10"]) == 0
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert any("zonal, d=3" in n for n in claims.name) and any("harmonics, d=3" in n for n in claims.name)
    assert len(list((tmp_path / "figures").glob("sphere_*.png"))) == 3


@pytest.mark.parametrize("sets", [["seeds=0"], ["targets=[\"sine\"]"], ["scaling=\"mup\""], ["bogus=1"]])
def test_bad_options_exit_2(tmp_path, sets, capsys):
    argv = ["run", "approximation-1d", "--quick", "--out", str(tmp_path), "--no-progress"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err
