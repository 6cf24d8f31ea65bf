"""Classification in the core loop: one-hot MSE (accuracy probes) and cross-entropy with minibatch SGD."""

from __future__ import annotations

import pandas as pd
import torch

from ntklab import RunConfig, train, train_many




def _cfg(seed, **training):
    return RunConfig(name=f"c{seed}", seed=seed, dtype="float64", data={"name": "digits"},
                     network={"width": 30, "scaling": {"kind": "zipf", "gamma": 0.5, "alpha": 0.7}},
                     optimizer={"name": "sgd" if training.get("batch_size") else "gd", "lr": 2.0},
                     training={"steps": 30, **training}, probes={"every": 10, "ntk_points": 10})


def test_one_hot_mse_has_accuracy_probes(tmp_path):
    run = train(_cfg(0), out=tmp_path / "mse", progress=False)
    assert run.status == "done"
    acc = run.series("test_acc")
    assert len(acc) == 4 and acc.between(0, 1).all()
    assert run.series("train_risk").iloc[-1] < run.series("train_risk").iloc[0]


def test_cross_entropy_minibatch_sgd(tmp_path):
    cfgs = [_cfg(s, loss="cross_entropy", batch_size=32) for s in (0, 1)]
    runs = train_many(cfgs, out_dirs=[tmp_path / "a", tmp_path / "b"], progress=False)
    for r in runs:
        assert r.status == "done"
        ce = r.series("train_risk")  # the probe's risk is the training loss: cross-entropy
        assert ce.iloc[0] > ce.iloc[-1] and ce.iloc[0] > 2.0  # starts near or above log(10) = 2.30
    # the stacked pair follows exactly the trajectory run 1 follows alone (own minibatch generator per run)
    alone = train(cfgs[1], out=tmp_path / "alone", progress=False)
    m1 = runs[1].metrics.set_index(["step", "metric", "key"]).value
    m2 = alone.metrics.set_index(["step", "metric", "key"]).value
    pd.testing.assert_series_equal(m1.loc[m2.index], m2, rtol=1e-9)  # float64, summation order only
    assert torch.isfinite(torch.tensor(m2.values)).all()
