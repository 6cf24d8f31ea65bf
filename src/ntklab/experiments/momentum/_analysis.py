r"""Analysis of the ``momentum`` preset: per-run rates and gaps, claims and figures.

For each stored run, with Theta_0 and e_0 from ``init/<run>.npz``: the discrete function-space prediction
(exact for the linearised network) and its ODE limit; the fitted linear rate (semilog tail) and power law
(log-log tail) of the measured and predicted losses; the predicted rate -2 log rho from Theta_0's spectrum;
and two gaps between measured and predicted curves,

    gap_sqrt = max_k |sqrt(L_k) - sqrt(L^_k)| / sqrt(L_0)        (<= ||e_k - e^_k|| / ||e_0||)
    gap_log  = max_k |log(L_k / L^_k)|  over the steps where both are above the floor.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..._fits import loglog_fit
from ...dynamics import (
    FunctionSpaceModes,
    StabilityWarning,
    fit_linear_rate,
    fit_power_law,
    predicted_ode_rate,
    predicted_rate,
)
from ...dynamics._rates import NAG_LOSS_POWER
from ...report import Claim, band_plot, claim, reported, save_figure
from ...runs import load_runs
from .._registry import ExperimentResult

__all__ = ["analyse_momentum", "measure_run"]

LABELS = {"gd": "GD", "heavy_ball": "HB", "nag": "NAG β_k=(k−1)/(k+2)", "nag_sc": "NAG-SC"}


def measure_run(run, o, hyper: dict, out: Path) -> tuple[dict, pd.DataFrame]:
    """One run's row (rates, gaps, spectrum) and its curves (real, discrete prediction, ODE)."""
    cfg = run.config
    method, width = cfg["optimizer"]["name"], int(cfg["network"]["width"])
    z = np.load(out / "init" / f"{run.path.name}.npz")
    modes = FunctionSpaceModes(z["theta0"], z["e0"])
    lr, beta = hyper["lr"], hyper["momentum"][method]
    s = run.series("train_risk")
    k, L = s.index.to_numpy(), s.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StabilityWarning)  # already raised when the preset set eta
        pred = modes.discrete(method, lr=lr, momentum=beta, steps=o.steps)
    ode = modes.ode(method, lr=lr, momentum=beta, steps=k)
    Lp = pred.loss[k]
    ok = np.isfinite(L)
    gap_sqrt = float(np.max(np.abs(np.sqrt(L[ok]) - np.sqrt(Lp[ok]))) / np.sqrt(L[0]))
    both = ok & (L > o.floor * L[0]) & (Lp > o.floor * L[0])
    gap_log = float(np.max(np.abs(np.log(L[both] / Lp[both])))) if both.any() else np.nan
    fr, fp = fit_linear_rate(k, L, floor=o.floor), fit_power_law(k, L, floor=o.floor)
    gr, gp = fit_linear_rate(k, Lp, floor=o.floor), fit_power_law(k, Lp, floor=o.floor)
    k3 = (fit_linear_rate(k, L, floor=o.floor, prefactor_power=NAG_LOSS_POWER).rate if method == "nag"
          else np.nan)
    row = {
        "run": run.path.name, "method": method, "width": width, "seed": run.seed, "status": run.status,
        "lambda_min": modes.lambda_min, "lambda_max": modes.lambda_max, "loss_0": float(L[0]),
        "loss_end": float(L[ok][-1]), "rate": fr.rate, "rate_r2": fr.r2, "power": fp.rate, "power_r2": fp.r2,
        "rate_k3": k3,
        "pred_rate_fit": gr.rate, "pred_power_fit": gp.rate,
        "pred_rate": predicted_rate(method, lr=lr, momentum=beta, eigenvalues=modes.a),
        "ode_rate": predicted_ode_rate(method, lr=lr, momentum=beta, eigenvalues=modes.a),
        "gap_sqrt": gap_sqrt, "gap_log": gap_log, "weight_change_rel": run.final("weight_change_rel"),
        "max_node_displacement": run.final("max_node_displacement"),
    }
    base = {"method": method, "width": width, "seed": run.seed}
    curves = pd.concat([pd.DataFrame({"step": k, "value": L, "kind": "real", **base}),
                        pd.DataFrame({"step": k, "value": Lp, "kind": "discrete", **base}),
                        pd.DataFrame({"step": k, "value": ode.loss, "kind": "ode", **base})], ignore_index=True)
    return row, curves


