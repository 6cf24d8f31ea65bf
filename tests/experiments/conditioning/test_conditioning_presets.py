"""The Agarwal et al. presets run end to end from the CLI in --quick mode, their claims declare preconditions
(INCONCLUSIVE, not PASS or FAIL, when one fails) and decide comparisons seed by seed."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from ntklab.cli import main
from ntklab.data import digits_on_sphere, digits_split, mnist1d_split
from ntklab.experiments.conditioning._deep_claims import depth_claims, accuracy_by_depth_claim
from ntklab.experiments.conditioning.deep_normalized import DeepNormalizedOptions, run_plan


def test_conditioning_quick_from_the_cli(tmp_path, capsys):
    assert main(["run", "conditioning", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert len(claims) >= 8 and set(claims.verdict) <= {"PASS", "FAIL", "INCONCLUSIVE", "REPORTED"}
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
        assert cfg.training.steps == 3 * (718 // 128) and cfg.probes.every == cfg.training.steps and cfg.probes.grad_norm


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
