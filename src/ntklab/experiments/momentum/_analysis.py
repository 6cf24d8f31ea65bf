r"""Analysis of the ``momentum`` preset: per-run rates and gaps, then the claims (:mod:`._verdicts`) and figures.

For each stored run, with Theta_0 and e_0 from ``init/<run directory>.npz`` (named like the run: name and
config hash): the discrete function-space prediction (exact for the linearised network) and its ODE limit; the
fitted linear rate (semilog tail) and power law (log-log tail) of the measured and predicted losses, with the
size of each tail window and the loss ratio across it; the predicted rate -2 log rho from Theta_0's spectrum;
and two gaps between measured and predicted curves,

    gap_sqrt = max_k |sqrt(L_k) - sqrt(L^_k)| / sqrt(L_0)        (<= ||e_k - e^_k|| / ||e_0||)
    gap_log  = max_k |log(L_k / L^_k)|  over the steps where both are above the floor.

The analysis reads exactly the runs of the current options (:func:`ntklab.runs.load_runs` with their configs),
whatever their status; finished ones (done or diverged) are measured, and the claims say which are unusable.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ...dynamics import (
    FunctionSpaceModes,
    StabilityWarning,
    fit_linear_rate,
    fit_power_law,
    predicted_ode_rate,
    predicted_rate,
)
from ...dynamics._rates import NAG_LOSS_POWER
from ...report import band_plot, save_figure
from ...runs import FINISHED, load_runs, run_dir
from .._registry import ExperimentResult
from ._verdicts import LABELS, momentum_claims

__all__ = ["analyse_momentum", "measure_run", "init_path", "ROW_COLUMNS"]

ROW_COLUMNS = ["run", "method", "width", "seed", "status", "lambda_min", "lambda_max", "loss_0", "loss_end", "rate",
               "rate_r2", "rate_points", "rate_drop", "power", "power_r2", "power_points", "power_drop", "rate_k3",
               "pred_rate_fit", "pred_power_fit", "pred_rate", "ode_rate", "gap_sqrt", "gap_log",
               "weight_change_rel", "max_node_displacement"]


def init_path(out: Path, run_name: str) -> Path:
    """Where the run in ``runs/<run_name>`` keeps its Theta_0 and e_0: keyed by name and config hash, so a changed
    config never reads another config's file."""
    return out / "init" / f"{run_name}.npz"


def _drop(k: np.ndarray, L: np.ndarray, fit) -> float:
    """L at the end of ``fit``'s tail window over L at its start (NaN when the fit had no window)."""
    if fit.points < 1 or fit.start < 0:
        return float("nan")
    return float(L[k == fit.stop][0] / L[k == fit.start][0])


def measure_run(run, o, hyper: dict, out: Path) -> tuple[dict, pd.DataFrame]:
    """One run's row (rates, gaps, spectrum) and its curves (real, discrete prediction, ODE)."""
    cfg = run.config
    method, width = cfg["optimizer"]["name"], int(cfg["network"]["width"])
    z = np.load(init_path(out, run.path.name))
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
        "loss_end": float(L[ok][-1]), "rate": fr.rate, "rate_r2": fr.r2, "rate_points": fr.points,
        "rate_drop": _drop(k, L, fr), "power": fp.rate, "power_r2": fp.r2, "power_points": fp.points,
        "power_drop": _drop(k, L, fp), "rate_k3": k3,
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


def analyse_momentum(o, out: Path, hyper: dict, cfgs: list) -> ExperimentResult:
    """Claims, tables and figures of the runs of ``cfgs`` (the current options' plan) under ``out/runs``."""
    found = {r.path.name: r for r in load_runs(out / "runs", cfgs, finished_only=False)}
    runs, measured = {}, []
    for c in cfgs:
        name = run_dir(out / "runs", c.model_dump(mode="json")).name
        run = runs[(c.optimizer.name, c.network.width, c.seed)] = found.get(name)
        if run is not None and run.status in FINISHED and init_path(out, name).exists():
            measured.append(measure_run(run, o, hyper, out))
    rows = pd.DataFrame([m[0] for m in measured], columns=ROW_COLUMNS)
    claims = momentum_claims(rows, runs, o, hyper)
    if not measured:
        return ExperimentResult(out=out, claims=claims, tables={"momentum_runs": rows})
    curves = pd.concat([m[1] for m in measured], ignore_index=True)
    summary = rows.groupby(["method", "width"]).agg(
        rate=("rate", "mean"), rate_r2=("rate_r2", "min"), power=("power", "mean"), pred_rate=("pred_rate", "mean"),
        ode_rate=("ode_rate", "mean"), gap_sqrt=("gap_sqrt", "mean"), gap_log=("gap_log", "mean"),
        loss_end=("loss_end", "mean"), weight_change_rel=("weight_change_rel", "mean")).reset_index()
    return ExperimentResult(out=out, claims=claims, figures=_figures(curves, rows, out),
                            tables={"momentum_runs": rows, "momentum_summary": summary})