def _fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def _linear_claims(top: pd.DataFrame, thr: float) -> list[Claim]:
    out = []
    for m in ("gd", "heavy_ball"):
        sub = top[top.method == m]
        if len(sub):
            out.append(claim(f"{LABELS[m]}: tail of log-loss is a straight line (R² ≥ {thr:g}, every seed)",
                             sub.rate_r2.min() >= thr,
                             f"R² {_fmt(sub.rate_r2)}; rate/step {_fmt(sub.rate)}", "linear convergence"))
    if {"gd", "heavy_ball"} <= set(top.method):
        g, h = top[top.method == "gd"].rate.mean(), top[top.method == "heavy_ball"].rate.mean()
        out.append(claim("HB's rate beats GD's", h > g, f"HB {h:.4g} vs GD {g:.4g} per step ({h / g:.2f}×)",
                         "HB ≈ exp(−√(λ₀η) k) vs GD exp(−λ₀η k)"))
    sub = top[top.method == "nag"]
    if len(sub):
        ok = sub.power.mean() <= -2 and sub.rate_r2.max() < thr
        out.append(claim("NAG (β_k=(k−1)/(k+2)): log-log tail slope ≤ −2, semilog fit not linear", ok,
                         f"log-log slope {_fmt(sub.power)} (R² {_fmt(sub.power_r2)}); semilog R² "
                         f"{_fmt(sub.rate_r2)}", f"sublinear; ODE loss ~ t^{NAG_LOSS_POWER:g} (discrete: × (1−ηλ)^k)"))
    sub = top[top.method == "nag_sc"]
    if len(sub):
        out.append(reported("NAG-SC: tail of log-loss linear", f"R² {_fmt(sub.rate_r2)}; rate/step {_fmt(sub.rate)}", "linear (constant damping)"))
    return out


def _gap_claims(rows: pd.DataFrame) -> list[Claim]:
    out = []
    for col, what in (("gap_sqrt", "max|√L−√L̂|/√L₀"), ("gap_log", "max|log(L/L̂)| over the tail")):
        g = rows.groupby(["method", "width"])[col].mean()
        parts, ok = [], True
        for m in g.index.get_level_values(0).unique():
            v = g.loc[m]
            ok &= bool(len(v) >= 2 and np.all(np.diff(v.values) < 0))
            parts.append(f"{LABELS[m]}: {_fmt(v.values)} (slope {loglog_fit(v.index, v.values).slope:.2f})")
        widths = ", ".join(str(w) for w in sorted(rows.width.unique()))
        out.append(claim(f"gap real vs predicted shrinks as m grows ({what})", ok,
                         f"m = {widths} → " + "; ".join(parts), "lazy regime: O(m^−1/2)"))
    return out


def _rate_claims(top: pd.DataFrame, tol: float) -> list[Claim]:
    out = []
    for m, sub in top.groupby("method", sort=False):
        specs = [("rate/step", sub.rate.mean(), sub.pred_rate.mean(), "−2 log ρ(Θ̂₀, η, β)",
                  f"; ODE limit {sub.ode_rate.mean():.4g}")]
        if m == "nag":
            specs = [("log-log power", sub.power.mean(), NAG_LOSS_POWER, "ODE limit: loss ~ t^−3", ""),
                     ("rate/step of L·k³", sub.rate_k3.mean(), sub.pred_rate.mean(),
                      "discrete NAG: L ~ (1−ηλ_min)^k k^−3, rate −log(1−ηλ_min)", "")]
        for what, meas, pred, expected, extra in specs:
            rel = abs(meas / pred - 1)
            out.append(claim(f"{LABELS[m]}: measured {what} within {tol:.0%} of predicted (largest m)",
                             rel <= tol, f"{meas:.4g} vs {pred:.4g} ({rel:.1%} off){extra}", expected))
    return out


