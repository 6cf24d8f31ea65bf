"""The Agarwal et al. presets run end to end from the CLI in --quick mode, their claims declare preconditions
(INCONCLUSIVE, not PASS or FAIL, when one fails) and decide comparisons seed by seed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ntklab.cli import main
from ntklab.data import digits_on_sphere, digits_split, mnist1d_split
from ntklab.experiments.conditioning._conditioning_claims import dataset_claims, finite_width_claims
from ntklab.experiments.conditioning._deep_claims import depth_claims, accuracy_by_depth_claim
from ntklab.experiments.conditioning.conditioning import ConditioningOptions
from ntklab.experiments.conditioning.deep_normalized import DeepNormalizedOptions, run_plan


def test_conditioning_quick_from_the_cli(tmp_path, capsys):
    assert main(["run", "conditioning", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert len(claims) >= 8 and set(claims.verdict) <= {"PASS", "FAIL", "INCONCLUSIVE", "REPORTED"}
    assert (claims.verdict == "INCONCLUSIVE").sum() == 0  # quick mode meets every precondition
    assert set(claims.support.dropna()) == {"1/1 seeds"}
    for fig in ("conditioning_sphere.png", "conditioning_digits.png", "conditioning_finite_width.png"):
        assert (tmp_path / "figures" / fig).stat().st_size > 1000
    spectra = pd.read_parquet(tmp_path / "spectra.parquet")
    nngp = spectra[(spectra.dataset == "sphere") & (spectra.kernel == "nngp")]
    nrelu = nngp[nngp.activation == "normalized_relu"]
    # normalised relu on the sphere: K^(L) has unit diagonal, so lambda_min <= 1 <= lambda_max and trace = n
    assert (nrelu.lambda_min <= 1 + 1e-9).all() and (nrelu.lambda_max >= 1 - 1e-9).all()
    assert main(["report", str(tmp_path)]) == 0
    assert "claims" in capsys.readouterr().out


def test_deep_normalized_quick_from_the_cli(tmp_path):
    assert main(["run", "deep-normalized", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary.variant) == {"relu", "relu+bn", "nrelu", "nrelu+bn"}
    assert summary.train_loss.notna().all() and (tmp_path / "figures" / "deep_normalized_digits.png").exists()
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 8 and set(runs.status) == {"done"} and (runs.grad_norm_0 > 0).all()
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert set(claims.support.fillna("")[:2]) <= {"1/1 seeds", "0/1 seeds"} and claims.support.isna().iloc[2]
    # a second run resumes: nothing is retrained, the stored runs are kept
    stamps = {p.parent.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/metrics.parquet")}
    assert len(stamps) == 8
    assert main(["run", "deep-normalized", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    assert stamps == {p.parent.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/metrics.parquet")}


def test_bad_preset_options_exit_with_status_2(tmp_path, capsys):
    assert main(["run", "conditioning", "--quick", "--set", "activations=[swish]", "--out", str(tmp_path)]) == 2
    assert "activations" in capsys.readouterr().err
    assert main(["run", "conditioning", "--quick", "--set", "fw_dataset=mnist", "--out", str(tmp_path)]) == 2
    assert "fw_dataset" in capsys.readouterr().err
    assert main(["run", "deep-normalized", "--quick", "--set", "datasets=[mnist]", "--out", str(tmp_path)]) == 2
    assert main(["run", "deep-normalized", "--quick", "--set", "variants=[]", "--out", str(tmp_path)]) == 2


def test_datasets():
    x = digits_on_sphere(50, seed=1)
    assert x.shape == (50, 64) and torch.allclose(x.norm(dim=1), torch.ones(50, dtype=torch.float64))
    x_tr, y_tr, x_te, y_te = digits_split()
    assert x_tr.shape == (1437, 64) and x_te.shape == (360, 64) and abs(x_tr.mean()) < 1e-12
    m_tr, my_tr, m_te, _ = mnist1d_split()
    assert m_tr.shape == (4000, 40) and m_te.shape == (1000, 40) and set(my_tr) == set(range(10))


def test_the_plan_is_the_four_variants_on_the_library():
    o = DeepNormalizedOptions(datasets=["digits"], depths=[3], seeds=2, epochs=3)
    plan = run_plan(o)
    assert len(plan) == 8 and len({cfg.name for _, cfg in plan}) == 8
    by_variant = {key[2]: cfg for key, cfg in plan if key[3] == 0}
    for variant, cfg in by_variant.items():
        net = cfg.network
        assert net.kind == "torch_mlp" and net.depth == 3 and net.bias_std == 0.0
        assert net.batch_norm == variant.endswith("+bn")
        assert (net.activation, net.weight_std) == (("normalized_relu", 1.0) if variant.startswith("nrelu")
                                                    else ("relu", math.sqrt(2.0)))
        assert cfg.optimizer.name == "momentum" and cfg.optimizer.momentum == 0.9
        assert cfg.training.loss == "cross_entropy" and cfg.training.batch_size == 128
        assert cfg.training.steps == 3 * (1437 // 128) == cfg.probes.every and cfg.probes.grad_norm  # 80/20 split


# --- deep-normalized claims on a synthetic per-run frame -------------------------------------------------------------

def _frame(losses: dict, *, depth=4, status=None):
    """losses: variant -> per-seed final train losses."""
    status = status or {}
    return pd.DataFrame([{"dataset": "d", "depth": depth, "variant": v, "seed": s, "run": f"d-{v}-L{depth}-s{s}",
                          "status": status.get((v, s), "done"), "train_loss": loss, "test_acc": 0.5,
                          "grad_norm_0": 1.0, "diverged": status.get((v, s)) == "diverged"}
                         for v, per_seed in losses.items() for s, loss in enumerate(per_seed)])


_ALL = ["relu", "relu+bn", "nrelu", "nrelu+bn"]


def _depth_claims(frame, depth=4, variants=_ALL, seeds=2):
    return depth_claims("d", frame, depth, depths=[depth], variants=variants, seeds=seeds)


def test_deep_claims_decide_seed_by_seed():
    good = _depth_claims(_frame({"nrelu": [0.2, 0.3], "relu+bn": [0.2, 0.2], "relu": [1.0, 1.0]}))
    assert [(c.verdict, c.support) for c in good] == [("PASS", "2/2 seeds"), ("PASS", "2/2 seeds")]
    # seed 1 misses both bounds although the means meet the first (0.45 <= 2 * 0.25)
    mixed = _depth_claims(_frame({"nrelu": [0.1, 0.8], "relu+bn": [0.3, 0.2], "relu": [1.0, 1.0]}))
    assert [(c.verdict, c.support) for c in mixed] == [("FAIL", "1/2 seeds"), ("FAIL", "1/2 seeds")]
    assert "ratio per seed: 0.333, 4" in mixed[0].measured


def test_a_diverged_run_makes_the_deep_claims_inconclusive_and_is_named():
    frame = _frame({"nrelu": [math.nan, 0.3], "relu+bn": [0.2, 0.2], "relu": [1.0, 1.0]},
                   status={("nrelu", 0): "diverged"})
    for c in _depth_claims(frame):
        assert c.verdict == "INCONCLUSIVE" and "d-nrelu-L4-s0" in c.measured and "diverged" in c.measured
    assert "(1 diverged)" in accuracy_by_depth_claim("d", frame).measured


@pytest.mark.parametrize("change, why", [
    (dict(variants=["relu", "nrelu"]), "variants relu+bn not run"),
    (dict(depth=7), "depth 7 not run"),
    (dict(seeds=3), "3 of 9 runs missing"),
])
def test_deep_claims_need_the_variants_depth_and_runs(change, why):
    frame = _frame({"nrelu": [0.2, 0.3], "relu+bn": [0.2, 0.2], "relu": [1.0, 1.0]})
    depth = change.pop("depth", 4)
    claims = depth_claims("d", frame, depth, depths=[4], **{"variants": _ALL, "seeds": 2, **change})
    assert all(c.verdict == "INCONCLUSIVE" and why in c.measured for c in claims), [c.measured for c in claims]


def test_a_non_finite_final_loss_is_inconclusive():
    frame = _frame({"nrelu": [0.2, math.inf], "relu+bn": [0.2, 0.2], "relu": [1.0, 1.0]})
    assert {c.verdict for c in _depth_claims(frame)} == {"INCONCLUSIVE"}


# --- conditioning claims on synthetic tables -------------------------------------------------------------------------

def _spectra(activation, conds, offdiag=None):
    offdiag = offdiag if offdiag is not None else np.linspace(0.5, 0.95, len(conds))
    return pd.DataFrame([{"dataset": "s", "activation": activation, "kernel": "nngp", "depth": L + 1, "cond": c,
                          "offdiag_mean": r, "offdiag_min": r - 0.01} for L, (c, r) in enumerate(zip(conds, offdiag))])


def _verdicts(o, nngp, mu=None):
    mu = pd.Series(mu or {"normalized_relu": 0.27, "centred_gelu": 0.28, "normalized_tanh": 0.07})
    return {c.name.split(": ", 1)[1]: c for c in dataset_claims(o, nngp, nngp.iloc[:0], mu, "s", [1, 2, 3])}


def test_conditioning_claims_declare_their_preconditions():
    o = ConditioningOptions(max_depth=3, check_depth=3, activations=["relu", "normalized_relu"])
    nngp = pd.concat([_spectra("normalized_relu", [50.0, 3.0, 1.1]), _spectra("relu", [500.0, 400.0, 450.0])])
    claims = _verdicts(o, nngp)
    assert claims["normalised relu: cond(K^(L)) decreases with depth, < 1.2 at L=3"].verdict == "PASS"
    assert claims["plain relu: cond(K^(L)) > 100 at every depth ≤ 3"].verdict == "PASS"
    order = claims["depth to reach cond 2 is smaller for larger μ"]
    assert order.verdict == "INCONCLUSIVE" and "only 1 normalised activations (needs 2)" in order.measured
    assert claims["normalised relu: cond(Θ^(L)) of the NTK"].verdict == "INCONCLUSIVE"  # no NTK rows given
    # the depth the claim reads was not computed
    far = _verdicts(ConditioningOptions(max_depth=3, check_depth=30), nngp)
    c = far["normalised relu: cond(K^(L)) decreases with depth, < 1.2 at L=30"]
    assert c.verdict == "INCONCLUSIVE" and "L=30 not computed" in c.measured
    # a condition number lambda_min <= 0 made infinite, and an activation that was not computed
    bad = pd.concat([_spectra("normalized_relu", [50.0, 3.0, 1.1]), _spectra("relu", [500.0, math.inf, 450.0])])
    claims = _verdicts(o, bad[bad.activation == "relu"])
    assert claims["plain relu: cond(K^(L)) > 100 at every depth ≤ 3"].measured == "cond(K^(L)): 1 of 3 not finite"
    c = claims["normalised relu: cond(K^(L)) decreases with depth, < 1.2 at L=3"]
    assert c.verdict == "INCONCLUSIVE" and "normalized_relu was not computed" in c.measured


def test_the_depth_order_claim_can_fail_and_needs_a_reached_target():
    o = ConditioningOptions(max_depth=3, check_depth=3)
    nngp = pd.concat([_spectra("normalized_relu", [50.0, 3.0, 1.9]), _spectra("centred_gelu", [50.0, 5.0, 2.5]),
                      _spectra("normalized_tanh", [90.0, 30.0, 9.0])])
    order = _verdicts(o, nngp)["depth to reach cond 2 is smaller for larger μ"]
    assert order.verdict == "FAIL"  # centred gelu has the largest mu but never reaches cond 2
    never = _verdicts(o, nngp.assign(cond=nngp.cond + 10))["depth to reach cond 2 is smaller for larger μ"]
    assert never.verdict == "INCONCLUSIVE" and "no activation reaches cond 2 by L=3" in never.measured


def _finite(errors: dict):
    """errors: seed -> rel_error per width (64, 256, 1024)."""
    return pd.DataFrame([{"activation": "relu", "width": m, "seed": s, "depth": 2, "rel_error": e}
                         for s, per_width in errors.items() for m, e in zip((64, 256, 1024), per_width)])


def test_finite_width_claims_are_decided_per_seed():
    o = ConditioningOptions(fw_activations=["relu"], fw_widths=[64, 256, 1024], fw_seeds=2, fw_depth=2)
    # seed 1 rises at the widest net: the mean still falls, the claim does not hold for every seed
    frame = _finite({0: [0.4, 0.2, 0.1], 1: [0.4, 0.1, 0.12]})
    decreasing, slope, shallow = finite_width_claims(o, frame)
    assert (decreasing.verdict, decreasing.support) == ("FAIL", "1/2 seeds")
    assert (slope.verdict, slope.support) == ("PASS", "2/2 seeds") and "per seed: -0.50, -0.43" in slope.measured
    assert shallow.verdict == "REPORTED"
    # the seed mean falls like m^-0.75 (inside the band), seed 0 alone like m^-1 (outside it)
    steep = finite_width_claims(o, _finite({0: [0.8, 0.2, 0.05], 1: [0.4, 0.2, 0.1]}))
    assert [(c.verdict, c.support) for c in steep[:2]] == [("PASS", "2/2 seeds"), ("FAIL", "1/2 seeds")]
    assert "per seed: -1.00, -0.50; of the seed mean: -0.75" in steep[1].measured
    two = finite_width_claims(o, frame[frame.width < 1024])
    assert two[0].verdict == "PASS" and two[1].verdict == "INCONCLUSIVE"
    assert "only 2 widths (needs 3)" in two[1].measured
    assert {c.verdict for c in finite_width_claims(o, frame.iloc[:0])} == {"INCONCLUSIVE"}
