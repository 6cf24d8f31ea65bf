import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import ntklab
from ntklab.config import RunConfig
from ntklab.dynamics import _probes


def _cfg(**kw):
    base = dict(
        dtype="float64",
        data={"name": "sphere_sin", "options": {"n_train": 20, "n_test": 10, "d": 5}},
        network={"width": 40, "scaling": {"kind": "zipf", "gamma": 0.5, "alpha": 0.7}},
        optimizer={"name": "gd", "lr": 1.0},
        training={"steps": 30},
        probes={"every": 10, "top_nodes": 2},
    )
    for k, v in kw.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    return RunConfig(**base)


def test_one_gd_step_is_the_closed_form_gradient(tmp_path):
    """dMSE/dw_j = (2/(nK)) sum_i (u_j^T e_i) sqrt(lambda_j) 1{w_j^T x_i > 0} x_i / sqrt(d) (papers.md §1(a))."""
    cfg = _cfg(training={"steps": 1}, probes={"every": 1})
    run = ntklab.train(cfg, out=tmp_path / "r", progress=False)
    data = ntklab.load_dataset("sphere_sin", n_train=20, n_test=10, d=5)
    net = ntklab.ScaledShallowNet(5, 40, lambdas=ntklab.node_scaling(40, kind="zipf", gamma=0.5, alpha=0.7),
                                  seed=0, dtype=torch.float64)
    x, y = data.x_train, data.y_train
    with torch.no_grad():
        e = net(x) - y  # (n, 1)
        mask = (x @ net.W.T > 0).double()  # (n, m)
        coef = (e @ net.u) * mask * net.lambdas.sqrt()  # (n, m)
        grad = 2 / (20 * 1) * coef.T @ x / math.sqrt(5)
        w1 = net.W - 1.0 * grad
    trained = ntklab.load_model(run)
    torch.testing.assert_close(trained.W.detach(), w1, rtol=1e-12, atol=1e-14)
    assert run.series("train_risk").iloc[0] == pytest.approx(float((e ** 2).mean()), rel=1e-12)


def test_stacked_training_equals_separate_runs(tmp_path):
    cfgs = [_cfg(seed=s, network={"scaling": {"kind": "zipf", "gamma": g, "alpha": 0.7}})
            for s in (0, 1) for g in (1.0, 0.3)]
    together = ntklab.train_many(cfgs, out=tmp_path / "a", progress=False)
    alone = [ntklab.train(c, out=tmp_path / f"b{i}", progress=False) for i, c in enumerate(cfgs)]
    for r1, r2 in zip(together, alone):
        a = r1.metrics.sort_values(["step", "metric", "key"]).reset_index(drop=True)
        b = r2.metrics.sort_values(["step", "metric", "key"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a[["step", "metric", "key"]], b[["step", "metric", "key"]])
        np.testing.assert_allclose(a.value, b.value, rtol=1e-10, atol=1e-12)


def test_same_config_and_seed_give_identical_numbers(tmp_path):
    cfg = _cfg(dtype="float32")
    a = ntklab.train(cfg, out=tmp_path / "a", progress=False).metrics
    b = ntklab.train(cfg, out=tmp_path / "b", progress=False).metrics
    pd.testing.assert_frame_equal(a, b)


def test_run_store_contents(tmp_path):
    run = ntklab.train(_cfg(), out=tmp_path / "r", progress=False)
    meta = json.loads((tmp_path / "r" / "config.json").read_text())
    assert meta["seed"] == 0 and meta["config"]["network"]["width"] == 40
    assert {"torch", "numpy", "ntklab"} <= set(meta["provenance"]["versions"])
    assert "git_commit" in meta["provenance"]
    assert json.loads((tmp_path / "r" / "status").read_text())["status"] == "done"
    loaded = ntklab.load_run(tmp_path / "r")
    assert list(loaded.metrics.columns) == ["step", "metric", "key", "value"]
    pd.testing.assert_frame_equal(loaded.metrics, run.metrics)  # what train returned is what it stored
    assert loaded.series("train_risk").index.tolist() == [0, 10, 20, 30]
    arr = loaded.arrays
    assert arr["lambdas"].shape == (40,) and arr["ntk_0"].shape == (20, 20)
    assert arr["node_displacement_history"].shape == (4, 40)
    assert not list((tmp_path / "r").glob(".*tmp"))  # atomic writes leave no temporaries
    # drift and displacement probes against direct computations from the stored arrays
    theta_t, theta_0 = arr["ntk_T"], arr["ntk_0"]
    assert loaded.final("drift_fro") == pytest.approx(np.linalg.norm(theta_t - theta_0), rel=1e-10)
    assert loaded.final("drift_spectral") == pytest.approx(np.linalg.norm(theta_t - theta_0, 2), rel=1e-10)
    assert loaded.final("lambda_min") == pytest.approx(np.linalg.eigvalsh(theta_t)[0], rel=1e-10)
    assert loaded.final("max_node_displacement") == pytest.approx(arr["node_displacement"].max(), rel=1e-6)
    jstar = loaded.metrics.query("metric == 'argmax_node_displacement'").key.iloc[0]
    assert int(jstar) == int(np.argmax(arr["node_displacement"]))


def test_a_diverging_run_is_recorded_as_diverged(tmp_path):
    cfg = _cfg(optimizer={"lr": 1e4}, training={"steps": 200}, probes={"every": 1})
    run = ntklab.train(cfg, out=tmp_path / "r", progress=False)
    assert run.status == "diverged"
    assert run.info["step"] < 200
    assert len(run.series("train_risk")) >= 2  # every row up to the blow-up is kept
    assert (tmp_path / "r" / "metrics.parquet").exists()


def test_a_crashed_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    cfg = _cfg(training={"steps": 40}, probes={"every": 5, "checkpoint_every": 10})
    clean = ntklab.train(cfg, out=tmp_path / "clean", progress=False).metrics
    real = _probes.ProbeState.measure

    def crash(self, model, step):
        if step == 25:
            raise RuntimeError("simulated crash")
        return real(self, model, step)

    monkeypatch.setattr(_probes.ProbeState, "measure", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ntklab.train(cfg, out=tmp_path / "r", progress=False)
    assert ntklab.load_run(tmp_path / "r").status == "failed"
    assert (tmp_path / "r" / "checkpoint.pt").exists()
    monkeypatch.setattr(_probes.ProbeState, "measure", real)
    resumed = ntklab.train(cfg, out=tmp_path / "r", progress=False)
    assert resumed.status == "done"
    pd.testing.assert_frame_equal(resumed.metrics, clean)
    again = ntklab.train(cfg, out=tmp_path / "r", progress=False)  # finished: loaded, not redone
    pd.testing.assert_frame_equal(again.metrics, clean)


def test_adam_and_minibatch_cross_entropy_run(tmp_path):
    cfg = _cfg(optimizer={"name": "adam", "lr": 1e-2}, training={"steps": 10, "batch_size": 8},
               probes={"every": 5, "ntk": False})
    run = ntklab.train(cfg, out=tmp_path / "r", progress=False)
    assert run.status == "done" and run.final("train_risk") < run.series("train_risk").iloc[0]
