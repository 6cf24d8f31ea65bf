"""BatchNorm networks through the run store: each trained alone, stored with its running statistics, reused,
rebuilt by load_model; a run whose loss blows up is stored as diverged."""

from __future__ import annotations

import pytest
import torch

from ntklab.config import RunConfig
from ntklab.data import load_dataset
from ntklab.runs import load_model, load_runs, train_many


def _cfg(seed, *, lr=0.05, batch_norm=True):
    return RunConfig(
        name=f"bn{seed}", seed=seed, data={"name": "digits", "options": {"standardise_x": True}},
        network={"kind": "torch_mlp", "parameterization": "standard", "width": 16, "depth": 3,
                 "batch_norm": batch_norm, "bias": True, "bias_std": 0.0, "trainable": ["W", "u", "b"]},
        optimizer={"name": "momentum", "lr": lr, "momentum": 0.9},
        training={"steps": 10, "loss": "cross_entropy", "batch_size": 64},
        probes={"every": 5, "ntk": False, "top_nodes": 0, "grad_norm": True})


def test_batch_norm_runs_are_stored_reused_and_reloaded(tmp_path):
    cfgs = [_cfg(0), _cfg(1)]
    runs = train_many(cfgs, out=tmp_path, progress=False)
    assert [r.status for r in runs] == ["done", "done"] and not any(r.reused for r in runs)
    assert runs[0].final("train_risk") != runs[1].final("train_risk")  # two seeds, two networks
    again = train_many(cfgs, out=tmp_path, progress=False)
    assert all(r.reused for r in again)
    # the stored model (running statistics included) gives the stored eval-mode test accuracy
    model = load_model(runs[1]).eval()
    data = load_dataset("digits", standardise_x=True)
    with torch.no_grad():
        acc = float((model(data.x_test.float()).argmax(-1) == data.y_test.argmax(-1)).double().mean())
    assert acc == pytest.approx(runs[1].final("test_acc"), abs=1e-12)
    assert int(torch.load(runs[1].path / "model.pt")["norms.0.num_batches_tracked"]) == 10
    assert runs[0].series("grad_norm").index.tolist() == [0, 5, 10]


def test_a_blown_up_run_is_stored_as_diverged(tmp_path):
    """lr 1e4 with momentum: the cross-entropy overflows within a few steps; the run stops there, named."""
    runs = train_many([_cfg(0, lr=1e4, batch_norm=False), _cfg(0)], out=tmp_path, progress=False)
    assert [r.status for r in runs] == ["diverged", "done"]
    assert 0 < runs[0].info["step"] < 10
    stored = load_runs(tmp_path, [_cfg(0, lr=1e4, batch_norm=False)], finished_only=False)
    assert [r.status for r in stored] == ["diverged"]
