r"""Claims of the ``momentum`` preset, decided seed by seed, with their preconditions.

Every claim names the runs it reads and declares what it needs:

- the runs are all there, finished and not diverged (:func:`ntklab.report.runs_usable`), and each has its
  stored Theta_0 and e_0 (``init/<run directory>.npz``);
- a tail-window fit (rate, power law, R^2) rests on >= 3 recorded steps, and the loss fell across the window by
  at least ``TAIL_DROP`` (one decade): over less, log L moves by < 2.3 and a straight line cannot be told from
  the bend of a plateau, so a rate or R^2 read there says nothing about the convergence it is claimed for;
- a trend over the widths has >= 3 widths with finite values; an eta sweep has >= 3 step sizes.

A comparison across seeds is decided per seed (support "k/n seeds"): each seed's run (or, for the trends over
m and eta, each seed's sweep) must satisfy the claim; the measured column gives the means beside it.  Rates are
compared like with like: the discrete prediction and the ODE curve are fitted on the measured fit's own window
(:func:`ntklab.experiments.momentum._analysis.fit_on_window`).

Example:
    >>> import pandas as pd
    >>> from ntklab.experiments.momentum._verdicts import tail_window
    >>> [p.ok for p in tail_window(pd.DataFrame({"rate_points": [20, 3], "rate_drop": [1e-3, 0.5]}), "rate", "GD")]
    [True, False]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..._fits import loglog_fit
from ...dynamics._rates import NAG_LOSS_POWER
from ...report import (
    Claim,
    Precondition,
    all_finite,
    claim,
    enough,
    ordered,
    precondition,
    reported,
    runs_usable,
    seed_support,
    trained_below,
)

__all__ = ["momentum_claims", "tail_window", "TAIL_DROP", "MIN_TAIL_POINTS", "MIN_WIDTHS", "MIN_ETAS", "LABELS"]

LABELS = {"gd": "GD", "heavy_ball": "HB", "nag": "NAG β_k=(k−1)/(k+2)", "nag_sc": "NAG-SC"}
TAIL_DROP = 0.1  # L(window end) / L(window start) must fall below this for a tail fit to read a rate
MIN_TAIL_POINTS = 3  # a line and its R^2 need more than two points
MIN_WIDTHS = 3  # a trend in m (and the slope reported beside it) needs three widths
MIN_ETAS = 3  # "approaches as eta shrinks" needs two successive steps of the sweep


def _fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def _pct(values) -> str:
    return ", ".join(f"{v:.1%}" for v in values)


def tail_window(sub: pd.DataFrame, fit: str, label: str) -> list[Precondition]:
    """The ``fit`` ("rate" or "power") tail windows of the runs in ``sub`` hold >= 3 steps and the loss fell
    across each by ``TAIL_DROP`` (the worst seed counts)."""
    pts = enough(int(sub[f"{fit}_points"].min()) if len(sub) else 0, MIN_TAIL_POINTS,
                 f"steps in the {label} {fit} fit's tail window (fewest over seeds)")
    if not pts.ok:
        return [pts]
    return [pts, trained_below(float(sub[f"{fit}_drop"].max()), TAIL_DROP,
                               f"{label}: loss ratio L_end/L_start across the {fit} fit's tail window (worst seed)")]


class _Study:
    """The measured rows, the runs keyed by (method, width, seed, eta divisor) and the options the claims read."""

    def __init__(self, rows: pd.DataFrame, runs: dict, o, hyper: dict):
        self.all, self.runs, self.o, self.hyper = rows, runs, o, hyper
        self.rows = rows[rows.eta_divisor == 1]
        self.top = max(o.widths)

    def at(self, method: str, divisor: int = 1) -> pd.DataFrame:
        """Measured rows of ``method`` at the largest width and eta0 / ``divisor``, in seed order."""
        r = self.all
        return r[(r.method == method) & (r.width == self.top) & (r.eta_divisor == divisor)].sort_values("seed")

    def usable(self, methods, widths=None, divisors=(1,)) -> list[Precondition]:
        """The runs of ``methods`` x ``widths`` (default the largest) x seeds x ``divisors``: there, done, measured."""
        widths = [self.top] if widths is None else widths
        keys = [(m, w, s, q) for m in methods for w in widths for s in range(self.o.seeds) for q in divisors]
        present = [self.runs[k] for k in keys if self.runs.get(k) is not None]
        pre = runs_usable(present, expected=len(keys), what=" + ".join(LABELS[m] for m in methods) + " runs")
        if not pre.ok:
            return [pre]
        r = self.all
        measured = set(zip(r.method, r.width, r.seed, r.eta_divisor))
        lacking = [self.runs[k].name for k in keys if k not in measured]
        return [precondition(not lacking, f"{len(lacking)} runs have no stored Θ₀ (init/<run>.npz): "
                                          + ", ".join(lacking[:4]))]

    def with_tails(self, methods, fit: str = "rate", divisors=(1,)) -> list[Precondition]:
        """Usable runs at the largest width whose ``fit`` tail windows read a rate (or power)."""
        pre = self.usable(methods, divisors=divisors)
        if all(p.ok for p in pre):
            for m in methods:
                for q in divisors:
                    pre += tail_window(self.at(m, q), fit, LABELS[m] + (f" at η0/{q}" if q > 1 else ""))
        return pre


def _linear_claims(st: _Study) -> list[Claim]:
    thr, out = st.o.r2_threshold, []
    for m in ("gd", "heavy_ball"):
        if m in st.o.methods:
            sub = st.at(m)
            flags = [r2 >= thr for r2 in sub.rate_r2]
            out.append(claim(f"{LABELS[m]}: tail of log-loss is a straight line (R² ≥ {thr:g}, every seed)",
                             lambda f=flags: all(f), lambda s=sub: f"R² {_fmt(s.rate_r2)}; rate/step {_fmt(s.rate)}",
                             "linear convergence", requires=st.with_tails([m]), support=seed_support(flags)))
    if {"gd", "heavy_ball"} <= set(st.o.methods):
        g, h = st.at("gd"), st.at("heavy_ball")
        flags = [hb > gd for hb, gd in zip(h.rate, g.rate)]
        out.append(claim("HB's rate beats GD's", lambda: all(flags),
                         lambda: f"HB {h.rate.mean():.4g} vs GD {g.rate.mean():.4g} per step "
                                 f"({h.rate.mean() / g.rate.mean():.2f}×)",
                         "HB ≈ exp(−√(λ₀η) k) vs GD exp(−λ₀η k)",
                         requires=st.with_tails(["gd", "heavy_ball"]), support=seed_support(flags)))
    if "nag" in st.o.methods:
        q = max(st.o.eta_divisors)  # the smallest step of the sweep: nearest the ODE
        sub, at_eta0 = st.at("nag", q), st.at("nag")
        flags = [p <= -2 and r2 < thr for p, r2 in zip(sub.power, sub.rate_r2)]
        pre = st.with_tails(["nag"], divisors=sorted({1, q}))
        if all(p.ok for p in pre):
            pre += tail_window(sub, "power", LABELS["nag"])
        where = f"η0/{q}" if q > 1 else "η0"
        out.append(claim(f"NAG (β_k=(k−1)/(k+2)): sublinear as η → 0: at {where} log-log tail slope ≤ −2 and the "
                         f"semilog fit not linear (R² < {thr:g}), every seed", lambda: all(flags),
                         lambda: f"at {where}: log-log slope {_fmt(sub.power)} (R² {_fmt(sub.power_r2)}), semilog R² "
                                 f"{_fmt(sub.rate_r2)}; at η0: slope {_fmt(at_eta0.power)}, semilog R² "
                                 f"{_fmt(at_eta0.rate_r2)}",
                         f"ODE loss ~ t^{NAG_LOSS_POWER:g} (Bu et al.: NAG may converge only sublinearly); at a "
                         "finite η the discrete factor (1−ηλ_min)^k makes the tail linear",
                         requires=pre, support=seed_support(flags)))
    if "nag_sc" in st.o.methods:
        sub = st.at("nag_sc")
        out.append(reported("NAG-SC: tail of log-loss linear", lambda: f"R² {_fmt(sub.rate_r2)}; rate/step "
                                                                       f"{_fmt(sub.rate)}",
                            "linear (constant damping)", requires=st.with_tails(["nag_sc"])))
    return out


def _gap_claims(st: _Study) -> list[Claim]:
    """The gap falls with m: every method x seed sweep's log-log slope of the gap against m is negative."""
    out, rows, methods = [], st.rows, list(st.o.methods)
    pre = st.usable(methods, st.o.widths) + [enough(len(st.o.widths), MIN_WIDTHS, "widths")]
    for col, what in (("gap_sqrt", "max|√L−√L̂|/√L₀"), ("gap_log", "max|log(L/L̂)|")):
        finite = [all_finite(rows[col], col)] if all(p.ok for p in pre) else []
        slopes = {}
        if all(p.ok for p in pre + finite):
            slopes = {(m, s): loglog_fit(g.width, g[col]).slope
                      for (m, s), g in rows.groupby(["method", "seed"], sort=False)}
        flags = [v < 0 for v in slopes.values()]

        def measured(col=col, slopes=slopes):
            g = rows.groupby(["method", "width"])[col].mean()
            parts = [f"{LABELS[m]}: {_fmt(g.loc[m].values)} (per-seed slopes "
                     f"{_fmt([v for (mm, _), v in slopes.items() if mm == m])})" for m in methods]
            return f"m = {', '.join(str(w) for w in st.o.widths)} → " + "; ".join(parts)

        out.append(claim(f"gap real vs predicted shrinks as m grows ({what}: log-log slope in m < 0, every seed)",
                         lambda f=flags: all(f), measured,
                         "lazy regime: sup_k ‖e_k − ê_k‖ = O(m^−1/2) (Du et al. 2019; Bu et al. 2021): slope ≈ −1/2",
                         requires=pre + finite, support=seed_support(flags, "method × seed sweeps")))
    return out


