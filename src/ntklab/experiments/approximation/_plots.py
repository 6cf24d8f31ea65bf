"""Figures of the approximation presets, each drawn from a tidy frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...report import PAPER_COLOURS, save_figure

__all__ = ["error_figure", "curves_figure", "weight_change_figure", "breakpoint_figure", "ntk_figure"]


def _axes(k: int, size=(4.0, 3.4)):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, k, figsize=(size[0] * k, size[1]), squeeze=False)
    return fig, axes[0]


def _legend(ax, **kw) -> None:
    """A legend when something was drawn (a panel of diverged nets may have no curve)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _band(ax, g: pd.DataFrame, x: str, y: str, label: str, colour, marker="o"):
    s = g.groupby(x)[y]
    mean, std = s.mean(), s.std().fillna(0.0)
    ax.plot(mean.index, mean.values, marker=marker, ms=3, color=colour, label=label)
    ax.fill_between(mean.index, (mean - std).clip(lower=mean.min() / 10).values, (mean + std).values,
                    color=colour, alpha=0.2, lw=0)


def error_figure(errors: pd.DataFrame, splines: pd.DataFrame, fits: pd.DataFrame, path: Path,
                 *, panel: str = "target", x: str = "m") -> Path:
    panels = list(dict.fromkeys(errors[panel]))
    fig, axes = _axes(len(panels))
    for ax, key in zip(axes, panels):
        f = fits[(fits[panel] == key) & (fits.method == "network")]
        slope = f.slope.iloc[0] if len(f) else np.nan
        _band(ax, errors[errors[panel] == key], x, "rel_error", f"network (slope {slope:.2f})", "C0")
        for i, (meth, g) in enumerate(splines[splines[panel] == key].groupby("method") if len(splines) else []):
            fs = fits[(fits[panel] == key) & (fits.method == meth)]
            ax.plot(g[x], g.rel_error, "--", marker="s", ms=3, color=PAPER_COLOURS[i + 1],
                    label=f"spline {meth} (slope {fs.slope.iloc[0]:.2f})")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width m (knots for splines)")
        ax.set_ylabel("relative L2 error")
        ax.set_title(str(key))
        ax.grid(alpha=0.3)
        _legend(ax, fontsize=7)
    return save_figure(fig, path)


def curves_figure(curves: pd.DataFrame, path: Path, *, panel: str = "target", hue: str = "m") -> Path:
    panels = list(dict.fromkeys(curves[panel]))
    fig, axes = _axes(len(panels))
    for ax, key in zip(axes, panels):
        sub = curves[(curves[panel] == key) & (curves.step > 0)]
        for i, (h, g) in enumerate(sub.groupby(hue)):
            _band(ax, g, "step", "rel_error", f"{hue}={h}", PAPER_COLOURS[i % len(PAPER_COLOURS)], marker="")
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("GD step")
        ax.set_ylabel("relative L2 error")
        ax.set_title(f"{key}: training curves")
        ax.grid(alpha=0.3)
        _legend(ax, fontsize=6, ncol=2)
    return save_figure(fig, path)


def weight_change_figure(errors: pd.DataFrame, path: Path, *, hue: str = "target", x: str = "m") -> Path:
    fig, axes = _axes(1, size=(5.0, 3.6))
    ax = axes[0]
    for i, (h, g) in enumerate(errors.groupby(hue, sort=False)):
        _band(ax, g, x, "weight_change", str(h), PAPER_COLOURS[i % len(PAPER_COLOURS)])
    xs = np.array(sorted(errors[x].unique()), float)
    ref = errors.weight_change.median() * np.sqrt(xs.mean() / xs)
    ax.plot(xs, ref, "k:", label="∝ m^{-1/2}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width m")
    ax.set_ylabel("‖θ_T − θ_0‖ / ‖θ_0‖")
    ax.set_title("relative weight change")
    ax.grid(alpha=0.3)
    _legend(ax, fontsize=7)
    return save_figure(fig, path)


def breakpoint_figure(bps: pd.DataFrame, singular: dict, path: Path, *, m: int) -> Path:
    targets = list(dict.fromkeys(bps.target))
    fig, axes = _axes(len(targets))
    bins = np.linspace(-1, 1, 41)
    for ax, tg in zip(axes, targets):
        sub = bps[(bps.target == tg) & (bps.m == m)]
        for phase, colour in (("init", "C7"), ("final", "C0")):
            t = sub[sub.phase == phase].t.values
            ax.hist(t[np.abs(t) <= 1], bins=bins, alpha=0.5, color=colour, label=phase)
        if tg in singular:
            ax.axvline(singular[tg], color="C3", ls="--", lw=1, label="singularity")
        ax.set_xlabel("breakpoint −b_r / w_r")
        ax.set_title(f"{tg}: breakpoints, m={m} (all seeds)")
        _legend(ax, fontsize=7)
    return save_figure(fig, path)


def ntk_figure(ntk: pd.DataFrame, path: Path) -> Path:
    targets = list(dict.fromkeys(ntk.target))
    fig, axes = _axes(len(targets))
    for ax, tg in zip(axes, targets):
        sub = ntk[ntk.target == tg]
        for i, ((m, phase), g) in enumerate(sub.groupby(["m", "phase"])):
            g = g[g.eigenvalue > g.eigenvalue.max() * 1e-14]
            ax.plot(g["index"], g.eigenvalue, ls="-" if phase == "init" else "--",
                    color=PAPER_COLOURS[(i // 2) % len(PAPER_COLOURS)], label=f"m={m}, {phase}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("index k")
        ax.set_ylabel("λ_k of the NTK operator")
        ax.set_title(f"{tg}: empirical NTK spectrum")
        ax.grid(alpha=0.3)
        _legend(ax, fontsize=7)
    return save_figure(fig, path)
