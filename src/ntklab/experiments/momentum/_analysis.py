r"""Analysis of the ``momentum`` preset: per-run rates and gaps, then the claims (:mod:`._verdicts`) and figures.

For each stored run, with Theta_0 and e_0 from ``init/<run directory>.npz`` (named like the run: name and
config hash), at the run's own eta and beta: the discrete function-space prediction (exact for the linearised
network) and its ODE limit; the fitted linear rate (semilog tail) and power law (log-log tail) of the measured
loss, with the size of each tail window and the loss ratio across it; the same fits of the discrete prediction
and of the ODE curve *on the measured fit's window* (``pred_*_fit``, ``ode_*_fit``: like with like); the
asymptotic rate -2 log rho from Theta_0's spectrum and the ODE's (``pred_rate``, ``ode_rate``); the ODE time per
step (eta for GD, sqrt(eta) for the momentum methods); and two gaps between measured and predicted curves,

    gap_sqrt = max_k |sqrt(L_k) - sqrt(L^_k)| / sqrt(L_0)        (<= ||e_k - e^_k|| / ||e_0||)
    gap_log  = max_k |log(L_k / L^_k)|  over the steps where both are above the floor.

The analysis reads exactly the runs of the current options (:func:`ntklab.runs.load_runs` with their configs),
whatever their status; finished ones (done or diverged) are measured, and the claims say which are unusable.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ...dynamics import FunctionSpaceModes, StabilityWarning, fit_linear_rate, fit_power_law
from ...dynamics import predicted_ode_rate, predicted_rate
from ...dynamics._rates import NAG_LOSS_POWER
from ...report import band_plot, save_figure
from ...runs import FINISHED, load_runs, run_dir
from .._registry import ExperimentResult
from ._verdicts import LABELS, momentum_claims

__all__ = ["analyse_momentum", "measure_run", "init_path", "fit_on_window", "ROW_COLUMNS"]

ROW_COLUMNS = ["run", "method", "width", "seed", "eta_divisor", "lr", "momentum", "time_per_step", "status",
               "lambda_min", "lambda_max", "loss_0", "loss_end", "rate", "rate_r2", "rate_points", "rate_drop",
               "power", "power_r2", "power_points", "power_drop", "rate_k3", "pred_rate_fit", "pred_power_fit",
               "pred_rate_k3_fit", "ode_rate_fit", "ode_power_fit", "pred_rate", "ode_rate", "gap_sqrt", "gap_log",
               "kernel_drift", "weight_change_rel", "max_node_displacement"]


def init_path(out: Path, run_name: str) -> Path:
    """Where the run in ``runs/<run_name>`` keeps its Theta_0 and e_0: keyed by name and config hash, so a changed
    config never reads another config's file."""
    return out / "init" / f"{run_name}.npz"


def _drop(k: np.ndarray, L: np.ndarray, fit) -> float:
    """L at the end of ``fit``'s tail window over L at its start (NaN when the fit had no window)."""
    if fit.points < 1 or fit.start < 0:
        return float("nan")
    return float(L[k == fit.stop][0] / L[k == fit.start][0])


def fit_on_window(kind: str, k: np.ndarray, L: np.ndarray, window, *, floor: float = 1e-24,
                  prefactor_power: float = 0.0) -> float:
    """The ``kind`` fit ("rate" per step or log-log "power") of the curve ``L`` over the steps of another fit's
    window [window.start, window.stop]: a prediction read exactly where the measurement was (NaN without one).

    Example:
        >>> import numpy as np
        >>> from ntklab.dynamics import fit_linear_rate
        >>> k = np.arange(101.0); real, pred = np.exp(-0.1 * k), np.exp(-0.2 * k) * (1 + k)
        >>> w = fit_linear_rate(k, real)
        >>> (w.start, w.stop), round(fit_on_window("rate", k, pred, w), 4)
        ((50, 100), 0.1865)
    """
    if window.points < 3 or window.start < 0:
        return math.nan
    sel = (k >= window.start) & (k <= window.stop)
    if kind == "power":
        return fit_power_law(k[sel], L[sel], start_fraction=0.0, floor=floor).rate
    return fit_linear_rate(k[sel], L[sel], start_fraction=0.0, floor=floor, prefactor_power=prefactor_power).rate


