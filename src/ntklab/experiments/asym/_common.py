r"""What every asymmetrical-scaling preset shares (Caron et al. E1-E4): the training options
(:class:`AsymOptions`), per-run labels, final values averaged over seeds, the core claims and the core figures.

Core claims (each with the measured numbers per gamma and the paper's numbers for that experiment):

1. optimisation: the train risk falls for every gamma and ends ordered by gamma (gamma = 1 lowest); with
   ``full_claims`` every gamma > 0 ends below 1e-3;
2. lambda_min(Theta_0) is ordered by gamma and, for gamma = 1, within 10 % of lambda_min(K) of the mean kernel
   on the same probe points;
3. feature learning: kernel drift sqrt||Theta_T - Theta_0||_2 and the max-node displacement at the end
   increase as gamma decreases.

Core figures: train/test risk (step 0 dropped, as the paper), train/test accuracy (classification),
lambda_min(Theta_t), sqrt||Theta_t - Theta_0||_2, and the displacement of the node that moved most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...report import Claim, band_plot, claim, ordered, reported, runs_frame, save_figure

# (alpha, gamma) of Caron et al.: gamma = 1 (NTK scaling), (0.7, 0.5), (0.5, 0.2), (0.4, 0)
PAPER_CONFIGS: list[tuple[float, float]] = [(0.5, 1.0), (0.7, 0.5), (0.5, 0.2), (0.4, 0.0)]


def config_label(alpha: float, gamma: float) -> str:
    return "γ=1" if gamma == 1.0 else f"α={alpha:g}, γ={gamma:g}"


__all__ = ["PAPER_CONFIGS", "config_label", "AsymOptions", "PaperNumbers", "run_scaling", "run_label", "scaling_frame", "mean_final", "fmt_by_gamma",
           "core_claims", "core_figures"]


class AsymOptions(BaseModel):
    """The options of the shallow GD runs of every E1-E4 preset: width m, steps, lr, seeds, probe interval,
    the (alpha, gamma) configurations, the authors' Zipf offset and the dtype."""

    model_config = ConfigDict(extra="forbid")
    width: int = Field(2000, ge=1)
    steps: int = Field(10_000, ge=1)
    lr: float = Field(1.0, gt=0)
    seeds: int = Field(3, ge=1)
    every: int = Field(500, ge=1)
    configs: list[tuple[float, float]] = Field(default_factory=lambda: list(PAPER_CONFIGS))
    zipf_offset: bool = False
    dtype: str = "float32"

    @field_validator("configs")
    @classmethod
    def _configs(cls, v):
        for alpha, gamma in v:
            if not (0 < alpha < 1 and 0 <= gamma <= 1):
                raise ValueError(f"got (alpha={alpha}, gamma={gamma}) (allowed: alpha in (0, 1), gamma in [0, 1])")
        if not v:
            raise ValueError("empty (allowed: a list of [alpha, gamma] pairs)")
        return v


@dataclass
class PaperNumbers:
    """The paper's values for one experiment, as shown in the claims' "expected" column."""

    train_risk: str = ""
    test_risk: str = ""
    lambda_min: str = ""
    drift: str = ""
    displacement: str = ""
    extra: dict = field(default_factory=dict)  # further claims' expectations (pruning, transfer, accuracy)


def run_scaling(run) -> tuple[float, float, int]:
    net = run.config["network"]
    return float(net["scaling"]["alpha"]), float(net["scaling"]["gamma"]), int(net["width"])


def run_label(run) -> str:
    a, g, _ = run_scaling(run)
    return config_label(a, g)


def scaling_frame(runs) -> pd.DataFrame:
    """runs_frame with label, alpha, gamma and width columns."""
    cols = lambda r: dict(zip(("alpha", "gamma", "width"), run_scaling(r)))  # noqa: E731
    return runs_frame(runs, label=run_label, columns=cols)


def mean_final(frame: pd.DataFrame, metric: str, key: str | None = None) -> pd.Series:
    """Mean over seeds of each run's last value of ``metric``, indexed by gamma (descending)."""
    sub = frame[frame.metric == metric]
    if key is not None:
        sub = sub[sub.key == key]
    last = sub[sub.step == sub.groupby("run").step.transform("max")]
    return last.groupby("gamma").value.mean().sort_index(ascending=False)


def fmt_by_gamma(s: pd.Series) -> str:
    return ", ".join(f"γ={g:g}: {v:.3g}" for g, v in s.items())


