r"""The claims of ``deep-learnability`` over its tables, each with its preconditions.

Tables (see :mod:`.learnability`): ``krr`` one row per (activation, seed, depth, n) with the kernel learner's
held-out explained variance ``fc`` (centred target) and ``f`` (fraction of the raw target's second moment);
``theory_krr`` the eigenlearning prediction of ``fc``; ``sq`` the measured ||P_l f||^2 / E f^2 per output;
``theory_masses`` the Gegenbauer masses alpha_l(L) / k_L(1); ``nets`` the trained networks' ``fc``; ``constants``
mu, a_1^2, ln(1/a_1^2) and rho* per activation.

A decay rate is the negative slope of ln F against depth L (:func:`decay_rate`), fitted per seed over a window of
depths 1..L_hi: for the learners, the depths before the seed-mean F first drops below ``fit_min`` (a learnable
fraction below it is within a few standard errors of the finite-width floor); for the SQ quantity, the depths where
the theory mass is >= ``sq_min`` = 0.1 (a finite network's low-degree mass exceeds the infinite-width one by
O(1/m), about 0.01 at m = 512 and depth 12 here, so below 0.1 the comparison would test the width, not the theory).
The interval of a rate is the 95% Student-t interval of the fitted slope.  Every comparison is decided per seed and
reports its support.  Preconditions: the activation (and, for the trained nets, every run) is there, at least 4
depths in a window, the values fitted are finite and positive.

Example:
    >>> import numpy as np
    >>> from ntklab.experiments.conditioning._learnability_claims import decay_rate, depth_window
    >>> import pandas as pd
    >>> depth_window(pd.Series([0.9, 0.5, 0.2, 0.04, 0.1], index=[1, 2, 3, 4, 5]), 0.05)
    [1, 2, 3]
    >>> r = decay_rate([1, 2, 3, 4], np.exp(-0.3 * np.arange(1, 5)))
    >>> round(r.rate, 6), r.r2_exp > r.r2_pow
    (0.3, True)
"""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..._fits import line_fit
from ...report import Claim, all_finite, claim, enough, precondition, reported, runs_usable, seed_support
from ._learnability_data import CENTRED

__all__ = ["learnability_claims", "decay_rate", "depth_window", "Rate", "SQ_MIN", "agrees", "between_networks"]

SQ_MIN = 0.1
_AGREE_TEXT = ("the prediction within every seed's 95% random-effects interval, rate ± 1.96 √(se² + τ²): se the "
               "fit's, τ the spread between the random networks beyond it")
_Stored = namedtuple("_Stored", "name status")


@dataclass(frozen=True)
class Rate:
    """rate = -d ln F / dL with its 95% interval [lo, hi]; R^2 of the semi-log and of the log-log fit."""

    rate: float
    lo: float
    hi: float
    r2_exp: float
    r2_pow: float

    @property
    def half(self) -> float:
        return (self.hi - self.lo) / 2

    def __str__(self) -> str:
        return f"{self.rate:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def decay_rate(depths, values) -> Rate:
    depths, values = np.asarray(depths, float), np.asarray(values, float)
    log = np.log(np.clip(values, 1e-300, None))
    exp, pw = line_fit(depths, log), line_fit(np.log(depths), log)
    return Rate(-exp.slope, -exp.ci_high, -exp.ci_low, exp.r2, pw.r2)


def depth_window(mean: pd.Series, level: float) -> list[int]:
    """The depths from the first up to (not including) the first one where ``mean`` falls below ``level``."""
    out = []
    for depth, v in mean.sort_index().items():
        if not v >= level:
            break
        out.append(int(depth))
    return out


def _curves(frame: pd.DataFrame, label: str, col: str = "fc", **where) -> pd.DataFrame:
    sel = frame[frame.activation == label]
    for k, v in where.items():
        sel = sel[sel[k] == v]
    return sel.pivot_table(index="depth", columns="seed", values=col, aggfunc="mean").sort_index()


