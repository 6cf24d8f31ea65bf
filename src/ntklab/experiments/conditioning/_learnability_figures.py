r"""The figures of ``deep-learnability``: learnability against depth for each activation, and against n.

``learnability_depth.png``: one panel per activation, log scale: the kernel learner's held-out explained variance
F_c at n = ``claim_n`` (mean and range over seeds) with the eigenlearning prediction, the trained shallow network's
F_c, the measured and predicted squared correlation with polynomials of degree 1..k (the SQ quantity, its theory the
Gegenbauer masses of sigma-hat^{o L}) and the linear part a_1^{2L}; for plain relu also the degree-0 mass, which
tends to rho* = 1.  ``learnability_n.png``: F_c against depth for every n, measured and predicted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...report import save_figure

__all__ = ["learnability_figures"]


def _band(ax, frame: pd.DataFrame, col: str, **style):
    g = frame.groupby("depth")[col]
    mean = g.mean()
    ax.plot(mean.index, mean.clip(lower=1e-4).values, **style)
    ax.fill_between(mean.index, g.min().clip(lower=1e-4).values, g.max().clip(lower=1e-4).values,
                    color=style.get("color"), alpha=0.15, lw=0)


def _sq_measured(sq: pd.DataFrame, label: str, lo: int, hi: int) -> pd.DataFrame:
    sel = sq[(sq.activation == label) & sq.degree.between(lo, hi)]
    return sel.groupby(["seed", "depth", "output"]).mass.sum().groupby(["seed", "depth"]).mean().reset_index()


def _depth_panel(ax, o, t, label: str) -> None:
    krr, th_krr, th_m = t["krr"], t["theory_krr"], t["theory_masses"]
    sub = krr[(krr.activation == label) & (krr.n == o.claim_n)]
    _band(ax, sub, "fc", color="C0", marker="o", ms=3, label=f"kernel regression, n={o.claim_n}")
    th = th_krr[(th_krr.activation == label) & (th_krr.n == o.claim_n)].sort_values("depth")
    ax.plot(th.depth, th.fc.clip(lower=1e-4), "--", color="C0", label="eigenlearning prediction")
    nets = t["nets"][t["nets"].activation == label]
    if len(nets):
        ax.plot(nets.depth, nets.fc.clip(lower=1e-4), "s", color="C3", ms=5, label=f"trained net, n={o.net_n}")
    lo = 0 if label == "relu" else 1
    _band(ax, _sq_measured(t["sq"], label, lo, o.sq_degree), "mass", color="C2", marker=".",
          label=f"measured corr² with degree {lo}..{o.sq_degree}")
    m = th_m[(th_m.activation == label) & th_m.degree.between(lo, o.sq_degree)].groupby("depth").mass.sum()
    ax.plot(m.index, m.clip(lower=1e-4).values, ":", color="C2", lw=2, label=f"theory: Gegenbauer mass {lo}..{o.sq_degree}")
    c = t["constants"].set_index("activation").loc[label]
    depth = np.arange(1, o.max_depth + 1)
    if label != "relu":
        ax.plot(depth, c.a1_sq ** depth, "-", color="0.5", lw=1, label="a₁^(2L) = (1 − μ)^L (linear part)")
    ax.set(yscale="log", ylim=(1e-3, 1.5), xlabel="depth L of the target",
           title=f"{label} (μ = {c.mu:.3f}, ρ* = {c.rho_star:g})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="lower left")


def _n_panel(ax, o, t, label: str) -> None:
    krr, th = t["krr"], t["theory_krr"]
    for i, n in enumerate(sorted(o.n_train)):
        sub = krr[(krr.activation == label) & (krr.n == n)].groupby("depth").fc.mean()
        ax.plot(sub.index, sub.clip(lower=1e-4).values, "o-", ms=3, color=f"C{i}", label=f"n={n}")
        p = th[(th.activation == label) & (th.n == n)].sort_values("depth")
        ax.plot(p.depth, p.fc.clip(lower=1e-4), "--", color=f"C{i}", lw=1)
    ax.set(yscale="log", ylim=(1e-3, 1.5), xlabel="depth L", ylabel="explained variance F_c",
           title=f"{label}: kernel learner (dashed: eigenlearning)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def learnability_figures(o, t: dict, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    labels = list(o.activations)
    cols = 2
    rows = (len(labels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(11, 4.2 * rows), squeeze=False)
    for ax, label in zip(axes.flat, labels):
        _depth_panel(ax, o, t, label)
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    paths = [save_figure(fig, out / "figures" / "learnability_depth.png")]
    fig, axes = plt.subplots(rows, cols, figsize=(11, 4.0 * rows), squeeze=False)
    for ax, label in zip(axes.flat, labels):
        _n_panel(ax, o, t, label)
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    paths.append(save_figure(fig, out / "figures" / "learnability_n.png"))
    return paths