def core_claims(frame: pd.DataFrame, *, lam_k: float | None, paper: PaperNumbers,
                full_claims: bool = False) -> tuple[list[Claim], dict]:
    """The optimisation, lambda_min and feature-learning claims; also returns {"final_by_config": table}."""
    fmt = fmt_by_gamma
    claims: list[Claim] = []
    tr = frame[frame.metric == "train_risk"]
    first = tr[tr.step == 0].groupby("gamma").value.mean().sort_index(ascending=False)
    last = mean_final(frame, "train_risk")
    gam = list(last.index)
    claims.append(claim("train risk falls for every γ", bool((last < first).all()),
                        f"start {fmt(first)} → end {fmt(last)}", "every γ decreases"))
    claims.append(claim("final train risk ordered by γ (γ=1 lowest, γ=0 highest)",
                        ordered(last.values, increasing=True) and gam == sorted(gam, reverse=True),
                        fmt(last), paper.train_risk))
    if full_claims:
        pos = last[last.index > 0]
        claims.append(claim("every γ > 0 ends below 1e-3 (--full)", bool((pos < 1e-3).all()), fmt(pos), "≈ 0"))
    te = mean_final(frame, "test_risk")
    claims.append(reported("test risk", fmt(te), paper.test_risk))

    lm = frame[(frame.metric == "lambda_min") & (frame.step == 0)].groupby("gamma").value.mean()
    lm = lm.sort_index(ascending=False)
    rel = abs(lm.get(1.0, np.nan) / lam_k - 1) if 1.0 in lm.index and lam_k else np.nan
    claims.append(claim("λ_min(Θ̂_0) ordered by γ", ordered(lm.values, increasing=False), fmt(lm), paper.lambda_min))
    if 1.0 in lm.index and lam_k is not None:  # K: the one-hidden-layer mean kernel (None skips the claim)
        claims.append(claim("γ=1: λ_min(Θ̂_0) within 10% of λ_min(K)", rel <= 0.10,
                            f"{lm[1.0]:.4g} vs λ_min(K) = {lam_k:.4g} ({100 * rel:.1f}% off)", "Θ̂_0 → K as m → ∞"))

    drift = mean_final(frame, "drift_spectral").pow(0.5)
    disp = mean_final(frame, "max_node_displacement")
    claims.append(claim("final kernel drift increases as γ decreases", ordered(drift.values, increasing=True),
                        "sqrt‖ΔΘ̂‖₂: " + fmt(drift), paper.drift))
    claims.append(claim("final max-node displacement increases as γ decreases",
                        ordered(disp.values, increasing=True), fmt(disp), paper.displacement))
    cols = {"train_risk": last, "test_risk": te, "lambda_min_0": lm, "sqrt_drift_spectral": drift,
            "max_node_displacement": disp}
    for acc in ("train_acc", "test_acc"):
        if (frame.metric == acc).any():
            cols[acc] = mean_final(frame, acc)
    return claims, {"final_by_config": pd.DataFrame(cols).reset_index()}


def core_figures(frame: pd.DataFrame, out: Path, order: list[str], *, prefix: str) -> list[Path]:
    """The paper's per-run figures as ``figures/<prefix>_<name>.png`` (mean ± std over seeds)."""
    fdir = out / "figures"
    specs = [
        ("trainrisk", "train_risk", True, "train risk", None),
        ("testrisk", "test_risk", True, "test risk", None),
        ("trainacc", "train_acc", False, "train accuracy", None),
        ("testacc", "test_acc", False, "test accuracy", None),
        ("ntkmineig", "lambda_min", False, "λ_min(Θ̂_t)", None),
        ("ntkdiff", "drift_spectral", False, "sqrt ‖Θ̂_t − Θ̂_0‖₂ (as plotted by the paper)", np.sqrt),
        ("wdiff", "argmax_node_displacement", False, "‖w_j*(t) − w_j*(0)‖, j* = argmax at the end", None),
    ]
    paths = []
    for fname, metric, logy, ylabel, tf in specs:
        sub = frame[frame.metric == metric]
        if sub.empty:
            continue
        if metric.endswith("risk") or metric.endswith("acc"):
            sub = sub[sub.step > 0]  # the paper's risk curves drop step 0
        ax = band_plot(sub, logy=logy, ylabel=ylabel, title=f"{prefix}: {ylabel}", order=order,
                       transform=tf, xlabel="GD step")
        paths.append(save_figure(ax, fdir / f"{prefix}_{fname}.png"))
    return paths
