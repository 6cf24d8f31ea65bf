"""Sweep claims: decided per run with their support; a missing metric, an empty selection, an unfinished or
diverged run is INCONCLUSIVE, never PASS."""

from __future__ import annotations

import pandas as pd
import pytest

from ntklab.cli import main
from ntklab.sweeps import report_sweep, run_sweep, sweep_from_dict

BASE = {"config": {"network": {"width": 16}, "training": {"steps": 4}, "probes": {"every": 2}}}


def _sweep(tmp_path, claims, **extra):
    spec = sweep_from_dict({"name": "s", "base": BASE, "grid": {"optimizer.lr": [0.5, 1.0]}, "seeds": 2,
                            "claims": claims, **extra})
    out = tmp_path / "sweep"
    run_sweep(spec, out, progress=False)
    return report_sweep(out).claims.set_index("name")


def test_claims_on_nothing_are_inconclusive(tmp_path):
    """Reproducer: a misspelled metric, or a `where:` matching no run, showed PASS with "no matching runs"."""
    claims = _sweep(tmp_path, [
        {"name": "typo", "metric": "train_rsik", "op": "<", "value": 10},
        {"name": "empty where", "metric": "train_risk", "op": "<", "value": 10, "where": {"optimizer.lr": 0.3}},
        {"name": "unknown axis", "metric": "train_risk", "op": "<", "value": 10, "where": {"network.depth": 1}},
        {"name": "holds", "metric": "train_risk", "op": "<", "value": 10},
        {"name": "fails", "metric": "train_risk", "op": "<", "value": 1e-9, "where": {"optimizer.lr": 1.0}},
    ])
    assert claims.loc["typo", "verdict"] == "INCONCLUSIVE" and "never recorded" in claims.loc["typo", "measured"]
    assert claims.loc["empty where", "verdict"] == "INCONCLUSIVE"
    assert "matches no unit" in claims.loc["empty where", "measured"]
    assert claims.loc["unknown axis", "verdict"] == "INCONCLUSIVE"
    assert claims.loc["holds", "verdict"] == "PASS" and claims.loc["holds", "support"] == "4/4 runs"
    assert claims.loc["fails", "verdict"] == "FAIL" and claims.loc["fails", "support"] == "0/2 runs"


def test_a_diverged_run_makes_its_claims_inconclusive_and_is_named(tmp_path, capsys):
    spec = {"name": "d", "base": BASE, "grid": {"optimizer.lr": [0.5, 1e9]},
            "claims": [{"name": "all", "metric": "train_risk", "op": "<", "value": 1e30}]}
    import yaml

    f = tmp_path / "d.yaml"
    f.write_text(yaml.safe_dump(spec))
    out = tmp_path / "sweep"
    assert main(["sweep", str(f), "--out", str(out), "--no-progress"]) == 0
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "0 PASS, 0 FAIL, 1 INCONCLUSIVE" in text and "diverged" in text
    claims = pd.read_csv(out / "claims.csv")
    assert claims.verdict.tolist() == ["INCONCLUSIVE"] and "diverged" in claims.measured[0]
    assert main(["report", str(out), "--check"]) == 1


@pytest.mark.parametrize("op, value, verdict", [("<", 1e6, "PASS"), (">", 1e6, "FAIL")])
def test_report_check_exit_status(tmp_path, op, value, verdict):
    spec = sweep_from_dict({"name": "c", "base": BASE, "claims": [
        {"name": "c", "metric": "train_risk", "op": op, "value": value}]})
    out = tmp_path / "sweep"
    run_sweep(spec, out, progress=False)
    assert report_sweep(out).claims.verdict.tolist() == [verdict]
    assert main(["report", str(out), "--check"]) == (0 if verdict == "PASS" else 1)
    assert main(["report", str(out)]) == 0
