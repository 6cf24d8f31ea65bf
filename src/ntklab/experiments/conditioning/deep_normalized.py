r"""Agarwal, Awasthi & Kale (2021), experiments of v2/v3: normalised relu as an alternative to BatchNorm
(``ntklab run deep-normalized``).

MLPs with L hidden layers of width 256 (L in {2, 5, 10, 20}) on digits (sklearn, 8x8) and mnist1d (40 features),
features standardised, in four variants (``network.kind = "torch_mlp"``, :class:`ntklab.nets.TorchMLP`):

    relu       Linear -> relu, weights N(0, 2 / fan_in) (He)
    relu+bn    Linear -> BatchNorm1d -> relu, He init
    nrelu      Linear -> normalised relu sigma(z) = sqrt(2 pi / (pi - 1)) (relu(z) - 1 / sqrt(2 pi)),
               weights N(0, 1 / fan_in) (E sigma(z)^2 = 1 keeps the variance)
    nrelu+bn   Linear -> BatchNorm1d -> normalised relu

biases 0, readout N(0, 1 / fan_in).  Data: the library's registered ``digits`` (standardised) and ``mnist1d``
(10,000 samples generated offline) split 80 / 20 train / test (permutation seed 10): 1437 / 360 digits and 4000 / 1000
mnist1d rows for training / test.  Training (:func:`ntklab.runs.train_many`,
one run directory per config under ``runs/``): cross-entropy, SGD with momentum 0.9 (``optimizer.name =
"momentum"``), lr 0.01, minibatches of 128 (each step draws its own; a BatchNorm run is trained alone), for
``epochs`` x floor(n_train / 128) steps, 3 seeds; the same hyper-parameters for every variant (nothing tuned per
variant).  Training runs single-threaded by default (``threads=1``): batches of 128 x 256 gain nothing from a
second intra-op thread, and on a loaded 2-core machine the threads' spin-waits made an epoch 8x slower.

The loop's probes measure at step 0 and after the last step, in eval mode (BatchNorm: running statistics), the
train loss on the whole training set (``train_risk``) and the test accuracy (``test_acc``); ``grad_norm`` at step 0
is ||grad L|| at initialisation on the first batch (train mode).  A run whose minibatch loss becomes non-finite
stops there and is stored as diverged.

Note: normalised relu has E[sigma'(z)^2] = pi / (pi - 1) ~ 1.47 > 1, so with weight variance 1 the backward pass
grows by that factor per layer (the forward variance is a marginally stable fixed point): at depth L the initial
gradient is ~1.47^(L/2) times that of He-relu.

Claims (per dataset, at depth 20), decided seed by seed (the same seed across variants): normalised relu reaches a
train loss within 2x of relu + BatchNorm, and clearly below plain relu (at most half of it).  They need the three
variants at that depth, every run finished and not diverged (a diverged run makes them INCONCLUSIVE and is named),
and finite final losses.  The paper's datasets and numbers were not retrieved (papers.md §2(c)), so this is the claim
of the abstract on CPU-sized data, not a reproduction of a table.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ..._errors import ConfigError
from ..._threads import torch_threads
from ...config import RunConfig
from ...data import load_dataset
from ...report import save_figure
from ...runs import load_runs, train_many
from .._registry import ExperimentResult, Preset
from ._common import names
from ._deep_claims import depth_claims, summarise, accuracy_by_depth_claim

__all__ = ["DeepNormalizedOptions", "VARIANTS", "DATASETS", "network_config", "run_plan", "run_frame"]

VARIANTS = ("relu", "relu+bn", "nrelu", "nrelu+bn")
# the library's registered sources and their options (standardised features, as the paper's preparation)
DATASETS = {"digits": {"name": "digits", "options": {"standardise_x": True, "fractions": [0.8, 0.0]}},
            "mnist1d": {"name": "mnist1d", "options": {"num_samples": 5000, "fractions": [0.8, 0.0]}}}


class DeepNormalizedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datasets: names(DATASETS) = Field(default_factory=lambda: list(DATASETS))
    depths: list[int] = Field(default_factory=lambda: [2, 5, 10, 20], min_length=1)
    variants: names(VARIANTS) = Field(default_factory=lambda: list(VARIANTS))
    width: int = Field(256, ge=1)
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=2)  # BatchNorm needs more than one row per batch
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    seeds: int = Field(3, ge=1)
    claim_depth: int = Field(20, ge=1)
    threads: int = Field(1, ge=0)  # torch intra-op threads while training (0: leave torch's default)


def network_config(variant: str, *, width: int, depth: int) -> dict:
    """The ``network`` section of one variant: torch layers, He (relu) or LeCun (normalised relu) init, zero biases."""
    normalised = variant.startswith("nrelu")
    return {"kind": "torch_mlp", "width": width, "depth": depth, "parameterization": "standard",
            "activation": "normalized_relu" if normalised else "relu", "batch_norm": variant.endswith("+bn"),
            "bias": True, "bias_std": 0.0, "weight_std": 1.0 if normalised else math.sqrt(2.0),
            "trainable": ["W", "u", "b"]}


def _batches_per_epoch(name: str, o: DeepNormalizedOptions) -> int:
    n_train = load_dataset(DATASETS[name]["name"], **DATASETS[name]["options"]).x_train.shape[0]
    if n_train < o.batch_size:
        raise ConfigError("batch_size", f"{name} has only {n_train} training rows (got {o.batch_size})",
                          allowed=f"[2, {n_train}]")
    return n_train // o.batch_size


def run_plan(o: DeepNormalizedOptions) -> list[tuple[tuple[str, int, str, int], RunConfig]]:
    """((dataset, depth, variant, seed), config) of every run, in training order."""
    plan = []
    for name in o.datasets:
        per_epoch = _batches_per_epoch(name, o)
        for depth in o.depths:
            for variant in o.variants:
                for seed in range(o.seeds):
                    cfg = RunConfig(
                        name=f"{name}-{variant}-L{depth}-s{seed}", seed=seed, dtype="float32", data=DATASETS[name],
                        network=network_config(variant, width=o.width, depth=depth),
                        optimizer={"name": "momentum", "lr": o.lr, "momentum": o.momentum},
                        training={"steps": o.epochs * per_epoch, "loss": "cross_entropy", "batch_size": o.batch_size},
                        probes={"every": o.epochs * per_epoch, "ntk": False, "top_nodes": 0, "grad_norm": True})
                    plan.append(((name, depth, variant, seed), cfg))
    return plan


def execute(o: DeepNormalizedOptions, out: Path, progress: bool) -> None:
    with torch_threads(o.threads):
        train_many([cfg for _, cfg in run_plan(o)], out=out / "runs", progress=progress, desc="deep-normalized")


def run_frame(o: DeepNormalizedOptions, out: Path) -> pd.DataFrame:
    """One row per planned run: its labels, status (``missing`` when absent) and what the claims read: the final
    train loss and test accuracy (NaN unless the run is done) and ||grad L|| at initialisation."""
    plan = run_plan(o)
    stored = {r.name: r for r in load_runs(out / "runs", [cfg for _, cfg in plan], finished_only=False)}
    rows = []
    for (name, depth, variant, seed), cfg in plan:
        run = stored.get(cfg.name)
        status = run.status if run is not None else "missing"
        done = status == "done"
        grad0 = run.series("grad_norm") if run is not None else pd.Series(dtype=float)
        rows.append({"dataset": name, "depth": depth, "variant": variant, "seed": seed, "run": cfg.name,
                     "status": status, "train_loss": run.final("train_risk") if done else math.nan,
                     "test_acc": run.final("test_acc") if done else math.nan,
                     "grad_norm_0": float(grad0.get(0, math.nan)), "diverged": status == "diverged"})
    return pd.DataFrame(rows)


def analyse(o: DeepNormalizedOptions, out: Path) -> ExperimentResult:
    frame = run_frame(o, out)
    claims = []
    for name in o.datasets:
        sub = frame[frame.dataset == name]
        claims += depth_claims(name, sub, o.claim_depth, depths=o.depths, variants=o.variants, seeds=o.seeds)
        claims.append(accuracy_by_depth_claim(name, sub))
    return ExperimentResult(out=out, claims=claims, figures=_figures(o, frame, out),
                            tables={"summary": summarise(frame), "runs": frame})


def _figures(o: DeepNormalizedOptions, frame: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    for name in o.datasets:
        sub = frame[frame.dataset == name]
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for i, variant in enumerate(o.variants):
            g = sub[sub.variant == variant].groupby("depth")
            for ax, col in zip(axes, ("train_loss", "test_acc")):
                m, s = g[col].mean(), g[col].std().fillna(0)
                ax.errorbar(m.index, m.values, yerr=s.values, marker="o", capsize=3, color=f"C{i}", label=variant)
        finite = sub.train_loss[np.isfinite(sub.train_loss)]
        top = float(finite.max()) * 3 if len(finite) else 1.0
        for i, variant in enumerate(o.variants):  # diverged runs as crosses at the top of the panel
            div = sub[(sub.variant == variant) & sub.diverged]
            if len(div):
                axes[0].scatter(div.depth.unique(), [top] * div.depth.nunique(), marker="x", s=80, color=f"C{i}",
                                label=f"{variant}: diverged")
        axes[0].set(yscale="log", xlabel="depth (hidden layers)", ylabel=f"train loss after {o.epochs} epochs",
                    title=f"{name}: train loss")
        axes[1].set(xlabel="depth (hidden layers)", ylabel="test accuracy", title=f"{name}: test accuracy")
        for ax in axes:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        paths.append(save_figure(fig, out / "figures" / f"deep_normalized_{name}.png"))
    return paths


PRESET = Preset(
    name="deep-normalized",
    description="Agarwal et al. v2/v3: MLPs of depth 2-20 with relu, relu+BN, normalised relu (± BN) trained by "
                "SGD + momentum on digits and mnist1d; train loss and test accuracy by depth.",
    paper="Agarwal, Awasthi, Kale 2021",
    options=DeepNormalizedOptions,
    execute=execute,
    analyse=analyse,
    modes={
        "quick": {"datasets": ["digits"], "depths": [2, 10], "width": 64, "epochs": 2, "seeds": 1,
                  "claim_depth": 10},
        "full": {"epochs": 30, "depths": [2, 5, 10, 20, 30], "claim_depth": 20},
    },
)