def _loss_panel(ax, sub: pd.DataFrame, method: str, top: int, loglog: bool) -> None:
    if loglog:
        sub = sub[sub.step > 0]
    real = sub[sub.kind == "real"].assign(label=lambda d: "m=" + d.width.astype(str))
    band_plot(real, ax=ax, logy=True, logx=loglog, xlabel="step", ylabel="train MSE",
              title=f"{LABELS[method]} ({'log-log' if loglog else 'semilog'})",
              order=[f"m={w}" for w in sorted(real.width.unique())])
    for kind, style in (("discrete", "k--"), ("ode", "k:")):
        p = sub[(sub.kind == kind) & (sub.width == top)].groupby("step").value.mean()
        ax.plot(p.index, p.values, style, lw=1.2, label=f"{kind} prediction (m={top})")
    ax.legend(fontsize=7)


def _figures(curves: pd.DataFrame, rows: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    top = rows.width.max()
    methods = list(dict.fromkeys(rows.method))
    fig, axes = plt.subplots(2, len(methods), figsize=(4.2 * len(methods), 7.0), squeeze=False)
    for j, m in enumerate(methods):
        sub = curves[(curves.method == m) & (curves.value > 0)]
        for i, loglog in enumerate((False, True)):
            _loss_panel(axes[i, j], sub, m, top, loglog)
    paths = [save_figure(fig, out / "figures" / "momentum_loss.png")]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, col, ylabel in ((axes[0], "gap_sqrt", "max|√L−√L̂| / √L₀"), (axes[1], "gap_log", "max|log(L/L̂)|")):
        frame = rows.assign(step=rows.width, value=rows[col], label=rows.method.map(LABELS))
        band_plot(frame, ax=ax, logx=True, logy=True, xlabel="width m", ylabel=ylabel,
                  title="real vs linearised prediction")
        widths = sorted(rows.width.unique())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(widths, [str(w) for w in widths])
    paths.append(save_figure(fig, out / "figures" / "momentum_gap.png"))
    return paths


def analyse_momentum(o, out: Path, hyper: dict) -> ExperimentResult:
    from .momentum import run_configs

    runs = load_runs(out / "runs", run_configs(o, hyper))
    if not runs:
        raise FileNotFoundError(f"{out}: no finished runs under runs/")
    measured = [measure_run(r, o, hyper, out) for r in runs]
    rows = pd.DataFrame([m[0] for m in measured])
    curves = pd.concat([m[1] for m in measured], ignore_index=True)
    top = rows[rows.width == rows.width.max()]
    diverged = rows[rows.status != "done"]
    claims = [claim("no run diverged (η below every method's stability bound)", diverged.empty,
                    f"{len(diverged)} of {len(rows)} diverged" + (f": {', '.join(diverged.run)}" if len(diverged)
                                                                    else ""),
                    f"η = {hyper['lr']:.4g}, λ_max(2K/n) η = {hyper['lr'] * hyper['lambda_max_inf']:.3g}")]
    claims += _linear_claims(top, o.r2_threshold)
    claims += _gap_claims(rows)
    claims += _rate_claims(top, o.rate_tolerance)
    lam = top.groupby("method")[["lambda_min", "lambda_max"]].mean().mean()
    claims.append(reported("λ(2Θ̂₀/n) at the largest m vs the infinite-width kernel", f"λ_min {lam.lambda_min:.4g} vs {hyper['lambda_min_inf']:.4g}; λ_max {lam.lambda_max:.4g} "
                        f"vs {hyper['lambda_max_inf']:.4g}", "Θ̂₀ → K as m → ∞"))
    mv = rows.groupby("width").weight_change_rel.mean()
    claims.append(reported("relative weight movement ‖θ_T−θ₀‖/‖θ₀‖ vs m", ", ".join(f"m={w}: {v:.3g}" for w, v in mv.items())
                        + f"; slope {loglog_fit(mv.index, mv.values).slope:.2f}", "lazy regime: O(m^−1/2)"))
    summary = rows.groupby(["method", "width"]).agg(
        rate=("rate", "mean"), rate_r2=("rate_r2", "min"), power=("power", "mean"), pred_rate=("pred_rate", "mean"),
        ode_rate=("ode_rate", "mean"), gap_sqrt=("gap_sqrt", "mean"), gap_log=("gap_log", "mean"),
        loss_end=("loss_end", "mean"), weight_change_rel=("weight_change_rel", "mean")).reset_index()
    return ExperimentResult(out=out, claims=claims, figures=_figures(curves, rows, out),
                            tables={"momentum_runs": rows, "momentum_summary": summary})
