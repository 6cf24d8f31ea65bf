"""The asymmetrical-scaling claims: preconditions (diverged, failed, missing runs; missing metrics; too few
configurations or widths; non-finite values) and per-seed decisions, on synthetic stores and through the CLI."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ntklab.cli import main
from ntklab.experiments.asym._core_claims import core_claims
from ntklab.experiments.asym._common import PaperNumbers
from ntklab.experiments.asym._verdicts import RunSet
from ntklab.experiments.asym.simulated import AsymSimulatedOptions, _sweep_claims, main_configs, sweep_configs
from ntklab.runs import Run, rows_to_frame

LAMBDA_CLAIMS = ("λ_min(Θ̂_0) ordered by γ (in expectation over initialisations)",
                 "γ=1: λ_min(Θ̂_0) within 10% of λ_min(K)")
DISPLACEMENT_CLAIMS = ("final max-node displacement of every γ<1 exceeds γ=1's (feature learning iff γ<1)",
                       "final max-node displacement increases as γ decreases (mean over seeds)")
DRIFT_CLAIM = "final kernel drift increases as γ decreases (mean over seeds)"
INTERVAL_CLAIMS = (LAMBDA_CLAIMS[0], DISPLACEMENT_CLAIMS[1], DRIFT_CLAIM)  # with a stated interval, not per seed


# --- synthetic stores: one Run per config with the metrics a test asks for ---------------------------------

def _metrics(values: dict, steps=(0, 10)) -> pd.DataFrame:
    """values: metric -> (value at step 0, value at the last step) or a single value at both steps."""
    rows = []
    for metric, v in values.items():
        first, last = v if isinstance(v, tuple) else (v, v)
        rows += [(steps[0], metric, "", first), (steps[-1], metric, "", last)]
    return rows_to_frame(rows)


def _good(gamma: float, seed: int) -> dict:
    """Values with every ordering of the core claims holding (train risk, drift, displacement grow as γ falls)."""
    up = 1.0 - gamma + 0.01 * seed
    return {"train_risk": (1.0, 0.1 + 0.5 * up), "test_risk": 0.2 + up, "lambda_min": (0.01 * (gamma + 0.1), 0.0),
            "drift_spectral": (0.0, 0.1 + up), "max_node_displacement": (0.0, 1.0 + up)}


def _store(opts, make, status=lambda cfg: "done") -> RunSet:
    cfgs = main_configs(opts)
    runs = []
    for c in cfgs:
        g = float(c.network.scaling.gamma)
        runs.append(Run(path=Path(f"/nowhere/{c.name}-0"), config=c.model_dump(mode="json"), status=status(c),
                        _metrics=_metrics(make(g, c.seed))))
    return RunSet(cfgs, runs)


OPTS = AsymSimulatedOptions(width=10, steps=10, seeds=2)
PAPER = PaperNumbers()


def _by_name(claims) -> dict:
    return {c.name: c for c in claims}


def test_all_core_claims_pass_per_seed_with_support():
    claims, tables = core_claims(_store(OPTS, _good), lam_k=0.011, paper=PAPER)
    by = _by_name(claims)
    assert {c.verdict for c in claims} == {"PASS", "REPORTED"}
    assert all(c.support == ("2 seeds, 90% t-interval" if c.name in INTERVAL_CLAIMS else "2/2 seeds")
               for c in claims if c.verdict == "PASS")
    assert "per seed 0.0%, 0.0%" in by[LAMBDA_CLAIMS[1]].measured
    assert list(tables["final_by_config"].gamma) == [1.0, 0.5, 0.2, 0.0]


def test_an_ordering_on_the_mean_that_fails_in_one_seed_is_fail_with_its_support():
    def make(g, s):
        v = _good(g, s)
        final = {(0, 0.5): 0.25, (0, 0.2): 0.50, (1, 0.5): 0.45, (1, 0.2): 0.40}  # seed 1: γ=0.2 below γ=0.5
        if (s, g) in final:
            v["train_risk"] = (1.0, final[s, g])  # means 0.35 < 0.45: ordered on the mean alone
        return v

    rs = _store(OPTS, make)
    by = _by_name(core_claims(rs, lam_k=0.011, paper=PAPER)[0])
    c = by["final train risk ordered by γ (γ=1 lowest, γ=0 highest)"]
    mean = core_claims(rs, lam_k=0.011, paper=PAPER)[1]["final_by_config"].set_index("gamma").train_risk
    assert mean.is_monotonic_increasing  # γ descending in the index: the mean alone would pass
    assert c.verdict == "FAIL" and c.support == "1/2 seeds"


def test_diverged_failed_and_missing_runs_make_trained_claims_inconclusive_and_are_named():
    status = {"a0.4-g0-s1": "diverged", "a0.7-g0.5-s0": "failed"}
    rs = _store(OPTS, _good, status=lambda c: status.get(c.name, "done"))
    rs.runs = [r for r in rs.runs if r.name != "a0.5-g0.2-s0"]  # missing
    claims = core_claims(rs, lam_k=0.011, paper=PAPER)[0]
    for c in claims:
        if c.name in LAMBDA_CLAIMS:
            continue
        assert c.verdict == "INCONCLUSIVE", c
        assert "1 of 8 runs missing" in c.measured and "a0.4-g0-s1" in c.measured and "a0.7-g0.5-s0" in c.measured
    # step 0 holds Θ̂_0: the ordering claim still needs every run's record (one is missing) ...
    by = _by_name(claims)
    assert by[LAMBDA_CLAIMS[0]].verdict == "INCONCLUSIVE" and "1 of 8 runs missing" in by[LAMBDA_CLAIMS[0]].measured
    # ... while the γ=1 claim has both of its runs, and says the others stopped
    assert by[LAMBDA_CLAIMS[1]].verdict == "PASS" and "2 of 8 runs diverged or stopped later" in \
        by[LAMBDA_CLAIMS[1]].measured


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_lambda_min_is_never_pass(bad):
    def make(g, s):
        v = _good(g, s)
        if g == 1.0 and s == 0:
            v["lambda_min"] = (bad, 0.0)
        return v

    by = _by_name(core_claims(_store(OPTS, make), lam_k=0.011, paper=PAPER)[0])
    for name, n in zip(LAMBDA_CLAIMS, (8, 2)):  # the ordering reads all 8 runs, the γ=1 claim its 2
        assert by[name].verdict == "INCONCLUSIVE" and by[name].measured == f"λ_min(Θ̂_0): 1 of {n} values not finite"
    for lam_k in (math.nan, 0.0):  # λ_min(K) itself not positive and finite
        c = _by_name(core_claims(_store(OPTS, _good), lam_k=lam_k, paper=PAPER)[0])[LAMBDA_CLAIMS[1]]
        assert c.verdict == "INCONCLUSIVE" and "λ_min(K)" in c.measured


def test_missing_metric_and_one_configuration():
    def make(g, s):
        v = _good(g, s)
        del v["drift_spectral"]
        return v

    by = _by_name(core_claims(_store(OPTS, make), lam_k=0.011, paper=PAPER)[0])
    c = by[DRIFT_CLAIM]
    assert c.verdict == "INCONCLUSIVE" and c.measured == "metric 'drift_spectral' was never recorded"
    one = AsymSimulatedOptions(width=10, steps=10, seeds=2, configs=[[0.5, 1.0]])
    by = _by_name(core_claims(_store(one, _good), lam_k=0.011, paper=PAPER)[0])
    for name in ("final train risk ordered by γ (γ=1 lowest, γ=0 highest)", *INTERVAL_CLAIMS):
        assert by[name].verdict == "INCONCLUSIVE" and by[name].measured == "only 1 configurations (needs 2)"


def _sweep(opts, make) -> RunSet:
    cfgs = sweep_configs(opts)
    runs = [Run(path=Path(f"/nowhere/{c.name}-0"), config=c.model_dump(mode="json"), status="done",
                _metrics=rows_to_frame([(0, m, k, 0.0) for m, k in (("drift_fro_rel", ""), ("node_displacement", "7"))]
                                       + [(5, m, k, make(m, float(c.network.scaling.gamma), c.network.width,
                                                         c.seed)) for m, k in (("drift_fro_rel", ""),
                                                                               ("node_displacement", "7"))]))
            for c in cfgs]
    return RunSet(cfgs, runs)


def _lazy(metric, g, m, s):
    return m ** -0.5 * (1 + 0.01 * s) if metric == "drift_fro_rel" else (1.0 if g < 1 else m ** -0.5)


def test_sweep_claims_per_seed_and_width_count():
    opts = AsymSimulatedOptions(sweep_widths=[100, 200, 400], sweep_seeds=2)
    claims = _sweep_claims(_sweep(opts, _lazy), opts.sweep_widths)
    assert [c.verdict for c in claims] == ["PASS", "PASS", "PASS"] and claims[0].support == "2/2 seeds"

    def one_seed_shrinks(metric, g, m, s):
        return m ** -0.5 if (metric == "node_displacement" and g == 0.5 and s == 1001) else _lazy(metric, g, m, s)

    claims = _sweep_claims(_sweep(opts, one_seed_shrinks), opts.sweep_widths)
    assert claims[1].name.startswith("γ=0.5") and claims[1].verdict == "FAIL" and claims[1].support == "1/2 seeds"
    two = AsymSimulatedOptions(sweep_widths=[100, 200], sweep_seeds=2)
    claims = _sweep_claims(_sweep(two, _lazy), two.sweep_widths)
    assert all(c.verdict == "INCONCLUSIVE" and c.measured == "only 2 widths (needs 3)" for c in claims)


# --- through the command line -------------------------------------------------------------------------------

def test_demo_whose_runs_all_diverge_is_inconclusive_and_names_them(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["run", "asym-simulated", "--quick", "--set", "lr=1e9", "--set", "seeds=2", "--set", "spread_widths=[50, 100, 200]",
                 "--set", "spread_seeds=1", "--check", "--out", str(out), "--no-progress"]) == 1
    text = capsys.readouterr().out
    assert "diverged: runs/a0.5-g1-s0" in text and "0 FAIL" in text
    claims = pd.read_csv(out / "claims.csv", keep_default_na=False)
    assert len(claims) == 20 and "FAIL" not in set(claims.verdict)
    for _, c in claims.iterrows():
        if c["name"] in LAMBDA_CLAIMS:  # Θ̂_0 is recorded at step 0, before the first (diverging) update
            assert c.verdict == "PASS" and "8 of 8 runs diverged or stopped later" in c.measured
        elif "spread of λ_min" in c["name"] or "random limit" in c["name"]:  # untrained nets, one seed: too few
            assert c.verdict == "INCONCLUSIVE" and c.measured == "only 1 seeds (needs 8)", c.to_dict()
        else:
            assert c.verdict == "INCONCLUSIVE" and "diverged" in c.measured, c.to_dict()
    assert "8 runs diverged or unfinished (a0.5-g1-s0" in " ".join(claims.measured)
    assert "8 γ=1 sweep runs diverged" in " ".join(claims.measured)
    # an emptied store is analysed without an exception: every claim INCONCLUSIVE, runs named as missing
    shutil.rmtree(out / "runs")
    shutil.rmtree(out / "width_sweep")
    shutil.rmtree(out / "lazy_sweep")
    (out / "init_spread.parquet").unlink()
    assert main(["report", str(out), "--check"]) == 1
    claims = pd.read_csv(out / "claims.csv")
    assert set(claims.verdict) == {"INCONCLUSIVE"}
    assert claims.measured.str.contains("missing|no table of λ_min at initialisation").all()


def test_real_preset_whose_runs_all_diverge(tmp_path, capsys):
    out = tmp_path / "diabetes"
    assert main(["run", "asym-diabetes", "--quick", "--set", "lr=1e9", "--set", "width=60", "--set", "ntk_points=20",
                 "--set", "seeds=2", "--check", "--out", str(out), "--no-progress"]) == 1
    assert "diverged: runs/" in capsys.readouterr().out
    assert not (out / "pruning.parquet").exists() and not (out / "transfer.parquet").exists()
    claims = pd.read_csv(out / "claims.csv").set_index("name")
    prune = claims.loc[claims.index.str.startswith("pruning 90%")].iloc[0]
    assert prune.verdict == "INCONCLUSIVE" and "4 γ=0 and γ=1 runs diverged" in prune.measured
    assert set(claims[~claims.index.isin(LAMBDA_CLAIMS)].verdict) == {"INCONCLUSIVE"}


# --- orderings decided with a stated interval (λ_min at initialisation, max-node displacement) ------------------

THREE = AsymSimulatedOptions(width=10, steps=10, seeds=3)


def _displacements(values: dict):
    """values: gamma -> the final max-node displacement of seeds 0, 1, 2."""
    def make(g, s):
        v = _good(g, s)
        v["max_node_displacement"] = (0.0, values[g][s])
        return v
    return _by_name(core_claims(_store(THREE, make), lam_k=0.011, paper=PAPER)[0])


def test_displacement_order_is_decided_on_the_paired_gaps_over_seeds():
    ok = _displacements({1.0: [1.0, 1.1, 0.9], 0.5: [5.0, 4.0, 6.0], 0.2: [8.0, 7.5, 9.0], 0.0: [12.0, 15.0, 13.0]})
    assert [ok[n].verdict for n in DISPLACEMENT_CLAIMS] == ["PASS", "PASS"]
    assert ok[DISPLACEMENT_CLAIMS[1]].support == "3 seeds, 90% t-interval"
    # γ=0.5 above γ=0.2 in one seed, the gap unresolved by three seeds: INCONCLUSIVE, naming the pair
    noisy = _displacements({1.0: [1.0, 1.1, 0.9], 0.5: [7.2, 5.0, 6.3], 0.2: [6.2, 8.0, 8.1], 0.0: [13, 20, 15]})
    c = noisy[DISPLACEMENT_CLAIMS[1]]
    assert c.verdict == "INCONCLUSIVE" and "not resolved by 3 seeds" in c.measured and "γ=0.5/0.2" in c.measured
    assert noisy[DISPLACEMENT_CLAIMS[0]].verdict == "PASS"
    # a reversal every seed agrees on is FAIL, not unresolved
    rev = _displacements({1.0: [1.0, 1.1, 0.9], 0.5: [9.0, 9.5, 8.5], 0.2: [6.0, 6.2, 5.9], 0.0: [13, 20, 15]})
    assert rev[DISPLACEMENT_CLAIMS[1]].verdict == "FAIL"
    # a γ<1 net whose top node moves no more than γ=1's: the feature-learning split fails in that seed
    lazy = _displacements({1.0: [1.0, 1.1, 0.9], 0.5: [0.8, 4.0, 6.0], 0.2: [8.0, 7.5, 9.0], 0.0: [12, 15, 13]})
    assert lazy[DISPLACEMENT_CLAIMS[0]].verdict == "FAIL" and lazy[DISPLACEMENT_CLAIMS[0]].support == "2/3 seeds"


def _draws(values: dict) -> pd.DataFrame:
    return pd.DataFrame(values).rename_axis("seed")


def test_lambda_min_order_is_decided_on_the_initialisation_draws():
    rng = __import__("numpy").random.default_rng(0)
    base = rng.normal(0.009, 0.001, 32)
    ordered_draws = _draws({1.0: base, 0.5: base - 0.002 + rng.normal(0, 0.001, 32), 0.2: base * 0.3,
                            0.0: base * 0.02})
    rs = _store(OPTS, _good)
    c = _by_name(core_claims(rs, lam_k=0.009, paper=PAPER, lam_draws=ordered_draws)[0])[LAMBDA_CLAIMS[0]]
    assert c.verdict == "PASS" and c.support == "32 initialisations, 90% t-interval"
    assert "ordered in 2/2 seeds" in c.measured  # the runs' own seeds are reported beside the draws
    # γ=0.5 above γ=1 in about half the draws with no mean gap: unresolved
    even = _draws({1.0: base, 0.5: base + rng.normal(0, 0.001, 32), 0.2: base * 0.3, 0.0: base * 0.02})
    c = _by_name(core_claims(rs, lam_k=0.009, paper=PAPER, lam_draws=even)[0])[LAMBDA_CLAIMS[0]]
    assert c.verdict == "INCONCLUSIVE" and "γ=1/0.5" in c.measured
    swapped = _draws({1.0: base * 0.3, 0.5: base, 0.2: base * 0.2, 0.0: base * 0.02})
    c = _by_name(core_claims(rs, lam_k=0.009, paper=PAPER, lam_draws=swapped)[0])[LAMBDA_CLAIMS[0]]
    assert c.verdict == "FAIL"
    missing = _draws({1.0: base, 0.5: base * 0.5})
    c = _by_name(core_claims(rs, lam_k=0.009, paper=PAPER, lam_draws=missing)[0])[LAMBDA_CLAIMS[0]]
    assert c.verdict == "INCONCLUSIVE" and "miss a configuration" in c.measured


def test_constant_risk_is_the_mean_variance_of_the_targets():
    import torch

    from ntklab.experiments.asym._core_claims import constant_risk

    onehot = torch.eye(10).repeat(30, 1)  # balanced one-hot: Var = (1 - 1/K) / K per output
    assert constant_risk(onehot) == pytest.approx(0.09)
    y = torch.tensor([[1.0], [-1.0], [3.0], [-3.0]])
    assert constant_risk(y) == pytest.approx(5.0)


def test_train_risk_order_needs_gamma_1_to_have_fitted_the_data():
    name = "final train risk ordered by γ (γ=1 lowest, γ=0 highest)"
    ok = _by_name(core_claims(_store(OPTS, _good), lam_k=0.011, paper=PAPER, const_risk=0.2)[0])[name]
    assert ok.verdict == "PASS"  # γ=1 ends at 0.1 + 0.005 s < 0.2
    # MNIST-1D default: γ=1 at 0.107 against the constant predictor's 0.09, every net still shrinking f_0
    void = _by_name(core_claims(_store(OPTS, _good), lam_k=0.011, paper=PAPER, const_risk=0.09)[0])[name]
    assert void.verdict == "INCONCLUSIVE" and "γ=1 has not fitted the data" in void.measured
