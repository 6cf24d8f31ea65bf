r"""Caron et al. E2/E3 on real data: train the four (alpha, gamma) configurations, then prune and transfer.

A real-data preset trains ``seeds`` runs of each (alpha, gamma) on a registered dataset (full-batch GD on the
MSE as the paper, or cross-entropy with minibatch SGD), then, for every run that finished (diverged and failed runs are left out: their claims are INCONCLUSIVE),

- **prunes** it (:mod:`ntklab.prune`): nodes removed cumulatively through the mask in each order of
  ``prune_orders`` (``importance`` = the paper's sum_k u_kj^2 lambda_j ascending, ``displacement``, ``random``;
  ties broken by a random order seeded with the run's seed), train/test risk (accuracy) after every 5 % of m
  -> ``pruning.parquet``;
- **transfers** its top-k features (:mod:`ntklab.transfer`) to the transfer split (the valid split cut 50/50),
  fitted by the paper's MLP (for k in ``mlp_ks``, ``mlp_repeats`` initialisations) and by ridge on standardised
  features (every k in ``transfer_ks``) -> ``transfer.parquet``; the MLP of run (seed s) at k, repeat r, is
  initialised with seed 1000 s + k + r * MLP_REPEAT_STRIDE, so every gamma of one seed starts its readouts from
  the same weights and a run's numbers do not depend on the other runs;
- computes its **lazy baseline** (:mod:`._lazy`): its own linearised prediction on the test points ->
  ``lazy.parquet``, together with the gamma = 1 runs of the lazy width sweep (``lazy_widths``, default m/4 and
  m/2, the main steps and seeds; ``lazy_sweep/``).

The tables are tidy (one value per row) with the run's name, alpha, gamma and seed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from pydantic import AfterValidator, Field
from typing_extensions import Annotated

from ..._errors import one_of
from ..._io import write_table
from ..._threads import torch_threads
from ...config import RunConfig
from ...data import load_dataset
from ...nets import build_network
from ...prune import ORDERS, prune_order, pruning_curve
from ...runs import load_runs, train_many
from ...transfer import READOUTS, transfer_curves
from ._common import AsymOptions
from ._lazy import lazy_sweep_widths, write_lazy_table

__all__ = ["AsymRealOptions", "real_config", "real_configs", "lazy_sweep_configs", "execute_real", "postprocess",
           "load_trained", "transfer_ks"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
LOSSES = ("mse", "cross_entropy")


class AsymRealOptions(AsymOptions):
    dataset: str = "diabetes"
    data_options: dict = Field(default_factory=dict)
    ntk_points: int = Field(50, ge=2)
    loss: Annotated[str, AfterValidator(one_of(LOSSES))] = "mse"
    batch_size: int | None = Field(None, ge=1)
    prune_orders: Annotated[list[str], AfterValidator(one_of(ORDERS, each=True))] = Field(
        default_factory=lambda: list(ORDERS))
    prune_step: float = Field(0.05, gt=0, le=1)
    fine_tune_steps: int = Field(0, ge=0)
    fine_tune_lr: float = Field(1.0, gt=0)
    transfer_ks: list[int] = Field(default_factory=lambda: list(range(10, 101, 10)))
    transfer_readouts: Annotated[list[str], AfterValidator(one_of(READOUTS, each=True))] = Field(
        default_factory=lambda: ["mlp", "ridge_std"])
    mlp_ks: list[int] | None = None  # None: every k of transfer_ks
    mlp_repeats: int = Field(3, ge=1)  # MLP readout initialisations per (run, k), averaged in the claims
    mlp_hidden: int = Field(64, ge=1)
    mlp_lr: float = Field(0.1, gt=0)
    mlp_steps: int = Field(5000, ge=0)
    ridge: float = Field(1e-3, ge=0)
    full_claims: bool = False


def real_config(o: AsymRealOptions, *, alpha: float, gamma: float, seed: int, name: str,
                width: int | None = None) -> RunConfig:
    kind = "ntk" if gamma == 1.0 else "zipf"
    return RunConfig(
        name=name, seed=seed, dtype=o.dtype,
        data={"name": o.dataset, "options": dict(o.data_options)},
        network={"kind": "shallow", "width": o.width if width is None else width, "activation": "relu",
                 "trainable": ["W"],
                 "scaling": {"kind": kind, "gamma": gamma, "alpha": alpha, "zipf_offset": o.zipf_offset}},
        optimizer={"name": "gd" if o.batch_size is None else "sgd", "lr": o.lr},
        training={"steps": o.steps, "loss": o.loss, "batch_size": o.batch_size},
        probes={"every": min(o.every, o.steps), "ntk": True, "ntk_points": o.ntk_points, "top_nodes": 3},
    )


def execute_real(o: AsymRealOptions, out: Path, progress: bool) -> None:
    data = load_dataset(o.dataset, **o.data_options)  # fail early on a bad file, before any training
    with torch_threads(o.threads):
        train_many(real_configs(o), out=out / "runs", progress=progress, desc=o.dataset)
        train_many(lazy_sweep_configs(o), out=out / "lazy_sweep", progress=progress, desc=f"{o.dataset} lazy sweep")
        postprocess(o, out, data)


def real_configs(o: AsymRealOptions) -> list[RunConfig]:
    """The four (α, γ) configurations × seeds (``runs/``)."""
    return [real_config(o, alpha=alpha, gamma=gamma, seed=s, name=f"a{alpha:g}-g{gamma:g}-s{s}")
            for alpha, gamma in o.configs for s in range(o.seeds)]


def lazy_sweep_configs(o: AsymRealOptions) -> list[RunConfig]:
    """gamma = 1 at the lazy sweep's widths, the main runs' steps and seeds (``lazy_sweep/``)."""
    alphas = [a for a, g in o.configs if g == 1.0]
    return [real_config(o, alpha=alphas[0], gamma=1.0, seed=s, name=f"lazy-m{m}-s{s}", width=m)
            for m in (lazy_sweep_widths(o.width, o.lazy_widths) if alphas else []) for s in range(o.seeds)]


def load_trained(run, data, dtype: torch.dtype):
    """Rebuild run's network for ``data`` and load its trained state."""
    from ...config import config_from_dict

    cfg = config_from_dict(run.config)
    model = build_network(cfg.network, d=data.d, out_dim=data.out_dim, seed=cfg.seed, dtype=dtype)
    model.load_state_dict(torch.load(run.path / "model.pt", weights_only=True, map_location="cpu"))
    return model


