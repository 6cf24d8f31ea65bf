"""deep-learnability and deep-benign-overfitting end to end at toy sizes (the pipeline, its files and figures;
claims whose preconditions a toy size cannot meet are INCONCLUSIVE, never PASS), and the catalogue entries."""

from __future__ import annotations

import json

import pandas as pd

from ntklab.cli import main
from ntklab.experiments import get_preset

TINY_LEARN = {"d": 6, "max_depth": 3, "target_width": 64, "outputs": 2, "seeds": 1, "n_train": [40, 80],
              "n_test": 40, "claim_n": 80, "theory_degree": 2, "sq_degree": 1, "net_depths": [1, 3], "net_seeds": 1,
              "net_n": 40, "net_width": 60, "net_steps": 20}
TINY_BENIGN = {"high_d": 8, "low_d": 3, "n_train": [40, 80], "n_test": 40, "max_depth": 4, "depth_n": 60,
               "widths": [200, 400], "width_n": 30, "width_depth": 2, "seeds": 1}


def _sets(options: dict) -> list[str]:
    out = []
    for k, v in options.items():
        out += ["--set", f"{k}={json.dumps(v)}"]
    return out


def test_catalogue_has_both_presets_with_quick_modes():
    for name in ("deep-learnability", "deep-benign-overfitting"):
        preset = get_preset(name)
        assert preset.name == name and "quick" in preset.modes and "full" in preset.modes


def test_learnability_toy_run(tmp_path):
    assert main(["run", "deep-learnability", "--out", str(tmp_path), "--no-progress", *_sets(TINY_LEARN)]) == 0
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert set(claims.verdict) <= {"PASS", "FAIL", "INCONCLUSIVE", "REPORTED"}
    rate_claims = claims[claims["name"].str.contains("exponentially|decays at|faster for larger")]
    assert len(rate_claims) >= 7 and (rate_claims.verdict == "INCONCLUSIVE").all()  # 3 depths < the 4 a rate needs
    for fig in ("learnability_depth.png", "learnability_n.png"):
        assert (tmp_path / "figures" / fig).stat().st_size > 1000
    krr = pd.read_parquet(tmp_path / "krr.parquet")
    assert len(krr) == 4 * 1 * 3 * 2  # activations x seeds x depths x n
    theory = pd.read_parquet(tmp_path / "theory_masses.parquet")
    # the Gegenbauer masses of a normalised kernel sum to at most k(1) = 1 (the rest is beyond theory_degree)
    assert (theory.groupby(["activation", "depth"]).mass.sum() <= 1 + 1e-9).all()


def test_benign_toy_run(tmp_path):
    assert main(["run", "deep-benign-overfitting", "--out", str(tmp_path), "--no-progress", *_sets(TINY_BENIGN)]) == 0
    claims = pd.read_csv(tmp_path / "claims.csv").set_index("name")
    assert claims.loc["minimum-norm interpolation is exact (float64)", "verdict"] == "PASS"
    fits = pd.read_parquet(tmp_path / "interpolation.parquet")
    assert set(fits.sweep) == {"n", "depth", "width"}
    # the exact variance sigma^2 mean g(x) and one noise draw's variance agree within the draw's sampling error
    rel = (fits.variance_draw / fits.variance - 1).abs()
    assert float(rel.median()) < 0.5
    for fig in ("benign_n.png", "benign_depth.png", "benign_width.png"):
        assert (tmp_path / "figures" / fig).stat().st_size > 1000
