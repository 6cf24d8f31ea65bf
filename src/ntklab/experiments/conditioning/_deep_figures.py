"""The figures of ``deep-normalized``: per dataset, the best-lr train loss and test accuracy by depth and the loss
against the learning rate at the claim depth; the top-layer steps against depth with their prediction and bound,
and the loss curves beside the exact GD trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...report import save_figure
from ._lr_selection import at_best_lr, select_lr

__all__ = ["deep_figures"]


def deep_figures(o, frame: pd.DataFrame, top: pd.DataFrame, curves: pd.DataFrame, out: Path) -> list[Path]:
    paths = [_dataset_figure(o, frame[frame.dataset == name], name, out) for name in o.datasets]
    if len(top):
        paths.append(_top_layer_figure(o, top, curves, out))
    return paths


def _dataset_figure(o, sub: pd.DataFrame, name: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    best = at_best_lr(sub, select_lr(sub))
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for i, variant in enumerate(o.variants):
        g = best[best.variant == variant].groupby("depth")
        for ax, col in zip(axes[:2], ("train_loss", "test_acc")):
            m, s = g[col].mean(), g[col].std().fillna(0)
            ax.errorbar(m.index, m.values, yerr=s.values, marker="o", capsize=3, color=f"C{i}", label=variant)
        at = sub[(sub.variant == variant) & (sub.depth == o.claim_depth)]
        loss = at.groupby("lr").train_loss.apply(lambda v: float(np.exp(np.log(v).mean())) if v.notna().all()
                                                 else np.nan)
        axes[2].plot(loss.index, loss.values, "o-", color=f"C{i}", label=variant)
        diverged = at[at.diverged].lr.unique()
        finite = sub.train_loss[np.isfinite(sub.train_loss)]
        top = float(finite.max()) * 2 if len(finite) else 1.0
        if len(diverged):
            axes[2].scatter(diverged, [top] * len(diverged), marker="x", s=60, color=f"C{i}")
    axes[0].set(yscale="log", xlabel="depth (hidden layers)", ylabel=f"train loss after {o.steps} steps",
                title=f"{name}: train loss at each variant's best lr")
    axes[1].set(xlabel="depth (hidden layers)", ylabel="test accuracy", title=f"{name}: test accuracy (best lr)")
    axes[2].set(xscale="log", yscale="log", xlabel="learning rate", ylabel="train loss (geometric mean of seeds)",
                title=f"{name}: depth {o.claim_depth}, every lr (x: diverged)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, out / "figures" / f"deep_normalized_{name}.png")


def _top_layer_figure(o, top: pd.DataFrame, curves: pd.DataFrame, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (variant, sub) in enumerate(top.groupby("variant", sort=False)):
        g = sub.groupby("depth")
        axes[0].plot(g.steps.mean().index, g.steps.mean().values, "o", color=f"C{i}", label=f"{variant}: measured")
        axes[0].plot(g.steps_predicted.mean().index, g.steps_predicted.mean().values, "-", color=f"C{i}",
                     label=f"{variant}: exact GD on K̂")
        axes[0].plot(g.steps_bound.mean().index, g.steps_bound.mean().values, ":", color=f"C{i}",
                     label=f"{variant}: ln(1/ε)/(−2 ln(1−1/κ))")
        first = curves[(curves.variant == variant) & (curves.seed == curves.seed.min())]
        for j, (depth, c) in enumerate(first.groupby("depth")):
            rel = c.measured / c.measured.iloc[0]
            axes[1].plot(c.step + 1, rel, ".", ms=3, color=f"C{i}", alpha=0.4 + 0.6 * (j + 1) / first.depth.nunique())
            axes[1].plot(c.step + 1, c.predicted / c.predicted.iloc[0], "-", lw=0.8, color=f"C{i}",
                         label=f"{variant}" if j == 0 else None)
    axes[1].axhline(o.top_tolerance, color="k", lw=0.6, ls=":")
    axes[0].set(yscale="log", xlabel="depth L", ylabel=f"GD steps to relative loss {o.top_tolerance:g}",
                title=f"top layer only: n={o.top_n}, width {o.top_width}")
    axes[1].set(xscale="log", yscale="log", xlabel="step + 1", ylabel="train loss / initial",
                title="measured (dots) vs exact GD (lines), seed 0, every depth")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, out / "figures" / "deep_normalized_top_layer.png")
