"""The top-layer version of Agarwal et al.: the exact GD trajectory on the readout against an independent
simulation, the training loop against it, and claims that can fail."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from ntklab.data import load_dataset
from ntklab.experiments.conditioning._readout_gd import readout_gd
from ntklab.experiments.conditioning._top_layer import (
    PLAN_FILE,
    top_layer_curves,
    top_layer_data,
    top_layer_frame,
    train_top_layer,
)
from ntklab.experiments.conditioning._top_layer_claims import (
    does_not_fall_claim,
    falls_claim,
    rate_claim,
    top_layer_claims,
)


def _simulate(phi: np.ndarray, f0: np.ndarray, y: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """GD on L(w) = mean((phi w - y)^2) written out in the parameters w (not the residual, not the spectrum)."""
    n = len(y)
    w = np.linalg.lstsq(phi, f0, rcond=None)[0]  # a readout with phi w = f0 (m > n: exact)
    losses = []
    for _ in range(steps + 1):
        r = phi @ w - y
        losses.append(float(r @ r) / n)
        w = w - lr * (2.0 / n) * phi.T @ r
    return np.array(losses)


def test_the_spectral_trajectory_is_gd_written_out():
    gen = np.random.default_rng(0)
    phi = gen.standard_normal((12, 40)) * np.linspace(0.2, 2.0, 40)
    f0, y = gen.standard_normal(12), gen.standard_normal(12)
    gd = readout_gd(torch.as_tensor(phi), torch.as_tensor(f0), torch.as_tensor(y))
    # eta = 1 / lambda_max of the Hessian 2 phi^T phi / n
    assert gd.lr == pytest.approx(1 / np.linalg.eigvalsh(2 * phi.T @ phi / 12).max(), rel=1e-12)
    simulated = _simulate(phi, f0, y, gd.lr, 300)
    np.testing.assert_allclose(gd.loss(np.arange(301)), simulated, rtol=1e-9)
    k = gd.steps_to(1e-3)
    assert simulated[k] <= 1e-3 * simulated[0] < simulated[k - 1]
    assert gd.cond == pytest.approx(np.linalg.cond(phi @ phi.T), rel=1e-9)
    assert k <= gd.bound(1e-3) <= gd.cond * math.log(1e3) / 2  # the condition-number bound holds
    assert gd.steps_to(1e-3, max_steps=k - 1) is None


def test_a_perfectly_conditioned_problem_takes_one_step():
    gd = readout_gd(torch.eye(4, dtype=torch.float64) * 3.0, torch.zeros(4), torch.arange(4.0))
    assert gd.cond == 1.0 and gd.steps_to(1e-6) == 1 and gd.bound(1e-6) == 0.0


def _options(**kw):
    base = dict(top_variants=["relu", "nrelu"], top_depths=[1, 3], top_n=12, top_d=5, top_width=96, top_seeds=1,
                top_tolerance=1e-3, top_max_steps=20_000, top_data_seed=0)
    base.update(kw)
    return SimpleNamespace(**base)


def test_the_data_lies_on_the_scaled_sphere_and_has_n_training_points(tmp_path):
    o = _options(top_n=30, top_d=10)
    path = top_layer_data(o, tmp_path)
    assert path.is_absolute() and path.parent == (tmp_path / "top_layer").resolve()
    data = load_dataset("npz", path=str(path), standardise_x=False)
    assert data.x_train.shape == (30, 10)
    torch.testing.assert_close(data.x_train.norm(dim=1), torch.full((30,), math.sqrt(10), dtype=torch.float64))
    assert abs(float(data.y_train.mean())) < 1e-12  # labels standardised on the training part
    before = path.stat().st_mtime_ns
    assert top_layer_data(o, tmp_path) == path and path.stat().st_mtime_ns == before  # written once


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("top")
    o = _options()
    train_top_layer(o, out, progress=False)
    return o, out


def test_the_loop_follows_the_exact_trajectory(trained):
    o, out = trained
    top = top_layer_frame(o, out)
    assert len(top) == 4 and set(top.status) == {"done"}
    assert (top.steps == top.steps_predicted).all() and (top.max_log_deviation < 1e-4).all()
    assert (top.rate_times_cond >= 1).all() and (top.steps <= top.steps_bound + top.probe_every).all()
    plan = json.loads((out / PLAN_FILE).read_text())
    assert [p["config"]["network"]["trainable"] for p in plan] == [["u"]] * 4
    assert all(p["config"]["optimizer"] == {**p["config"]["optimizer"], "name": "gd", "lr": p["lr"]} for p in plan)
    curves = top_layer_curves(o, out)
    np.testing.assert_allclose(curves.measured, curves.predicted, rtol=1e-3)
    assert {c.verdict for c in top_layer_claims(o, top)[:3]} <= {"PASS", "FAIL"}


def test_a_wrong_prediction_fails_the_rate_claim(trained, tmp_path):
    """The claim reads the stored prediction: with a step 10% off, the measured curve no longer matches it."""
    o, out = trained
    top = top_layer_frame(o, out)
    assert rate_claim(o, top).verdict == "PASS"
    plan = json.loads((out / PLAN_FILE).read_text())
    for p in plan:
        p["lr"] *= 1.1
    (tmp_path / "top_layer").mkdir()
    (tmp_path / PLAN_FILE).write_text(json.dumps(plan))
    (tmp_path / "top_layer" / "runs").symlink_to(out / "top_layer" / "runs")
    wrong = top_layer_frame(o, tmp_path)
    c = rate_claim(o, wrong)
    assert c.verdict == "FAIL" and c.support == "0/4 runs"


def _rows(variant, steps, status="done"):
    return [{"variant": variant, "depth": L, "seed": 0, "run": f"{variant}-{L}", "status": status, "lr": 0.1,
             "cond": 10.0, "exact_cond": 9.0, "steps": k, "steps_predicted": k, "steps_bound": 1e9,
             "probe_every": 1, "rate": 0.1, "rate_times_cond": 2.0, "max_log_deviation": 1e-6}
            for L, k in zip((1, 2, 4), steps)]


def test_the_depth_claims_can_fail_and_name_unfinished_runs():
    o = SimpleNamespace(top_tolerance=1e-3)
    good = pd.DataFrame(_rows("nrelu", [100, 40, 20]) + _rows("relu", [300, 280, 500]))
    assert falls_claim(o, good).verdict == "PASS" and does_not_fall_claim(o, good).verdict == "PASS"
    bad = pd.DataFrame(_rows("nrelu", [100, 40, 45]) + _rows("relu", [300, 280, 200]))
    assert falls_claim(o, bad).verdict == "FAIL" and does_not_fall_claim(o, bad).verdict == "FAIL"
    unreached = pd.DataFrame(_rows("nrelu", [100, 40, math.nan]))
    c = falls_claim(o, unreached)
    assert c.verdict == "INCONCLUSIVE" and "nrelu-4 did not reach the relative loss" in c.measured
    diverged = unreached.assign(status=["done", "done", "diverged"])
    assert "1 top-layer runs diverged or unfinished (nrelu-4)" in falls_claim(o, diverged).measured
    assert does_not_fall_claim(o, diverged).measured.startswith("plain relu was not run")
