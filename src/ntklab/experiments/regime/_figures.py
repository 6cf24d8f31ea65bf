"""Log-log figures of the regime check by width: drift / linearisation gap / top node, coord check, weight movement.

Each takes the tidy frame of :mod:`ntklab.experiments.regime` (parameterization, width, seed, metric, layer,
value) and draws mean +- std over seeds against the width, with reference slopes n^{-1} (the O(1/n) kernel drift of
smooth activations, Dyer & Gur-Ari 2019), n^{-1/2} (the classical bound) and n^0 (feature learning).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...report import band_plot, save_figure

__all__ = ["regime_figures"]


def _reference_slopes(ax, widths) -> None:
    w = np.array([min(widths), max(widths)], float)
    lo, hi = ax.get_ylim()
    mid = np.sqrt(lo * hi) if lo > 0 else hi
    ax.plot(w, mid * (w / w[0]) ** -1.0, "k-.", lw=0.8, label="∝ n^-1")
    ax.plot(w, mid * (w / w[0]) ** -0.5, "k--", lw=0.8, label="∝ n^-1/2")
    ax.plot(w, [mid, mid], "k:", lw=0.8, label="∝ n^0")
    ax.legend(fontsize=7)


def _panel_sweep(frame: pd.DataFrame, order: list[str], path: Path) -> Path:
    specs = [("drift_fro_rel", "‖Θ_T − Θ_0‖_F / ‖Θ_0‖_F", "relative kernel drift"),
             ("linearization_gap_rel", "‖f_T − f^lin_T‖ / ‖f_T − f_0‖", "network vs linearisation"),
             ("top_node_displacement", "‖Δw_j*‖ (j* = top λ)", "top-λ node displacement"),
             ("median_node_displacement", "median_j ‖Δw_j‖", "median node displacement")]
    fig, axes = plt.subplots(1, len(specs), figsize=(4.3 * len(specs), 3.8))
    for ax, (metric, ylabel, title) in zip(axes, specs):
        sub = frame[frame.metric == metric].assign(label=lambda d: d.parameterization)
        band_plot(sub, x="width", ax=ax, logx=True, logy=True, xlabel="width n", ylabel=ylabel, title=title,
                  order=[k for k in order if k in set(sub.label)])
        _reference_slopes(ax, frame.width.unique())
    return save_figure(fig, path)


def _panel_per_kind(frame: pd.DataFrame, order: list[str], metric: str, ylabel: str, title: str,
                    path: Path) -> Path:
    kinds = [k for k in order if k in set(frame.parameterization)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.4 * len(kinds) + 0.6, 3.6), squeeze=False)
    for ax, k in zip(axes[0], kinds):
        sub = frame[(frame.metric == metric) & (frame.parameterization == k)].assign(label=lambda d: d.layer)
        band_plot(sub, x="width", ax=ax, logx=True, logy=True, xlabel="width n", ylabel=ylabel, title=f"{k}: {title}")
        _reference_slopes(ax, frame.width.unique())
    return save_figure(fig, path)


def regime_figures(frame: pd.DataFrame, fdir: Path, *, order: list[str]) -> list[Path]:
    return [
        _panel_sweep(frame, order, fdir / "regime_width_sweep.png"),
        _panel_per_kind(frame, order, "coord_delta", "rms of Δx^l (per coordinate)", "coord check",
                        fdir / "regime_coord_check.png"),
        _panel_per_kind(frame, order, "weight_change_rel", "‖ΔW^l‖_F / ‖W^l_0‖_F", "weight movement",
                        fdir / "regime_weight_movement.png"),
    ]