def _sq_curves(sq: pd.DataFrame, label: str, lo: int, hi: int) -> pd.DataFrame:
    """Per seed (columns) and depth: the mean over outputs of sum_{lo <= l <= hi} ||P_l f||^2 / E f^2."""
    sel = sq[(sq.activation == label) & sq.degree.between(lo, hi)]
    per_output = sel.groupby(["seed", "depth", "output"]).mass.sum().reset_index()
    return per_output.pivot_table(index="depth", columns="seed", values="mass", aggfunc="mean").sort_index()


def _theory_mass(t: dict, label: str, lo: int, hi: int) -> pd.Series:
    m = t["theory_masses"]
    return m[(m.activation == label) & m.degree.between(lo, hi)].groupby("depth").mass.sum()


def _theory_fc(t: dict, label: str, n: int) -> pd.Series:
    th = t["theory_krr"]
    return th[(th.activation == label) & (th.n == n)].set_index("depth").fc.sort_index()


def _present(frame: pd.DataFrame, label: str, what: str):
    return precondition(len(frame) > 0, f"{label}: {what} was not computed")


def _window_checks(curves: pd.DataFrame, window: list[int], k: int, what: str) -> list:
    vals = curves.reindex(window).to_numpy() if window else np.array([])  # a depth not measured: NaN
    return [enough(len(window), k, f"depths with {what}"), all_finite(vals.ravel(), what),
            precondition(vals.size == 0 or bool((vals > 0).all()), f"{what}: a value <= 0 inside the window")]


def _seed_rates(curves: pd.DataFrame, window: list[int]) -> dict:
    return {s: decay_rate(window, curves.loc[window, s].to_numpy()) for s in curves.columns}


def between_networks(rates: dict) -> float:
    """tau: the spread of the per-seed rates beyond their fit errors (each seed is one random network of finite
    width, whose deviation from the infinite-width rate is shared by all its depths, so a line fit's interval does
    not see it): tau^2 = max(0, Var_s(rate) - mean_s(se^2)), se = the fit's 95% half-width / 1.96; 0 for one seed."""
    if len(rates) < 2:
        return 0.0
    r = np.array([x.rate for x in rates.values()])
    se = np.array([x.half / 1.96 for x in rates.values()])
    return float(math.sqrt(max(0.0, r.var(ddof=1) - float((se ** 2).mean()))))


def agrees(rates: dict, predicted: float):
    """Per seed: the prediction within 1.96 sqrt(se^2 + tau^2) of the seed's rate (the random-effects interval of a
    width-m network's rate), with tau of :func:`between_networks`."""
    tau = between_networks(rates)
    return seed_support(abs(x.rate - predicted) <= 1.96 * math.sqrt((x.half / 1.96) ** 2 + tau ** 2)
                        for x in rates.values()), tau


def _fmt_rates(rates: dict) -> str:
    return "; ".join(f"seed {s}: {r}" for s, r in rates.items())


def _kernel_claims(o, t: dict, label: str, c: pd.Series) -> tuple[list[Claim], dict]:
    """Exponential fall of the kernel learner's explained variance, and its rate against eigenlearning."""
    curves = _curves(t["krr"], label, n=o.claim_n)
    window = depth_window(curves.mean(axis=1), o.fit_min) if len(curves) else []
    requires = [_present(curves, label, "the kernel learner"), *_window_checks(curves, window, 4, "F_c >= fit_min")]
    ok = all(p.ok for p in requires)
    rates = _seed_rates(curves, window) if ok else {}
    theory = decay_rate(window, _theory_fc(t, label, o.claim_n).loc[window]) if ok else None
    head = f"{label}: kernel learner (n={o.claim_n})"
    span = f"window L = 1..{window[-1]}" if window else ""
    fall = seed_support(r.lo > 0 and r.r2_exp > r.r2_pow for r in rates.values())
    agree, tau = agrees(rates, theory.rate) if ok else (seed_support([]), math.nan)
    theory_text = (f"eigenlearning {theory.rate:.3f}; the linear part a₁^(2L): ln(1/a₁²) = {c.rate_linear:.3f}"
                   if ok else "")
    claims = [
        claim(f"{head}: explained variance falls exponentially with depth", lambda: fall.all,
              lambda: f"rate per layer [95% CI] {_fmt_rates(rates)} ({span}); R² semi-log / log-log: "
                      + ", ".join(f"{r.r2_exp:.3f} / {r.r2_pow:.3f}" for r in rates.values()),
              f"rate > 0 and a better semi-log than log-log fit, every seed; theory: {theory_text}",
              requires=requires, support=fall),
        claim(f"{head}: the rate is the eigenlearning prediction from the σ̂^(∘L) spectrum",
              lambda: agree.all, lambda: f"prediction {theory.rate:.3f} over the same {span}; measured "
                                         f"{_fmt_rates(rates)}; between-network spread τ = {tau:.4f}",
              _AGREE_TEXT, requires=requires, support=agree),
    ]
    return claims, {"rates": rates, "theory": theory, "window": window}