def _run_columns(run) -> dict:
    sc = run.config["network"]["scaling"]
    return {"run": run.path.name, "alpha": float(sc["alpha"]), "gamma": float(sc["gamma"]), "seed": run.seed}


def transfer_ks(o: AsymRealOptions) -> dict[str, list[int]]:
    """readout -> the ks it is fitted at (the MLP: ``mlp_ks``, or every k of ``transfer_ks``)."""
    mlp = o.mlp_ks if o.mlp_ks is not None else o.transfer_ks
    return {r: list(mlp if r == "mlp" else o.transfer_ks) for r in o.transfer_readouts}


def postprocess(o: AsymRealOptions, out: Path, data=None) -> None:
    """Pruning, transfer and lazy-baseline tables of every run under ``out/runs`` (and ``out/lazy_sweep``) that
    finished without diverging."""
    runs = [r for r in load_runs(out / "runs", real_configs(o), finished_only=False) if r.status == "done"]
    if not runs:
        return
    data = data if data is not None else load_dataset(o.dataset, **o.data_options)
    write_lazy_table(out, runs + load_runs(out / "lazy_sweep", lazy_sweep_configs(o), finished_only=False),
                     lambda run: data)
    dtype = _DTYPES[o.dtype]
    data_t = data.to(dtype)
    models = {r.path.name: load_trained(r, data, dtype) for r in runs}
    frames = []
    for r in runs:
        model = models[r.path.name]
        disp = r.arrays.get("node_displacement") if "displacement" in o.prune_orders else None
        for by in o.prune_orders:
            order = prune_order(model, by=by, seed=r.seed,
                                displacement=None if disp is None else torch.as_tensor(disp))
            c = pruning_curve(model, data_t, order=order, step_fraction=o.prune_step, loss=o.loss,
                              fine_tune_steps=o.fine_tune_steps, fine_tune_lr=o.fine_tune_lr)
            frames.append(c.assign(order=by, **_run_columns(r)))
    write_table(pd.concat(frames, ignore_index=True), out / "pruning.parquet")
    tdata = data.extra.get("transfer")
    if tdata is None or not o.transfer_readouts:
        return
    write_table(_transfer_table(o, runs, models, tdata, data.task == "classification"), out / "transfer.parquet")


def _transfer_table(o: AsymRealOptions, runs, models: dict, tdata: dict, classification: bool) -> pd.DataFrame:
    cols = {r.path.name: _run_columns(r) for r in runs}
    seeds = {r.path.name: r.seed for r in runs}  # ties among equal importances: the run's seeded order
    mlp_seeds = {r.path.name: 1000 * r.seed for r in runs}  # every gamma of a seed: the same readout init
    parts = [transfer_curves(models, tdata, ks=ks, readouts=(readout,), classification=classification,
                             ridge=o.ridge, hidden=o.mlp_hidden, lr=o.mlp_lr, steps=o.mlp_steps, seed=mlp_seeds,
                             order_seed=seeds, mlp_repeats=o.mlp_repeats)
             for readout, ks in sorted(transfer_ks(o).items(), key=lambda item: item[0] != "ridge")]
    frame = pd.concat(parts, ignore_index=True)
    extra = pd.DataFrame([cols[m] for m in frame.model]).drop(columns="run")
    return pd.concat([frame.rename(columns={"model": "run"}), extra], axis=1)
