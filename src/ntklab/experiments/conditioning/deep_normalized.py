r"""Agarwal, Awasthi & Kale (2021), experiments of v2/v3: normalised relu as an alternative to BatchNorm
(``ntklab run deep-normalized``).

MLPs with L hidden layers of width 256 (L in {2, 5, 10, 20}) on digits (sklearn, 1437 / 360) and mnist1d
(4000 / 1000), features standardised, in four variants:

    relu       Linear -> relu, weights N(0, 2 / fan_in) (He)
    relu+bn    Linear -> BatchNorm1d -> relu, He init
    nrelu      Linear -> normalised relu sigma(z) = sqrt(2 pi / (pi - 1)) (relu(z) - 1 / sqrt(2 pi)),
               weights N(0, 1 / fan_in) (E sigma(z)^2 = 1 keeps the variance)
    nrelu+bn   Linear -> BatchNorm1d -> normalised relu

biases 0, readout N(0, 1 / fan_in).  Training: cross-entropy, SGD with momentum 0.9, lr 0.01, batch 128, a fixed
epoch budget, 3 seeds; the same hyper-parameters for every variant (nothing tuned per variant).  Training runs
single-threaded by default (``threads=1``): batches of 128 x 256 gain nothing from a second intra-op thread, and on
a loaded 2-core machine the threads' spin-waits made an epoch 8x slower.  Measured after the
budget in eval mode: train loss on the whole training set and test accuracy.

Note: normalised relu has E[sigma'(z)^2] = pi / (pi - 1) ~ 1.47 > 1, so with weight variance 1 the backward pass
grows by that factor per layer (the forward variance is a marginally stable fixed point): at depth L the initial
gradient is ~1.47^(L/2) times that of He-relu.  ``grad_norm_0`` records ||grad L|| at initialisation per run.

Claims (per dataset, at depth 20): normalised relu reaches a train loss within 2x of relu + BatchNorm, and clearly
below plain relu (at most half of it).  The paper's datasets and numbers were not retrieved (papers.md §2(c)), so
this is the claim of the abstract on CPU-sized data, not a reproduction of a table.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..._errors import ConfigError
from ..._io import atomic_write_json
from ..._threads import torch_threads
from ...data import digits_split, mnist1d_split
from ...report import Claim, claim, inconclusive, reported, save_figure
from .._registry import ExperimentResult, Preset

__all__ = ["DeepNormalizedOptions", "VARIANTS", "build_mlp", "train_one"]

VARIANTS = ("relu", "relu+bn", "nrelu", "nrelu+bn")
_NRELU_SCALE, _NRELU_SHIFT = math.sqrt(2 * math.pi / (math.pi - 1)), 1 / math.sqrt(2 * math.pi)


class _NormalizedReLU(torch.nn.Module):
    def forward(self, z):
        return _NRELU_SCALE * (torch.relu(z) - _NRELU_SHIFT)


def build_mlp(d: int, width: int, depth: int, n_classes: int, variant: str, *, seed: int) -> torch.nn.Sequential:
    """The MLP of one variant, initialised from ``seed``."""
    torch.manual_seed(seed)
    normalised, bn = variant.startswith("nrelu"), variant.endswith("+bn")
    layers, fan_in = [], d
    for _ in range(depth):
        lin = torch.nn.Linear(fan_in, width)
        torch.nn.init.normal_(lin.weight, std=math.sqrt((1.0 if normalised else 2.0) / fan_in))
        torch.nn.init.zeros_(lin.bias)
        layers += [lin] + ([torch.nn.BatchNorm1d(width)] if bn else [])
        layers.append(_NormalizedReLU() if normalised else torch.nn.ReLU())
        fan_in = width
    head = torch.nn.Linear(fan_in, n_classes)
    torch.nn.init.normal_(head.weight, std=math.sqrt(1.0 / fan_in))
    torch.nn.init.zeros_(head.bias)
    return torch.nn.Sequential(*layers, head)


def _evaluate(model, x, y) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = float(torch.nn.functional.cross_entropy(logits, y))
        acc = float((logits.argmax(1) == y).float().mean())
    return loss, acc


def train_one(data, *, depth: int, variant: str, seed: int, o: "DeepNormalizedOptions") -> dict:
    """Train one MLP by minibatch SGD with momentum; per-epoch running loss and the final metrics."""
    x_tr, y_tr, x_te, y_te = (torch.as_tensor(a) for a in data)
    x_tr, x_te = x_tr.float(), x_te.float()
    model = build_mlp(x_tr.shape[1], o.width, depth, int(y_tr.max()) + 1, variant, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum)
    gen = torch.Generator().manual_seed(10_000 + seed)
    curve, start = [], time.perf_counter()
    grad_norm_0 = _initial_gradient_norm(model, x_tr[: o.batch_size], y_tr[: o.batch_size])
    for _ in range(o.epochs):
        model.train()
        perm, total = torch.randperm(len(x_tr), generator=gen), 0.0
        for lo in range(0, len(x_tr) - o.batch_size + 1, o.batch_size):  # full batches (BatchNorm needs > 1)
            idx = perm[lo:lo + o.batch_size]
            loss = torch.nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        curve.append(total / (len(x_tr) // o.batch_size * o.batch_size))
    train_loss, train_acc = _evaluate(model, x_tr, y_tr)
    test_loss, test_acc = _evaluate(model, x_te, y_te)
    return {"depth": depth, "variant": variant, "seed": seed, "train_loss": train_loss, "train_acc": train_acc,
            "test_loss": test_loss, "test_acc": test_acc, "grad_norm_0": grad_norm_0,
            "diverged": not math.isfinite(train_loss), "curve": curve, "seconds": time.perf_counter() - start}


def _initial_gradient_norm(model, x, y) -> float:
    """||grad L|| on one batch at initialisation (a diagnostic of exploding gradients with depth), on a copy so
    that BatchNorm's running statistics stay untouched."""
    model = copy.deepcopy(model).train()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, [p for p in model.parameters()])
    return float(torch.sqrt(sum((g.detach() ** 2).sum() for g in grads)))


class DeepNormalizedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datasets: list[str] = Field(default_factory=lambda: ["digits", "mnist1d"])
    depths: list[int] = Field(default_factory=lambda: [2, 5, 10, 20])
    variants: list[str] = Field(default_factory=lambda: list(VARIANTS))
    width: int = Field(256, ge=1)
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=2)
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    seeds: int = Field(3, ge=1)
    claim_depth: int = Field(20, ge=1)
    max_train: int | None = Field(None, ge=2)  # subsample the training set (quick mode)
    threads: int = Field(1, ge=0)  # torch intra-op threads while training (0: leave torch's default)

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, v):
        for name in v:
            if name not in ("digits", "mnist1d"):
                raise ConfigError("datasets", f"got {name!r}", allowed="'digits', 'mnist1d'")
        return v

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, v):
        for name in v:
            if name not in VARIANTS:
                raise ConfigError("variants", f"got {name!r}", allowed=", ".join(map(repr, VARIANTS)))
        return v


def _load(name: str, o: DeepNormalizedOptions):
    x_tr, y_tr, x_te, y_te = digits_split(seed=0) if name == "digits" else mnist1d_split()
    if o.max_train is not None:
        x_tr, y_tr = x_tr[: o.max_train], y_tr[: o.max_train]
    return x_tr, y_tr, x_te, y_te


def execute(o: DeepNormalizedOptions, out: Path, progress: bool) -> None:
    with torch_threads(o.threads):
        _execute(o, out, progress)