def _fits(k, L, Lp, Lode, method: str, floor: float) -> dict:
    """The measured curve's fits and the prediction's and ODE's on the same windows."""
    fr, fp = fit_linear_rate(k, L, floor=floor), fit_power_law(k, L, floor=floor)
    out = {"rate": fr.rate, "rate_r2": fr.r2, "rate_points": fr.points, "rate_drop": _drop(k, L, fr),
           "power": fp.rate, "power_r2": fp.r2, "power_points": fp.points, "power_drop": _drop(k, L, fp),
           "pred_rate_fit": fit_on_window("rate", k, Lp, fr, floor=floor),
           "pred_power_fit": fit_on_window("power", k, Lp, fp, floor=floor),
           "ode_rate_fit": fit_on_window("rate", k, Lode, fr, floor=floor),
           "ode_power_fit": fit_on_window("power", k, Lode, fp, floor=floor),
           "rate_k3": math.nan, "pred_rate_k3_fit": math.nan}
    if method == "nag":
        f3 = fit_linear_rate(k, L, floor=floor, prefactor_power=NAG_LOSS_POWER)
        out["rate_k3"] = f3.rate
        out["pred_rate_k3_fit"] = fit_on_window("rate", k, Lp, f3, floor=floor, prefactor_power=NAG_LOSS_POWER)
    return out


def _gaps(L: np.ndarray, Lp: np.ndarray, floor: float) -> tuple[float, float]:
    ok = np.isfinite(L)
    gap_sqrt = float(np.max(np.abs(np.sqrt(L[ok]) - np.sqrt(Lp[ok]))) / np.sqrt(L[0]))
    both = ok & (L > floor * L[0]) & (Lp > floor * L[0])
    gap_log = float(np.max(np.abs(np.log(L[both] / Lp[both])))) if both.any() else np.nan
    return gap_sqrt, gap_log


def measure_run(run, o, hyper: dict, out: Path) -> tuple[dict, pd.DataFrame]:
    """One run's row (rates, gaps, spectrum) and its curves (real, discrete prediction, ODE)."""
    cfg = run.config
    method, width = cfg["optimizer"]["name"], int(cfg["network"]["width"])
    lr, beta = float(cfg["optimizer"]["lr"]), float(cfg["optimizer"]["momentum"])
    divisor = int(round(hyper["lr"] / lr))
    tau = lr if method == "gd" else math.sqrt(lr)  # ODE time per step: t = k eta or k sqrt(eta)
    z = np.load(init_path(out, run.path.name))
    modes = FunctionSpaceModes(z["theta0"], z["e0"])
    s = run.series("train_risk")
    k, L = s.index.to_numpy(), s.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StabilityWarning)  # already raised when the preset set eta
        pred = modes.discrete(method, lr=lr, momentum=beta, steps=int(cfg["training"]["steps"]))
    ode = modes.ode(method, lr=lr, momentum=beta, steps=k)
    Lp = pred.loss[k]
    gap_sqrt, gap_log = _gaps(L, Lp, o.floor)
    row = {
        "run": run.path.name, "method": method, "width": width, "seed": run.seed, "eta_divisor": divisor,
        "lr": lr, "momentum": beta, "time_per_step": tau, "status": run.status,
        "lambda_min": modes.lambda_min, "lambda_max": modes.lambda_max, "loss_0": float(L[0]),
        "loss_end": float(L[np.isfinite(L)][-1]), **_fits(k, L, Lp, ode.loss, method, o.floor),
        "pred_rate": predicted_rate(method, lr=lr, momentum=beta, eigenvalues=modes.a),
        "ode_rate": predicted_ode_rate(method, lr=lr, momentum=beta, eigenvalues=modes.a),
        "gap_sqrt": gap_sqrt, "gap_log": gap_log, "kernel_drift": run.final("drift_fro_rel"),
        "weight_change_rel": run.final("weight_change_rel"),
        "max_node_displacement": run.final("max_node_displacement"),
    }
    base = {"method": method, "width": width, "seed": run.seed, "eta_divisor": divisor}
    curves = pd.concat([pd.DataFrame({"step": k, "time": k * tau, "value": v, "kind": kind, **base})
                        for kind, v in (("real", L), ("discrete", Lp), ("ode", ode.loss))], ignore_index=True)
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