def _rate_specs(m: str, sub: pd.DataFrame) -> list[tuple]:
    """(what, measured column, discrete column, tail window, beside) of ``m``'s rate claims."""
    if m == "nag":
        return [("log-log power", "power", "pred_power_fit", "power",
                 lambda s=sub: f"; ODE on the same window {s.ode_power_fit.mean():.3g} (envelope t^−3)"),
                ("rate/step of L·k³", "rate_k3", "pred_rate_k3_fit", "rate",
                 lambda s=sub: f"; asymptotic −log(1−ηλ_min) {s.pred_rate.mean():.4g}")]
    per_time = sub.time_per_step.mean()
    return [("rate/step", "rate", "pred_rate_fit", "rate",
             lambda s=sub: f"; asymptotic −2 log ρ {s.pred_rate.mean():.4g}; ODE on the same window "
                           f"{s.ode_rate_fit.mean():.4g} (asymptotic {s.ode_rate.mean():.4g}; "
                           f"{'t = kη' if m == 'gd' else 't = k√η'}, {per_time:.3g} per step)")]


def _rate_claims(st: _Study) -> list[Claim]:
    out, tol = [], st.o.rate_tolerance
    for m in st.o.methods:
        sub = st.at(m)
        for what, col, pred_col, window, extra in _rate_specs(m, sub):
            meas, pred = sub[col].to_numpy(float), sub[pred_col].to_numpy(float)
            with np.errstate(divide="ignore", invalid="ignore"):  # a diverged run's NaN rate: INCONCLUSIVE below
                off = np.abs(meas / pred - 1)
            pre = st.with_tails([m], window)
            out.append(claim(
                f"{LABELS[m]}: measured {what} within {tol:.0%} of the discrete prediction's (largest m)",
                lambda o=off: bool(np.all(o <= tol)),
                lambda mm=meas, pp=pred, o=off, x=extra: (f"{mm.mean():.4g} vs {pp.mean():.4g} "
                                                          f"({abs(mm.mean() / pp.mean() - 1):.1%} off)"
                                                          + (f"; per seed {_pct(o)} off" if len(o) > 1 else "")
                                                          + x()),
                "discrete linearised recursion from Θ̂₀, e₀ at the run's η, β, fitted on the same window",
                requires=pre, support=seed_support(off <= tol)))
    return out