def _execute(o: DeepNormalizedOptions, out: Path, progress: bool) -> None:
    for name in o.datasets:
        data = _load(name, o)
        for depth in o.depths:
            for variant in o.variants:
                for seed in range(o.seeds):
                    path = out / "training" / f"{name}-{variant}-L{depth}-s{seed}.json"
                    if path.exists():  # finished earlier: resume
                        continue
                    row = train_one(data, depth=depth, variant=variant, seed=seed, o=o)
                    atomic_write_json(path, {"dataset": name, **row})
                    if progress:
                        print(f"deep-normalized: {name} L={depth} {variant} seed {seed}: train loss "
                              f"{row['train_loss']:.4g}, test acc {row['test_acc']:.3f} ({row['seconds']:.1f}s)",
                              flush=True)


def _results(out: Path) -> pd.DataFrame:
    rows = [json.loads(p.read_text()) for p in sorted((out / "training").glob("*.json"))]
    if not rows:
        raise FileNotFoundError(f"{out}: no finished runs under training/")
    return pd.DataFrame(rows)


def analyse(o: DeepNormalizedOptions, out: Path) -> ExperimentResult:
    frame = _results(out)
    summary = (frame.groupby(["dataset", "depth", "variant"])
               .agg(train_loss=("train_loss", "mean"), train_loss_std=("train_loss", "std"),
                    test_acc=("test_acc", "mean"), test_acc_std=("test_acc", "std"),
                    grad_norm_0=("grad_norm_0", "mean"), diverged=("diverged", "sum"), runs=("seed", "count"))
               .reset_index())
    claims: list[Claim] = []
    for name in o.datasets:
        at = summary[(summary.dataset == name) & (summary.depth == o.claim_depth)].set_index("variant")
        claims += _claims_at_depth(name, at, o.claim_depth)
        sub = summary[summary.dataset == name]
        acc = sub.pivot(index="depth", columns="variant", values="test_acc")
        claims.append(reported(f"{name}: test accuracy by depth", "; ".join(f"L={d}: " + ", ".join(f"{v} {acc.loc[d, v]:.3f}" for v in acc.columns)
                                      for d in acc.index), "normalised relu ≈ BatchNorm"))
    return ExperimentResult(out=out, claims=claims, figures=_figures(o, frame, out), tables={"summary": summary})


def _claims_at_depth(name: str, at: pd.DataFrame, depth: int) -> list[Claim]:
    need = {"nrelu", "relu+bn", "relu"}
    if not need <= set(at.index):
        return [inconclusive(f"{name}: depth {depth}: normalised relu vs relu + BN vs relu",
                      "variants or depth missing in this mode", "")]
    loss = at.train_loss.replace(np.nan, np.inf)  # a diverged run (NaN loss) counts as infinite loss
    nr, bn, plain = float(loss["nrelu"]), float(loss["relu+bn"]), float(loss["relu"])

    def show(v):
        row = at.loc[v]
        div = f", diverged in {int(row.diverged)}/{int(row.runs)} seeds" if row.diverged else ""
        return f"{v} {loss[v]:.4g} (‖∇L‖ at init {row.grad_norm_0:.3g}{div})"

    return [
        claim(f"{name}: depth {depth}: normalised relu's train loss within 2× of relu + BatchNorm", nr <= 2 * bn,
              f"{show('nrelu')} vs {show('relu+bn')}; ratio {nr / bn:.3g}", "ratio ≤ 2"),
        claim(f"{name}: depth {depth}: normalised relu's train loss clearly below plain relu", nr <= 0.5 * plain,
              f"{show('nrelu')} vs {show('relu')}; ratio {nr / plain:.3g}", "ratio ≤ 0.5"),
    ]


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
        for i, variant in enumerate(o.variants):  # diverged runs (NaN loss) as crosses at the top of the panel
            div = sub[(sub.variant == variant) & ~np.isfinite(sub.train_loss)]
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
                  "claim_depth": 10, "max_train": 512},
        "full": {"epochs": 30, "depths": [2, 5, 10, 20, 30], "claim_depth": 20},
    },
)
