"""The momentum preset end to end through the CLI (--quick), and its refusals."""

import warnings

import pandas as pd
import pytest

from ntklab import ConfigError
from ntklab.cli import main
from ntklab.dynamics import StabilityWarning
from ntklab.experiments import get_preset, resolve_options
from ntklab.experiments.momentum.momentum import hyperparameters


def test_momentum_quick_via_cli(tmp_path):
    assert main(["run", "momentum", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert len(claims) >= 10 and set(claims.verdict) <= {"PASS", "FAIL", "INCONCLUSIVE", "REPORTED"}
    assert claims.measured.str.len().min() > 0
    runs = pd.read_csv(tmp_path / "momentum_runs.csv")
    assert set(runs.method) == {"gd", "heavy_ball", "nag", "nag_sc"} and (runs.status == "done").all()
    # with eta = 1 / lambda_max the run is stable and HB/NAG-SC beat GD: facts of the setup, not of the claims
    rates = runs.groupby("method").rate.mean()
    assert rates["heavy_ball"] > rates["gd"] and rates["nag_sc"] > rates["gd"]
    for f in ("momentum_loss.png", "momentum_gap.png"):
        assert (tmp_path / "figures" / f).stat().st_size > 1000


def test_bad_hyperparameters_warn_or_refuse(capsys):
    preset = get_preset("momentum")
    with pytest.warns(StabilityWarning, match="lr_factor"):
        hyperparameters(resolve_options(preset, quick=True, overrides=["lr_factor=2.5"]))
    with pytest.raises(ConfigError, match="damping_factor"):
        hyperparameters(resolve_options(preset, quick=True, overrides=["damping_factor=100"]))
    assert main(["run", "momentum", "--quick", "--set", "methods=[adam]", "--no-progress"]) == 2
    assert "methods" in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hyperparameters(resolve_options(preset, quick=True))  # the defaults are stable: no warning