def _asymptotic_distance(method: str, subs: list[pd.DataFrame]) -> str:
    """HB: the asymptotic discrete rate -2 log rho against the ODE's at each eta of the sweep (what theory gives
    for the distance the claim measures on the fit window)."""
    if method != "heavy_ball":
        return ""
    with np.errstate(divide="ignore", invalid="ignore"):
        off = [float(np.mean(np.abs(s.pred_rate / s.ode_rate - 1))) for s in subs]
    return f"; asymptotic −2 log ρ vs the ODE's: {_pct(off)} off"


def _eta_claims(st: _Study) -> list[Claim]:
    """As eta shrinks at fixed ODE time, HB's rate per unit time and NAG's log-log power approach the ODE's."""
    qs, out = list(st.o.eta_divisors), []
    sweep = f"η0/{', /'.join(map(str, qs))}"
    specs = {"heavy_ball": ("loss rate per unit time t = k√η", "rate", "ode_rate_fit", "rate",
                            "HB ODE ë + γė + Θ̂₀e = 0 with γ = (1−β)/√η fixed: the distance → 0, as O(η^¼) at the "
                            "critical damping γ = 2√λ_min (the discrete roots split by O(η^¾) where the ODE's meet)"),
             "nag": ("log-log power", "power", "ode_power_fit", "power",
                     "NAG ODE ë + (3/t)ė + Θ̂₀e = 0: power → −3 (the factor (1−ηλ)^k = e^(−√η λ t) → 1 at "
                     "fixed t: O(√η))")}
    for m, (what, col, ode_col, window, expected) in specs.items():
        if m not in st.o.methods:
            continue
        pre = [enough(len(qs), MIN_ETAS, "step sizes η0/q in the η sweep")]
        if pre[0].ok:
            pre += st.with_tails([m], window, divisors=qs)
        flags, text = [], ""
        if all(p.ok for p in pre):
            subs = [st.at(m, q) for q in qs]
            table = {c: np.array([s[c].to_numpy(float) for s in subs]) for c in
                     (col, ode_col, f"pred_{col}_fit", "time_per_step")}  # (q, seed)
            pre.append(all_finite(np.concatenate([table[col].ravel(), table[ode_col].ravel()]),
                                  f"{LABELS[m]} measured and ODE {col} fits of the η sweep"))
            with np.errstate(divide="ignore", invalid="ignore"):
                off = np.abs(table[col] / table[ode_col] - 1)
                off_pred = np.abs(table[f"pred_{col}_fit"] / table[ode_col] - 1)
            flags = [ordered(per_seed, increasing=False) for per_seed in off.T]
            unit = table["time_per_step"] if col == "rate" else 1.0
            text = (f"{sweep}: measured {_fmt((table[col] / unit).mean(1))} vs ODE {_fmt((table[ode_col] / unit).mean(1))}"
                    f" ({_pct(off.mean(1))} off; per seed " + "; ".join(_pct(o) for o in off.T)
                    + f"); discrete prediction {_pct(off_pred.mean(1))} off" + _asymptotic_distance(m, subs))
        out.append(claim(f"{LABELS[m]}: {what} approaches the ODE's as η shrinks ({sweep} at fixed t, largest m), "
                         "every seed", lambda f=flags: all(f), text, expected, requires=pre,
                         support=seed_support(flags)))
    return out