def _sq_claim(o, t: dict, label: str, c: pd.Series) -> Claim:
    """The measured squared correlation with degree-1..k polynomials decays like sigma-hat^{o L}'s mass."""
    curves = _sq_curves(t["sq"], label, 1, o.sq_degree)
    theory = _theory_mass(t, label, 1, o.sq_degree)
    window = depth_window(theory, SQ_MIN)
    requires = [_present(curves, label, "the SQ correlation"), *_window_checks(curves, window, 4, "the SQ mass")]
    ok = all(p.ok for p in requires)
    rates = _seed_rates(curves, window) if ok else {}
    th = decay_rate(window, theory.loc[window]) if ok else None
    support, tau = agrees(rates, th.rate) if ok else (seed_support([]), math.nan)
    shown = [L for L in (1, 2, 5, 10, 15, 20) if L in curves.index]

    def measured() -> str:
        mean = curves.mean(axis=1)
        pts = ", ".join(f"L={L}: {mean[L]:.3f} ({theory[L]:.3f})" for L in shown)
        return (f"rate {_fmt_rates(rates)} vs Gegenbauer {th.rate:.3f} (L = 1..{window[-1]}, theory mass ≥ {SQ_MIN}; "
                f"between-network spread τ = {tau:.4f}); "
                f"corr² measured (theory): {pts}")

    return claim(f"{label}: squared correlation with degree 1..{o.sq_degree} polynomials decays at σ̂^(∘L)'s rate",
                 lambda: support.all, measured,
                 f"{_AGREE_TEXT} (ln(1/a₁²) = {c.rate_linear:.3f} asymptotically)", requires=requires,
                 support=support)


def _net_claim(o, t: dict, label: str, kernel: dict) -> Claim:
    nets = t["nets"][t["nets"].activation == label]
    curves = nets[nets.status == "done"].pivot_table(index="depth", columns="seed", values="fc").sort_index()
    window = depth_window(curves.mean(axis=1), o.fit_min) if len(curves) else []
    stored = [r for r in nets.itertuples() if r.status != "missing"]
    predicted = _theory_fc(t, label, o.net_n)
    requires = [runs_usable([_Stored(r.run, r.status) for r in stored], expected=len(o.net_depths) * o.net_seeds),
                *_window_checks(curves, window, 4, "trained-net F_c >= fit_min"),
                precondition(set(window) <= set(predicted.index), f"no eigenlearning prediction at n={o.net_n}")]
    ok = all(p.ok for p in requires)
    rates = _seed_rates(curves, window) if ok else {}
    support = seed_support(r.lo > 0 and r.r2_exp > r.r2_pow for r in rates.values())
    th = decay_rate(window, predicted.loc[window]) if ok else None

    def measured() -> str:
        k = kernel.get("theory")
        return (f"rate {_fmt_rates(rates)} over depths {window} (R² semi-log / log-log: "
                + ", ".join(f"{r.r2_exp:.3f} / {r.r2_pow:.3f}" for r in rates.values())
                + f"); eigenlearning at n={o.net_n}: {th.rate:.3f}; "
                f"F_c by depth: " + ", ".join(f"L={L}: {v:.3f}" for L, v in curves.mean(axis=1).items())
                + (f"; kernel learner at n={o.claim_n}: {np.mean([r.rate for r in kernel['rates'].values()]):.3f}"
                   if k is not None else ""))

    return claim(f"{label}: trained shallow net (n={o.net_n}): explained variance falls exponentially with depth",
                 lambda: support.all, measured, "rate > 0 (95% interval) and a better semi-log than log-log fit, every seed; the kernel "
                 "learner's rate beside",
                 requires=requires, support=support)