def _eta_figure(curves: pd.DataFrame, out: Path) -> Path | None:
    """Loss against the ODE time t = k sqrt(eta) for each eta of the sweep, with the ODE (HB semilog, NAG log-log)."""
    import matplotlib.pyplot as plt

    sweep = curves[curves.eta_divisor.groupby([curves.method]).transform("nunique") > 1]
    methods = [m for m in ("heavy_ball", "nag") if m in set(sweep.method)]
    if not methods:
        return None
    fig, axes = plt.subplots(1, len(methods), figsize=(4.6 * len(methods), 3.8), squeeze=False)
    for ax, m in zip(axes[0], methods):
        sub = sweep[(sweep.method == m) & (sweep.value > 0) & (sweep.step > 0)]
        top = sub.width.max()
        real = sub[(sub.kind == "real") & (sub.width == top)].assign(label=lambda d: "η0/" + d.eta_divisor.astype(str))
        band_plot(real, x="time", ax=ax, logy=True, logx=m == "nag", xlabel="ODE time t = k√η", ylabel="train MSE",
                  title=f"{LABELS[m]}, m={top}: η sweep",
                  order=[f"η0/{q}" for q in sorted(real.eta_divisor.unique())])
        q = real.eta_divisor.max()
        ode = sub[(sub.kind == "ode") & (sub.width == top) & (sub.eta_divisor == q)].groupby("time").value.mean()
        ax.plot(ode.index, ode.values, "k:", lw=1.4, label="ODE")
        ax.legend(fontsize=7)
    return save_figure(fig, out / "figures" / "momentum_eta_sweep.png")


def _figures(curves: pd.DataFrame, rows: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    main, rows = curves[curves.eta_divisor == 1], rows[rows.eta_divisor == 1]
    top = rows.width.max()
    methods = list(dict.fromkeys(rows.method))
    fig, axes = plt.subplots(2, len(methods), figsize=(4.2 * len(methods), 7.0), squeeze=False)
    for j, m in enumerate(methods):
        sub = main[(main.method == m) & (main.value > 0)]
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
    eta = _eta_figure(curves, out)
    return paths + ([eta] if eta else [])


def analyse_momentum(o, out: Path, hyper: dict, cfgs: list, plan: list) -> ExperimentResult:
    """Claims, tables and figures of the runs of ``cfgs`` (the current options' plan: ``plan`` gives each one's
    (method, width, seed, eta divisor)) under ``out/runs``."""
    found = {r.path.name: r for r in load_runs(out / "runs", cfgs, finished_only=False)}
    runs, measured = {}, []
    for c, key in zip(cfgs, plan):
        name = run_dir(out / "runs", c.model_dump(mode="json")).name
        run = runs[key] = found.get(name)
        if run is not None and run.status in FINISHED and init_path(out, name).exists():
            measured.append(measure_run(run, o, hyper, out))
    rows = pd.DataFrame([m[0] for m in measured], columns=ROW_COLUMNS)
    claims = momentum_claims(rows, runs, o, hyper)
    if not measured:
        return ExperimentResult(out=out, claims=claims, tables={"momentum_runs": rows})
    curves = pd.concat([m[1] for m in measured], ignore_index=True)
    summary = rows.groupby(["method", "width", "eta_divisor"]).agg(
        rate=("rate", "mean"), pred_rate_fit=("pred_rate_fit", "mean"), rate_r2=("rate_r2", "min"),
        power=("power", "mean"), pred_power_fit=("pred_power_fit", "mean"), ode_power_fit=("ode_power_fit", "mean"),
        pred_rate=("pred_rate", "mean"), ode_rate=("ode_rate", "mean"), gap_sqrt=("gap_sqrt", "mean"),
        gap_log=("gap_log", "mean"), kernel_drift=("kernel_drift", "mean"), loss_end=("loss_end", "mean"),
        weight_change_rel=("weight_change_rel", "mean")).reset_index()
    return ExperimentResult(out=out, claims=claims, figures=_figures(curves, rows, out),
                            tables={"momentum_runs": rows, "momentum_summary": summary})