def _divergence_claim(st: _Study) -> Claim:
    runs = list(st.runs.values())
    absent = sum(r is None for r in runs)
    open_ = [r.name for r in runs if r is not None and r.status not in ("done", "diverged")]
    diverged = [r.name for r in runs if r is not None and r.status == "diverged"]
    ended = precondition(not absent and not open_, f"{absent} of {len(runs)} runs missing, {len(open_)} failed or "
                                                   f"unfinished ({', '.join(open_[:4])})")
    names = ", ".join(diverged[:6]) + (", ..." if len(diverged) > 6 else "")
    lam = st.hyper["lambda_max_inf"]
    return claim("no run diverged (η below every method's stability bound)", not diverged,
                 f"{len(diverged)} of {len(runs)} diverged" + (f": {names}" if diverged else ""),
                 f"η0 = {st.hyper['lr']:.4g}, λ_max(2K/n) η0 = {st.hyper['lr'] * lam:.3g}", requires=[ended])


def _reported(st: _Study) -> list[Claim]:
    rows, top = st.rows, st.top
    at_top = rows[rows.width == top]
    lam = lambda: at_top.groupby("method")[["lambda_min", "lambda_max"]].mean().mean()  # noqa: E731
    h = st.hyper

    def by_width(col):
        g = rows.groupby("width")[col].mean()
        return ", ".join(f"m={w}: {v:.3g}" for w, v in g.items()) + f"; slope {loglog_fit(g.index, g.values).slope:.2f}"

    every = st.usable(list(st.o.methods), st.o.widths)
    return [
        reported("λ(2Θ̂₀/n) at the largest m vs the infinite-width kernel",
                 lambda: f"λ_min {lam().lambda_min:.4g} vs {h['lambda_min_inf']:.4g}; λ_max {lam().lambda_max:.4g} "
                         f"vs {h['lambda_max_inf']:.4g}", "Θ̂₀ → K as m → ∞",
                 requires=[precondition(len(at_top) > 0, f"no run at m={top} has a stored Θ₀")]),
        reported("relative kernel drift ‖Θ̂_T−Θ̂₀‖_F/‖Θ̂₀‖_F vs m (all methods)", lambda: by_width("kernel_drift"),
                 "lazy regime: O(m^−1/2) (Lee et al. 2019)", requires=every),
        reported("relative weight movement ‖θ_T−θ₀‖/‖θ₀‖ vs m", lambda: by_width("weight_change_rel"),
                 "lazy regime: O(m^−1/2)", requires=every),
    ]


def momentum_claims(rows: pd.DataFrame, runs: dict, o, hyper: dict) -> list[Claim]:
    """Every claim of the preset from the measured ``rows`` (one per run) and the runs keyed by
    (method, width, seed, eta divisor) (None when missing)."""
    st = _Study(rows, runs, o, hyper)
    return ([_divergence_claim(st)] + _linear_claims(st) + _gap_claims(st) + _rate_claims(st) + _eta_claims(st)
            + _reported(st))
