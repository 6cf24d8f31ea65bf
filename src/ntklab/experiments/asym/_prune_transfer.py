r"""Claims and figures of the pruning and transfer tables (Caron et al. E2/E3).

Claims:

- prunability: at 90 % of the nodes pruned (importance order, the paper's), the test risk of gamma = 0 has
  risen less, relative to its unpruned value, than that of gamma = 1: rise = risk(90 %) / risk(0) - 1,
  averaged over seeds;
- transfer: with 10 transferred features every gamma < 1 configuration reaches a lower transfer-test risk
  (regression) or a higher transfer-test accuracy (classification) than gamma = 1, for each readout.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...report import Claim, band_plot, claim, save_figure
from ._common import config_label, fmt_by_gamma

__all__ = ["pruning_claims", "transfer_claims", "pruning_figures", "transfer_figures", "relative_rise"]


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=[config_label(a, g) for a, g in zip(frame.alpha, frame.gamma)])


def relative_rise(pr: pd.DataFrame, fraction: float = 0.9, metric: str = "test_risk",
                  order: str = "importance") -> pd.Series:
    """Mean over seeds of value(fraction pruned) / value(unpruned) - 1, by gamma (descending)."""
    sub = pr[(pr.order == order) & (pr.metric == metric)]
    base = sub[sub.n_pruned == 0].set_index("run").value
    near = sub.loc[(sub.fraction - fraction).abs().groupby(sub.run).idxmin()]
    at = near.set_index("run")
    rise = at.value / base.loc[at.index] - 1
    return rise.groupby(at.gamma).mean().sort_index(ascending=False)


def _value_at(pr: pd.DataFrame, fraction: float, metric: str, order: str = "importance") -> pd.Series:
    sub = pr[(pr.order == order) & (pr.metric == metric)]
    near = sub.loc[(sub.fraction - fraction).abs().groupby(sub.run).idxmin()]
    return near.groupby("gamma").value.mean().sort_index(ascending=False)


def pruning_claims(pr: pd.DataFrame, *, expected: str, classification: bool) -> tuple[list[Claim], pd.DataFrame]:
    rise = relative_rise(pr)
    r0, r90 = _value_at(pr, 0.0, "test_risk"), _value_at(pr, 0.9, "test_risk")
    text = f"test risk unpruned {fmt_by_gamma(r0)} → at 90% {fmt_by_gamma(r90)}; relative rise {fmt_by_gamma(rise)}"
    if classification:
        text += f"; test acc at 90% {fmt_by_gamma(_value_at(pr, 0.9, 'test_acc'))}"
    ok = None if not {0.0, 1.0} <= set(rise.index) else bool(rise[0.0] < rise[1.0])
    summary = pd.DataFrame({"test_risk_unpruned": r0, "test_risk_90pct": r90, "relative_rise_90pct": rise})
    for by in sorted(set(pr.order) - {"importance"}):
        summary[f"relative_rise_90pct_{by}"] = relative_rise(pr, order=by)
    c = claim("pruning 90% of nodes (smallest λ first): test risk of γ=0 rises less than that of γ=1",
              ok, text, expected)
    return [c], summary.reset_index()


def transfer_claims(tr: pd.DataFrame, *, expected: str, classification: bool, k: int = 10
                    ) -> tuple[list[Claim], pd.DataFrame]:
    metric = "test_acc" if classification else "test_risk"
    better = "higher accuracy" if classification else "lower risk"
    claims, rows = [], []
    for readout in sorted(set(tr.readout)):
        sub = tr[(tr.readout == readout) & (tr.metric == metric)]
        ks = sorted(set(sub.k))
        kk = k if k in ks else ks[0]
        v = sub[sub.k == kk].groupby("gamma").value.mean().sort_index(ascending=False)
        rows += [{"readout": readout, "k": kk, "gamma": g, metric: x} for g, x in v.items()]
        if 1.0 not in v.index or len(v) < 2:
            ok = None
        else:
            others = v[v.index < 1.0]
            ok = bool((others > v[1.0]).all()) if classification else bool((others < v[1.0]).all())
        claims.append(claim(f"transfer ({readout} readout), {kk} features: every γ<1 has {better} than γ=1",
                            ok, f"transfer-test {metric.split('_')[1]}: {fmt_by_gamma(v)}", expected))
    return claims, pd.DataFrame(rows)


def pruning_figures(pr: pd.DataFrame, out: Path, order: list[str], *, prefix: str) -> list[Path]:
    import matplotlib.pyplot as plt

    pr = _labelled(pr)
    paths = []
    metrics = [m for m in ("test_risk", "train_risk", "test_acc", "train_acc") if (pr.metric == m).any()]
    for metric in metrics:
        sub = pr[(pr.order == "importance") & (pr.metric == metric)]
        ax = band_plot(sub, x="n_pruned", order=order, logy=metric.endswith("risk"), xlabel="nodes pruned",
                       ylabel=metric.replace("_", " "), title=f"{prefix}: pruning, smallest λ first")
        paths.append(save_figure(ax, out / "figures" / f"{prefix}_prune_{metric.replace('_', '')}.png"))
    orders = sorted(set(pr.order))
    fig, axes = plt.subplots(1, len(orders), figsize=(4.2 * len(orders), 3.6), squeeze=False)
    for ax, by in zip(axes[0], orders):
        sub = pr[(pr.order == by) & (pr.metric == metrics[0])]
        band_plot(sub, x="n_pruned", ax=ax, order=order, logy=True, xlabel="nodes pruned",
                  ylabel=metrics[0].replace("_", " "), title=f"order: {by}")
    paths.append(save_figure(fig, out / "figures" / f"{prefix}_prune_orders.png"))
    return paths


def transfer_figures(tr: pd.DataFrame, out: Path, order: list[str], *, prefix: str) -> list[Path]:
    import matplotlib.pyplot as plt

    tr = _labelled(tr)
    paths = []
    readouts = sorted(set(tr.readout))
    for metric in [m for m in ("test_risk", "train_risk", "test_acc", "train_acc") if (tr.metric == m).any()]:
        fig, axes = plt.subplots(1, len(readouts), figsize=(4.5 * len(readouts), 3.6), squeeze=False)
        for ax, readout in zip(axes[0], readouts):
            sub = tr[(tr.readout == readout) & (tr.metric == metric)]
            band_plot(sub, x="k", ax=ax, order=order, logy=metric.endswith("risk"), xlabel="transferred features k",
                      ylabel=f"transfer {metric.replace('_', ' ')}", title=f"{prefix}: {readout} readout")
        paths.append(save_figure(fig, out / "figures" / f"{prefix}_transfer_{metric.replace('_', '')}.png"))
    return paths


