r"""Claims of the ``momentum`` preset, decided seed by seed, with their preconditions.

Every claim names the runs it reads and declares what it needs:

- the runs are all there, finished and not diverged (:func:`ntklab.report.runs_usable`), and each has its
  stored Theta_0 and e_0 (``init/<run directory>.npz``);
- a tail-window fit (rate, power law, R^2) rests on >= 3 recorded steps, and the loss fell across the window by
  at least ``TAIL_DROP`` (one decade): over less, log L moves by < 2.3 and a straight line cannot be told from
  the bend of a plateau, so a rate or R^2 read there says nothing about the convergence it is claimed for;
- a trend over the widths has >= 3 widths with finite values.

A comparison across seeds is decided per seed (support "k/n seeds"): each seed's run (or, for the trends over
m, each seed's width sweep) must satisfy the claim; the measured column gives the means beside it.

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

__all__ = ["momentum_claims", "tail_window", "TAIL_DROP", "MIN_TAIL_POINTS", "MIN_WIDTHS", "LABELS"]

LABELS = {"gd": "GD", "heavy_ball": "HB", "nag": "NAG β_k=(k−1)/(k+2)", "nag_sc": "NAG-SC"}
TAIL_DROP = 0.1  # L(window end) / L(window start) must fall below this for a tail fit to read a rate
MIN_TAIL_POINTS = 3  # a line and its R^2 need more than two points
MIN_WIDTHS = 3  # a trend in m (and the slope reported beside it) needs three widths


def _fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


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
    """The measured rows, the runs keyed by (method, width, seed) and the options the claims read."""

    def __init__(self, rows: pd.DataFrame, runs: dict, o, hyper: dict):
        self.rows, self.runs, self.o, self.hyper = rows, runs, o, hyper
        self.top = max(o.widths)

    def at(self, method: str) -> pd.DataFrame:
        """Measured rows of ``method`` at the largest width, in seed order."""
        r = self.rows
        return r[(r.method == method) & (r.width == self.top)].sort_values("seed")

    def usable(self, methods, widths=None) -> list[Precondition]:
        """The runs of ``methods`` x ``widths`` (default the largest width) x seeds: there, done, measured."""
        widths = [self.top] if widths is None else widths
        keys = [(m, w, s) for m in methods for w in widths for s in range(self.o.seeds)]
        present = [self.runs[k] for k in keys if self.runs.get(k) is not None]
        pre = runs_usable(present, expected=len(keys), what=" + ".join(LABELS[m] for m in methods) + " runs")
        if not pre.ok:
            return [pre]
        measured = {(m, w, s) for m, w, s in zip(self.rows.method, self.rows.width, self.rows.seed)}
        lacking = [self.runs[k].name for k in keys if k not in measured]
        return [precondition(not lacking, f"{len(lacking)} runs have no stored Θ₀ (init/<run>.npz): "
                                          + ", ".join(lacking[:4]))]

    def with_rate_tails(self, methods) -> list[Precondition]:
        """Usable runs at the largest width whose linear-rate tail fits read a rate."""
        pre = self.usable(methods)
        if all(p.ok for p in pre):
            for m in methods:
                pre += tail_window(self.at(m), "rate", LABELS[m])
        return pre


def _linear_claims(st: _Study) -> list[Claim]:
    thr, out = st.o.r2_threshold, []
    for m in ("gd", "heavy_ball"):
        if m in st.o.methods:
            sub = st.at(m)
            flags = [r2 >= thr for r2 in sub.rate_r2]
            out.append(claim(f"{LABELS[m]}: tail of log-loss is a straight line (R² ≥ {thr:g}, every seed)",
                             lambda f=flags: all(f), lambda s=sub: f"R² {_fmt(s.rate_r2)}; rate/step {_fmt(s.rate)}",
                             "linear convergence", requires=st.with_rate_tails([m]), support=seed_support(flags)))
    if {"gd", "heavy_ball"} <= set(st.o.methods):
        g, h = st.at("gd"), st.at("heavy_ball")
        flags = [hb > gd for hb, gd in zip(h.rate, g.rate)]
        out.append(claim("HB's rate beats GD's", lambda: all(flags),
                         lambda: f"HB {h.rate.mean():.4g} vs GD {g.rate.mean():.4g} per step "
                                 f"({h.rate.mean() / g.rate.mean():.2f}×)",
                         "HB ≈ exp(−√(λ₀η) k) vs GD exp(−λ₀η k)",
                         requires=st.with_rate_tails(["gd", "heavy_ball"]), support=seed_support(flags)))
    if "nag" in st.o.methods:
        sub = st.at("nag")
        flags = [p <= -2 and r2 < thr for p, r2 in zip(sub.power, sub.rate_r2)]
        pre = st.with_rate_tails(["nag"])
        if all(p.ok for p in pre):
            pre += tail_window(sub, "power", LABELS["nag"])
        out.append(claim("NAG (β_k=(k−1)/(k+2)): log-log tail slope ≤ −2, semilog fit not linear",
                         lambda: all(flags),
                         lambda: f"log-log slope {_fmt(sub.power)} (R² {_fmt(sub.power_r2)}); semilog R² "
                                 f"{_fmt(sub.rate_r2)}", f"sublinear; ODE loss ~ t^{NAG_LOSS_POWER:g} (discrete: × "
                                                         f"(1−ηλ)^k)", requires=pre, support=seed_support(flags)))
    if "nag_sc" in st.o.methods:
        sub = st.at("nag_sc")
        out.append(reported("NAG-SC: tail of log-loss linear", lambda: f"R² {_fmt(sub.rate_r2)}; rate/step "
                                                                       f"{_fmt(sub.rate)}",
                            "linear (constant damping)", requires=st.with_rate_tails(["nag_sc"])))
    return out


def _gap_claims(st: _Study) -> list[Claim]:
    out, rows, methods = [], st.rows, list(st.o.methods)
    pre = st.usable(methods, st.o.widths) + [enough(len(st.o.widths), MIN_WIDTHS, "widths")]
    for col, what in (("gap_sqrt", "max|√L−√L̂|/√L₀"), ("gap_log", "max|log(L/L̂)| over the tail")):
        sweeps = [rows[(rows.method == m) & (rows.seed == s)].sort_values("width")[col] for m in methods
                  for s in range(st.o.seeds)]
        flags = [ordered(v, increasing=False) for v in sweeps]

        def measured(col=col):
            g = rows.groupby(["method", "width"])[col].mean()
            slope = {m: loglog_fit(g.loc[m].index, g.loc[m].values).slope for m in methods}
            parts = [f"{LABELS[m]}: {_fmt(g.loc[m].values)} (slope {slope[m]:.2f})" for m in methods]
            return f"m = {', '.join(str(w) for w in st.o.widths)} → " + "; ".join(parts)

        finite = [all_finite(rows[col], col)] if all(p.ok for p in pre) else []
        out.append(claim(f"gap real vs predicted shrinks as m grows ({what})", lambda f=flags: all(f), measured,
                         "lazy regime: O(m^−1/2)", requires=pre + finite,
                         support=seed_support(flags, "method × seed sweeps")))
    return out


def _rate_claims(st: _Study) -> list[Claim]:
    out, tol = [], st.o.rate_tolerance
    for m in st.o.methods:
        sub = st.at(m)
        specs = [("rate/step", "rate", "pred_rate", "rate", "−2 log ρ(Θ̂₀, η, β)",
                  lambda s=sub: f"; ODE limit {s.ode_rate.mean():.4g}")]
        if m == "nag":
            specs = [("log-log power", "power", None, "power", "ODE limit: loss ~ t^−3", lambda: ""),
                     ("rate/step of L·k³", "rate_k3", "pred_rate", "rate",
                      "discrete NAG: L ~ (1−ηλ_min)^k k^−3, rate −log(1−ηλ_min)", lambda: "")]
        for what, col, pred_col, window, expected, extra in specs:
            meas = sub[col].to_numpy(float)
            pred = sub[pred_col].to_numpy(float) if pred_col else np.full(meas.shape, NAG_LOSS_POWER)
            with np.errstate(divide="ignore", invalid="ignore"):  # a diverged run's NaN rate: INCONCLUSIVE below
                off = np.abs(meas / pred - 1)
            pre = st.usable([m])
            if all(p.ok for p in pre):
                pre += tail_window(sub, window, LABELS[m])
            out.append(claim(
                f"{LABELS[m]}: measured {what} within {tol:.0%} of predicted (largest m)",
                lambda o=off: bool(np.all(o <= tol)),
                lambda mm=meas, pp=pred, o=off, x=extra: (f"{mm.mean():.4g} vs {pp.mean():.4g} "
                                                          f"({abs(mm.mean() / pp.mean() - 1):.1%} off)"
                                                          + (f"; per seed {', '.join(f'{v:.1%}' for v in o)} off"
                                                             if len(o) > 1 else "") + x()),
                expected, requires=pre, support=seed_support(off <= tol)))
    return out


def _divergence_claim(st: _Study) -> Claim:
    keys = [(m, w, s) for w in st.o.widths for m in st.o.methods for s in range(st.o.seeds)]
    runs = [st.runs.get(k) for k in keys]
    absent = sum(r is None for r in runs)
    open_ = [r.name for r in runs if r is not None and r.status not in ("done", "diverged")]
    diverged = [r.name for r in runs if r is not None and r.status == "diverged"]
    ended = precondition(not absent and not open_, f"{absent} of {len(keys)} runs missing, {len(open_)} failed or "
                                                   f"unfinished ({', '.join(open_[:4])})")
    names = ", ".join(diverged[:6]) + (", ..." if len(diverged) > 6 else "")
    lam = st.hyper["lambda_max_inf"]
    return claim("no run diverged (η below every method's stability bound)", not diverged,
                 f"{len(diverged)} of {len(keys)} diverged" + (f": {names}" if diverged else ""),
                 f"η = {st.hyper['lr']:.4g}, λ_max(2K/n) η = {st.hyper['lr'] * lam:.3g}", requires=[ended])


def _reported(st: _Study) -> list[Claim]:
    rows, top = st.rows, st.top
    at_top = rows[rows.width == top]
    lam = lambda: at_top.groupby("method")[["lambda_min", "lambda_max"]].mean().mean()  # noqa: E731
    h = st.hyper
    mv = lambda: rows.groupby("width").weight_change_rel.mean()  # noqa: E731
    return [
        reported("λ(2Θ̂₀/n) at the largest m vs the infinite-width kernel",
                 lambda: f"λ_min {lam().lambda_min:.4g} vs {h['lambda_min_inf']:.4g}; λ_max {lam().lambda_max:.4g} "
                         f"vs {h['lambda_max_inf']:.4g}", "Θ̂₀ → K as m → ∞",
                 requires=[precondition(len(at_top) > 0, f"no run at m={top} has a stored Θ₀")]),
        reported("relative weight movement ‖θ_T−θ₀‖/‖θ₀‖ vs m",
                 lambda: ", ".join(f"m={w}: {v:.3g}" for w, v in mv().items())
                 + f"; slope {loglog_fit(mv().index, mv().values).slope:.2f}", "lazy regime: O(m^−1/2)",
                 requires=st.usable(list(st.o.methods), st.o.widths)),
    ]


def momentum_claims(rows: pd.DataFrame, runs: dict, o, hyper: dict) -> list[Claim]:
    """Every claim of the preset from the measured ``rows`` (one per run) and the runs keyed by
    (method, width, seed) (None when missing)."""
    st = _Study(rows, runs, o, hyper)
    return ([_divergence_claim(st)] + _linear_claims(st) + _gap_claims(st) + _rate_claims(st) + _reported(st))
