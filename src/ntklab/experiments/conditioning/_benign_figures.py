r"""The figures of ``deep-benign-overfitting``.

``benign_n.png``: test risk / sigma^2 against n for the deep (d = high_d, depth L(n)) and the shallow (d = low_d,
L = 1) family, measured (mean and range over seeds) with the deterministic equivalent and Bartlett et al.'s band
[lower, upper]; beside it the effective-rank quantities k*/n, n/R_k* and r_0/n of each family.
``benign_depth.png``: variance and bias against depth at n = depth_n in both dimensions, with k*/n + n/R_k*.
``benign_width.png``: the excess risk of random deep features against the width, the infinite-width kernel's beside.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...report import save_figure

__all__ = ["benign_figures"]

_FAMILY = {"deep": ("C0", "deep (d={d}, L(n))"), "shallow": ("C3", "shallow (d={d}, L=1)")}


def _n_figure(o, frame: pd.DataFrame, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for family, (colour, label) in _FAMILY.items():
        sel = frame[(frame.sweep == "n") & (frame.family == family)]
        if not len(sel):
            continue
        d = int(sel.d.iloc[0])
        g = sel.groupby("n")
        risk = 1 + g.excess.mean() / o.noise
        ax.plot(risk.index, risk.values, "o-", color=colour, label=label.format(d=d))
        ax.fill_between(risk.index, 1 + g.excess.min() / o.noise, 1 + g.excess.max() / o.noise, color=colour,
                        alpha=0.15, lw=0)
        th = g.first()
        ax.plot(th.index, 1 + (th.de_variance + th.de_bias) / o.noise, "--", color=colour, lw=1,
                label="deterministic equivalent")
        lo, hi = 1 + (th.variance_lower + th.bias_lower) / o.noise, 1 + (th.variance_upper + th.bias_upper) / o.noise
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            ax.fill_between(th.index[ok], lo[ok], hi[ok], color=colour, alpha=0.07, hatch="//", lw=0,
                            label="Bartlett et al. bounds")
        k = th.k_star.where(th.k_star >= 0, np.nan)
        ax2.plot(th.index, k / th.index, "o-", color=colour, label=f"{family}: k*/n")
        ax2.plot(th.index, th.n_over_R, "s--", color=colour, label=f"{family}: n/R_k*")
        ax2.plot(th.index, th.r0 / th.index, "^:", color=colour, label=f"{family}: r₀/n")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="n", ylabel="test risk / σ²", title="minimum-norm interpolation")
    ax2.set(xscale="log", yscale="log", xlabel="n", title="effective ranks (b = %g)" % o.b)
    for a in (ax, ax2):
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    return save_figure(fig, out / "figures" / "benign_n.png")


def _depth_figure(o, frame: pd.DataFrame, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, d in enumerate((o.high_d, o.low_d)):
        sel = frame[(frame.sweep == "depth") & (frame.d == d)]
        if not len(sel):
            continue
        g = sel.groupby("depth")
        ax.plot(g.variance.mean().index, g.variance.mean() / o.noise, "o-", color=f"C{i}", label=f"d={d}: variance")
        ax.plot(g.bias.mean().index, g.bias.mean() / o.noise, "s--", color=f"C{i}", label=f"d={d}: bias")
        th = g.first()
        ax.plot(th.index, th.de_variance / o.noise, ":", color=f"C{i}", lw=1)
        ax2.plot(th.index, (th.k_star.where(th.k_star >= 0, np.nan) / o.depth_n) + th.n_over_R, "o-",
                 color=f"C{i}", label=f"d={d}: k*/n + n/R_k*")
    ax.set(yscale="log", xlabel="depth L", ylabel="/ σ²", title=f"n = {o.depth_n} (dotted: deterministic equivalent)")
    ax2.set(yscale="log", xlabel="depth L", title="Bartlett et al.'s variance form")
    for a in (ax, ax2):
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    return save_figure(fig, out / "figures" / "benign_depth.png")


def _width_figure(o, frame: pd.DataFrame, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    sel = frame[frame.sweep == "width"]
    finite = sel[sel.width > 0].groupby("width").excess
    ax.plot(finite.mean().index, finite.mean() / o.noise, "o-", label="random deep features")
    limit = sel[sel.width == 0].excess.mean() / o.noise
    ax.axhline(limit, color="k", ls="--", lw=1, label="infinite width")
    ax.set(xscale="log", yscale="log", xlabel="width m", ylabel="excess risk / σ²",
           title=f"L={o.width_depth}, n={o.width_n}, d={o.high_d}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out / "figures" / "benign_width.png")


def benign_figures(o, frame: pd.DataFrame, out: Path) -> list[Path]:
    return [_n_figure(o, frame, out), _depth_figure(o, frame, out), _width_figure(o, frame, out)]