def _n_claim(o, t: dict, label: str) -> Claim:
    """More samples learn more of every depth; the depth learnable to fit_min (reported) grows with n."""
    ns = sorted(o.n_train)
    krr = t["krr"]
    lo, hi = _curves(krr, label, n=ns[0]), _curves(krr, label, n=ns[-1])
    window = depth_window(lo.mean(axis=1), o.fit_min) if len(lo) else []
    seeds = [s for s in lo.columns if s in hi.columns]
    support = seed_support(bool((hi[s].reindex(window) > lo[s].reindex(window)).all()) for s in seeds)  # NaN: False

    def measured() -> str:
        reach = {n: [len(depth_window(col, o.fit_min)) for _, col in _curves(krr, label, n=n).items()] for n in ns}
        predicted = {n: len(depth_window(_theory_fc(t, label, n), o.fit_min)) for n in ns}
        gain = ", ".join(f"L={L}: {lo.loc[L].mean():.3f} → {hi.loc[L].mean():.3f}" for L in window[:: max(1, len(window) // 5)])
        return (f"F_c at n={ns[0]} → n={ns[-1]} (seed means): {gain}; last depth with F_c ≥ {o.fit_min:g}: "
                + "; ".join(f"n={n}: {', '.join(map(str, reach[n]))} (eigenlearning {predicted[n]})" for n in ns)
                + f" (of {o.max_depth})")

    return claim(f"{label}: kernel learner: more samples learn more of every depth", lambda: support.all, measured,
                 f"F_c(n={ns[-1]}) > F_c(n={ns[0]}) at every depth of the n={ns[0]} window, every seed (each layer "
                 "multiplies the samples needed by 1/a₁² to 1/a₁⁴)",
                 requires=[enough(len(ns), 2, "sample sizes"), enough(len(window), 1, f"depths with F_c ≥ fit_min "
                           f"at n={ns[0]}"), enough(len(seeds), 1, "seeds")], support=support)


def _order_claim(o, t: dict, rates: dict, mu: pd.Series) -> Claim:
    """Per seed: the kernel learner's rates increase with mu on the pairs the measurement resolves."""
    labels = sorted((a for a in rates if rates[a]["rates"]), key=lambda a: mu[a])
    pairs = list(zip(labels, labels[1:])) + ([(labels[0], labels[-1])] if len(labels) > 2 else [])  # + extremes
    seeds = sorted(set.intersection(*(set(rates[a]["rates"]) for a in labels))) if labels else []

    def resolvable(a, b) -> bool:
        half = np.mean([rates[a]["rates"][s].half + rates[b]["rates"][s].half for s in seeds])
        return abs(rates[b]["theory"].rate - rates[a]["theory"].rate) > half

    def ordered(s) -> bool:
        out = True
        for a, b in pairs:
            ra, rb = rates[a]["rates"][s], rates[b]["rates"][s]
            out &= rb.rate > ra.rate if resolvable(a, b) else rb.rate > ra.rate - (ra.half + rb.half)
        return out

    support = seed_support(ordered(s) for s in seeds)

    def measured() -> str:
        shown = "; ".join(f"{a} (μ={mu[a]:.3f}): {np.mean([r.rate for r in rates[a]['rates'].values()]):.3f} "
                          f"(eigenlearning {rates[a]['theory'].rate:.3f})" for a in labels)
        unresolved = [f"{a} ~ {b}" for a, b in pairs if not resolvable(a, b)]
        return shown + (f"; unresolved (theory gap below the 95% half-widths): {', '.join(unresolved)}"
                        if unresolved else "")

    return claim("kernel learner: the rate of decay is faster for larger μ", lambda: support.all, measured,
                 "increasing in μ on every pair whose predicted gap exceeds the rates' 95% half-widths, and no "
                 "significant inversion on the others, every seed", support=support,
                 requires=[enough(len(labels), 2, "centred activations with a rate"), enough(len(seeds), 1, "seeds")])


def _relu_claim(o, t: dict, c: pd.Series) -> Claim:
    """Plain relu: correlations tend to rho* != 0, so the low-degree mass and the learnable fraction stay up."""
    sq = _sq_curves(t["sq"], "relu", 0, o.sq_degree)
    f = _curves(t["krr"], "relu", "f", n=o.claim_n)
    theory = _theory_mass(t, "relu", 0, o.sq_degree)
    requires = [_present(sq, "relu", "the SQ correlation"), _present(f, "relu", "the kernel learner"),
                all_finite(np.concatenate([sq.to_numpy().ravel(), f.to_numpy().ravel()]), "relu's fractions")]
    seeds = [s for s in sq.columns if s in f.columns]
    support = seed_support(sq[s].min() >= 0.5 and f[s].min() >= 0.5 for s in seeds)
    centred = [a for a in CENTRED if a in o.activations]

    def measured() -> str:
        deepest = sq.index.max()
        others = ", ".join(f"{a}: {_sq_curves(t['sq'], a, 1, o.sq_degree).mean(axis=1).get(deepest, math.nan):.3f}"
                           for a in centred)
        return (f"min over depths, per seed: corr² with degree ≤ {o.sq_degree} "
                + ", ".join(f"{sq[s].min():.3f}" for s in seeds) + "; kernel learner's fraction of E f² "
                + ", ".join(f"{f[s].min():.3f}" for s in seeds)
                + f"; at L={deepest}: measured {sq.mean(axis=1)[deepest]:.3f}, theory {theory[deepest]:.3f} (ρ* = "
                  f"{c.rho_star:g}); the centred activations' degree 1..{o.sq_degree} at L={deepest}: {others}")

    return claim("relu (not centred): the fall saturates, correlations tend to ρ* ≠ 0", lambda: support.all,
                 measured, f"≥ 1/2 at every depth, every seed: σ̂^(∘L)(t) → ρ* = {c.rho_star:g} for |t| < 1, so "
                           f"the degree-0 mass → ρ*", requires=requires, support=support)


def _table_claim(o, t: dict, label: str) -> Claim:
    curves = _curves(t["krr"], label, n=o.claim_n)
    th = _theory_fc(t, label, o.claim_n)
    shown = [L for L in (1, 2, 3, 5, 8, 10, 12, 15, 20) if L in curves.index]
    return reported(f"{label}: kernel learner's explained variance by depth (n={o.claim_n})",
                    lambda: ", ".join(f"L={L}: {curves.loc[L].mean():.3f} ({th.get(L, math.nan):.3f})" for L in shown),
                    "measured mean over seeds (eigenlearning prediction)",
                    requires=[_present(curves, label, "the kernel learner")])


def learnability_claims(o, t: dict) -> list[Claim]:
    constants = t["constants"].set_index("activation")
    claims, rates = [], {}
    for label in o.activations:
        c = constants.loc[label]
        if label in CENTRED:
            kernel_claims, rates[label] = _kernel_claims(o, t, label, c)
            claims += [*kernel_claims, _sq_claim(o, t, label, c), _n_claim(o, t, label)]
            if label in o.net_activations:
                claims.append(_net_claim(o, t, label, rates[label]))
        claims.append(_table_claim(o, t, label))
    claims.append(_order_claim(o, t, rates, constants.mu))
    if "relu" in o.activations:
        claims.append(_relu_claim(o, t, constants.loc["relu"]))
    return claims
