"""deep-benign-overfitting's claims on synthetic fit frames: PASS where the data follows Bartlett et al.'s picture,
FAIL where it contradicts it, INCONCLUSIVE where there is nothing to decide."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ntklab.experiments.conditioning._benign_claims import benign_claims, exact_claim
from ntklab.experiments.conditioning.benign_overfitting import BenignOptions


def _options() -> BenignOptions:
    return BenignOptions(n_train=[250, 500, 1000], max_depth=4, depth_n=500, widths=[1000, 2000], width_n=250,
                         width_depth=2, seeds=2)


def _row(**kw) -> dict:
    variance, bias = kw.pop("variance"), kw.pop("bias", 0.0)
    bounded = kw.pop("bounded", True)
    row = {"width": 0, "train_residual": 1e-14, "cond": 10.0, "variance": variance, "bias": bias,
           "excess": variance + bias, "test_risk_draw": 1 + variance + bias, "variance_draw": variance,
           "de_variance": variance, "de_bias": bias, "k_star": 10, "k_over_n": 10 / kw["n"], "n_over_R": 0.05,
           "variance_lower": variance / 3 if bounded else math.nan, "variance_upper": 3 * variance if bounded else math.inf,
           "bias_lower": 0.0 if bounded else math.nan, "bias_upper": 3 * bias + 1e-3 if bounded else math.inf}
    return {**row, **kw}


def _frame(o: BenignOptions) -> pd.DataFrame:
    rows = []
    for seed in range(o.seeds):
        for n in o.n_train:
            rows.append(_row(sweep="n", family="deep", d=o.high_d, depth=3, n=n, seed=seed, variance=45 / n,
                             bias=5 / n))
            rows.append(_row(sweep="n", family="shallow", d=o.low_d, depth=1, n=n, seed=seed, variance=2.0,
                             k_star=-1, bounded=False))
        for depth in range(1, o.max_depth + 1):
            for d in (o.high_d, o.low_d):
                rows.append(_row(sweep="depth", family="deep" if d == o.high_d else "shallow", d=d, depth=depth,
                                 n=o.depth_n, seed=seed, variance=0.6 * 0.3 ** (depth - 1), bias=0.01 * depth))
        for width, excess in ((0, 0.2), (1000, 0.5), (2000, 0.3)):
            rows.append(_row(sweep="width", family="deep", d=o.high_d, depth=o.width_depth, n=o.width_n,
                             seed=seed, width=width, variance=excess))
    return pd.DataFrame(rows)


def _verdict(claims, words: str) -> str:
    hits = [c for c in claims if words in c.name]
    assert len(hits) == 1, [c.name for c in claims]
    return hits[0].verdict


def test_a_frame_that_follows_the_theory_passes():
    o = _options()
    claims = benign_claims(o, _frame(o))
    assert {c.verdict for c in claims} == {"PASS", "REPORTED"}, [(c.name, c.verdict, c.measured) for c in claims]


def test_exactness_fails_above_float64_precision_and_needs_fits():
    o = _options()
    f = _frame(o)
    f.loc[0, "train_residual"] = 1e-9  # cond 10, n 250: the tolerance is sqrt(250) 2.2e-16 10 = 3.5e-14
    assert exact_claim(f).verdict == "FAIL"
    assert exact_claim(f.iloc[:0]).verdict == "INCONCLUSIVE"


def test_a_shallow_family_that_becomes_benign_fails():
    o = _options()
    f = _frame(o)
    f.loc[f.family.eq("shallow") & f.sweep.eq("n"), ["variance", "excess"]] = 0.1
    assert _verdict(benign_claims(o, f), "does not approach") == "FAIL"


def test_a_deep_family_whose_risk_grows_fails_and_one_n_is_inconclusive():
    o = _options()
    f = _frame(o)
    sel = f.family.eq("deep") & f.sweep.eq("n")
    f.loc[sel, "excess"] = f.loc[sel, "n"] / 1000.0
    assert _verdict(benign_claims(o, f), "approaches σ² (benign)") == "FAIL"
    f = _frame(o)
    f = f[~(f.sweep.eq("n") & f.n.gt(250))]
    claims = benign_claims(o, f)
    assert _verdict(claims, "approaches σ² (benign)") == "INCONCLUSIVE"
    assert _verdict(claims, "does not approach") == "INCONCLUSIVE"


def test_a_variance_outside_the_bounds_fails_and_no_applicable_bound_is_inconclusive():
    o = _options()
    f = _frame(o)
    f.loc[0, "variance"] = 10 * f.loc[0, "variance_upper"]
    assert _verdict(benign_claims(o, f), "measured variance sits between") == "FAIL"
    f = _frame(o)
    f["variance_lower"], f["bias_lower"] = math.nan, math.nan
    claims = benign_claims(o, f)
    assert _verdict(claims, "measured variance sits between") == "INCONCLUSIVE"
    assert _verdict(claims, "measured excess risk sits between") == "INCONCLUSIVE"


def test_a_variance_away_from_the_deterministic_equivalent_fails():
    o = _options()
    f = _frame(o)
    f.loc[f.d.eq(o.high_d), "de_variance"] *= 1.5
    assert _verdict(benign_claims(o, f), "deterministic equivalent") == "FAIL"


def test_depth_that_does_not_shrink_the_variance_fails():
    o = _options()
    f = _frame(o)
    f.loc[f.sweep.eq("depth"), "variance"] = 0.5
    assert _verdict(benign_claims(o, f), "depth makes the interpolant's variance vanish") == "FAIL"


def test_width_claim_fails_when_features_move_away_and_needs_the_limit():
    o = _options()
    f = _frame(o)
    f.loc[f.sweep.eq("width") & f.width.eq(2000), "excess"] = 0.9
    assert _verdict(benign_claims(o, f), "random deep features") == "FAIL"
    f = _frame(o)
    f = f[~(f.sweep.eq("width") & f.width.eq(0))]
    assert _verdict(benign_claims(o, f), "random deep features") == "INCONCLUSIVE"
    assert np.isfinite(f.excess).all()


def test_family_claims_outside_their_regime_are_inconclusive():
    """Where the deep family's conditions do not hold (k*/n > 1/2), or the shallow family's do (k*/n < 1/2), the
    family claims have nothing to test."""
    o = _options()
    f = _frame(o)
    f.loc[f.family.eq("deep") & f.sweep.eq("n"), "k_star"] = 400
    f.loc[f.family.eq("shallow") & f.sweep.eq("n"), "k_star"] = 20
    claims = benign_claims(o, f)
    assert _verdict(claims, "approaches σ² (benign)") == "INCONCLUSIVE"
    assert _verdict(claims, "does not approach") == "INCONCLUSIVE"
