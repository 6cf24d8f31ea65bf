r"""The claims of ``approximation-1d`` and what each one says the theory says.

1. ``{target}: error at the lazy-window time τ_ρ falls with m (slope CI below 0)``: the log-log slope of
   ||f_tau - f||_{L2} at tau = tau_rho (:mod:`._lazy_window`: the training time, growing with m, up to which the
   energy estimate keeps every net within relative distance rho of its initialisation, the premise of the
   theorems' NTK argument) over the (width, seed) points, decided by its ``level`` interval.  The theorems
   (Gentile & Welper 2022; Welper 2023, 2024) bound the error at such a finite, width-dependent training time, not
   at convergence.  Widths with a net whose budget ended before tau_rho are excluded and named; fewer than 4:
   INCONCLUSIVE.  It FAILs when the errors at tau_rho do not fall with m (a net stuck at its initial plateau, or
   errors flat in m as at a fixed training time, where every wide net follows the same kernel flow).
   Old wording (issue 15): "converged error falls with m", INCONCLUSIVE at every budget: plain GD reaches the
   stopping rule at m = 8 only.
2. ``{target}: rate at τ_ρ no faster than the best m-term rate (loss in rate)`` for the Gaussian and the cusp:
   each seed's slope at tau_rho is no steeper than the best rate of continuous piecewise-linear
   functions with m pieces in L2: m^{-2} for any f in W^{2,2} (uniform knots already reach it for the smooth
   Gaussian; for |x|^beta free knots reach m^{-2} while uniform knots give m^{-(beta+1/2)}; DeVore, Nonlinear
   approximation, Acta Numerica 1998, sec. 6).  A shallow ReLU net of width m *is* a continuous piecewise-linear
   function with m free knots, so a faster rate would contradict approximation theory; the papers' claim is a
   *loss* in rate (Gentile & Welper 2022; Welper 2023): the measured loss slope_net - slope_best is shown, and the
   loss against the uniform spline.  For the jump the infimum over free knots is 0 at every m >= 2 (a ramp of
   vanishing width), so there is no finite best rate: only the loss against the uniform spline (m^{-1/2}) is
   reported.
3. ``{target}: breakpoints gather at x0``: per seed, the fraction of breakpoints t_r = -b_r / w_r within
   ``radius`` of the cusp / jump, pooled over widths, is larger after training than at init (the adaptive grid).
4. ``{target}: GD with a finite step reaches the gradient-flow error``: Welper 2024 proves for gradient
   *descent* with a finite step (below a step-size bound) the bounds of the gradient-flow analysis (Welper 2023).
   At each width and seed the step-size sweep runs eta = f / lambda_max(Theta_0) for every f of a grid, to one
   gradient-flow time T = f * steps; a run whose loss rose (the edge of stability) is unstable and stops.  PASS
   when, for every net, a step >= 4x the smallest (the stand-in for flow) reaches the flow error at T:
   e_GD(T) <= (1 + ``flow_tol``) e_flow(T).  One-sided, as the theorem is: GD attains the flow's error *bound*; a
   finite step that ends below the flow error (trajectories that pass a plateau at different times) attains it
   too.  Precondition: the smallest step stands in for flow (halving it changes the error by less than
   flow_tol / 2).  The issue's wording, "GD at the largest stable step reaches the small-step error",
   is reported beside it with its measurement (``{target}: largest stable step against flow``): stability
   (a descending loss, eta < 2 / sharpness) does not bound the deviation from the flow, which is first order in
   eta * sharpness (backward error analysis: GD follows the modified flow of L + (eta/4) ||grad L||^2, Barrett &
   Dherin 2021), so at the largest stable step the deviation can be of order one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...approximation import breakpoint_mass, loglog_fit
from ...report import Claim, claim, enough, precondition, reported, seed_support
from ._common import ci_support, enough_widths, fmt_fit, nets_usable, trained
from ._lazy_window import window_errors, window_text, window_widths

__all__ = ["TargetNets", "rate_claims", "breakpoint_claims", "flow_claims", "BEST_RATE"]

BEST_RATE = {"gaussian": -2.0, "cusp": -2.0}  # continuous piecewise-linear, m free knots, L2 (DeVore 1998)


class TargetNets:
    """One target's rate runs and what its claims require of them: ``window`` (the nets at tau_rho, the widths
    that reached it) and ``requires`` for a slope over them (usable nets, trained by tau_rho, >= 4 widths),
    ``trained`` for the breakpoints (usable nets, trained at the stop)."""

    def __init__(self, o, name: str, fr: dict):
        e, cv = fr["errors"], fr["curves"]
        cv = cv[cv.target == name]
        self.name = name
        self.errors = e[e.target == name]
        self.usable = nets_usable(self.errors, expected=len(o.widths) * o.seeds, what=f"{name} nets")
        self.requires = self.trained = [self.usable]
        self.window, self.excluded, self.half, self.span = self.errors.iloc[:0], [], self.errors.iloc[:0], ""
        if self.usable.ok:
            keys = ["target", "m", "seed"]
            at_tau = window_errors(self.errors, cv, keys, o.lazy_radius)
            self.window, self.excluded = window_widths(at_tau)
            self.half = window_widths(window_errors(self.errors, cv, keys, o.lazy_radius / 2))[0]
            self.span = window_text(at_tau, o.lazy_radius)
            self.requires = [self.usable, trained(self.window, cv, keys, f"{name} at τ_ρ"),
                             enough_widths(self.window, what=f"{name} widths at τ_ρ" +
                                           _excluded(self.excluded).replace("; ", " (", 1) + ")")]
            self.trained = [self.usable, trained(self.errors, cv, keys, name)]

    def fit(self, level: float, by=(), half: bool = False) -> pd.DataFrame:
        rows = self.half if half else self.window
        if rows.empty:
            return pd.DataFrame({"slope": [np.nan], "ci_low": [np.nan], "ci_high": [np.nan], "n": [0]})
        return loglog_fit(rows, y="error", by=list(by), level=level)


def _widths(rows: pd.DataFrame) -> list[int]:
    return sorted(int(m) for m in rows.m.unique())


def _excluded(excluded: list[str]) -> str:
    return ("; excluded: " + ", ".join(excluded)) if excluded else "; every width reached τ_ρ"


def _spline(rates: pd.DataFrame, target: str, method: str) -> pd.Series:
    sel = rates[(rates.target == target) & (rates.method == method)]
    return sel.iloc[0] if len(sel) else pd.Series(float("nan"), index=rates.columns)


def rate_claims(o, rates: pd.DataFrame, nets: dict) -> list[Claim]:
    """Claims 1 and 2 (and the spline reference the comparison rests on)."""
    out = []
    beta = o.cusp_beta
    uniform = {"gaussian": -2.0, "cusp": -(beta + 0.5), "jump": -0.5}
    for t, tg in nets.items():
        r = tg.fit(o.level).iloc[0]
        ri = _spline(rates, t, "interpolant")
        out.append(claim(
            f"{t}: error at the lazy-window time τ_ρ falls with m (slope CI below 0)", lambda r=r: r.ci_high < 0,
            lambda r=r, ri=ri, tg=tg: f"network {fmt_fit(r)} over m = {_widths(tg.window)} at {tg.span}; "
                                      f"uniform spline {fmt_fit(ri)}{_excluded(tg.excluded)}",
            f"slope < 0 (the theorems bound ||f_τ − f|| at a training time τ growing with m; uniform linear splines "
            f"in L2: {t} m^{uniform[t]:g})", requires=tg.requires, support=ci_support(r, o.level)))
    if "gaussian" in nets:
        ri = _spline(rates, "gaussian", "interpolant")
        knots = int(ri.n) if ri.n == ri.n else 0  # NaN: no spline row
        out.append(claim("gaussian: spline interpolant rate ≈ -2 (the reference)", abs(ri.slope + 2) <= 0.15,
                         f"{fmt_fit(ri)} at knots {list(o.spline_knots)}", "-2 ± 0.15 (h² ‖f''‖, asymptotic knots)",
                         requires=[enough(knots, 3, "knot counts")]))
    for t, best in BEST_RATE.items():
        if t not in nets:
            continue
        tg = nets[t]
        r, per_seed = tg.fit(o.level).iloc[0], tg.fit(o.level, by=["seed"])
        flags = [s >= best for s in per_seed.slope]
        ri = _spline(rates, t, "interpolant")
        out.append(claim(
            f"{t}: rate at τ_ρ no faster than the best m-term rate (loss in rate)", lambda f=flags: all(f),
            lambda r=r, p=per_seed, ri=ri, best=best: (
                f"network {fmt_fit(r)} (per seed {', '.join(f'{s:.2f}' for s in p.slope)}); loss in rate "
                f"{r.slope - best:+.2f} against the best m^{best:g}, {r.slope - ri.slope:+.2f} against the uniform "
                f"spline {ri.slope:.2f}"),
            f"slope ≥ {best:g}: a width-m ReLU net is a free-knot linear spline (DeVore 1998); the papers predict a "
            "loss in rate", requires=tg.requires, support=seed_support(flags)))
    if "jump" in nets:
        tg = nets["jump"]
        r, ri = tg.fit(o.level).iloc[0], _spline(rates, "jump", "interpolant")
        out.append(reported("jump: loss in rate against the uniform spline",
                            lambda: f"network {fmt_fit(r)} vs uniform spline {fmt_fit(ri)}: {r.slope - ri.slope:+.2f}",
                            "free knots: no finite best rate (a ramp of vanishing width); uniform spline m^-1/2",
                            requires=tg.requires))
    return out


def breakpoint_claims(o, targets, bps: pd.DataFrame, nets: dict) -> list[Claim]:
    singular = {f.name: f.singularities[0] for f in targets if f.singularities}
    out, mbig = [], max(o.widths)
    for t, x0 in singular.items():
        sub = bps[bps.target == t]
        mass = lambda s, phase: breakpoint_mass(s[s.phase == phase].t, x0, o.radius)  # noqa: E731
        seeds = [sub[sub.seed == s] for s in range(o.seeds)]
        flags = [mass(s, "final") > mass(s, "init") for s in seeds]
        big = sub[sub.m == mbig]
        recorded = precondition(all(len(s) for s in seeds), f"{t}: breakpoints of some seeds were never recorded")
        out.append(claim(
            f"{t}: breakpoints gather at x={x0:.3g} (mass within {o.radius:g})", lambda f=flags: all(f),
            lambda sub=sub, big=big, mass=mass: f"all widths: init {mass(sub, 'init'):.4f} → final "
                                                f"{mass(sub, 'final'):.4f}; m={mbig}: {mass(big, 'init'):.4f} → "
                                                f"{mass(big, 'final'):.4f}",
            "final > init (adaptive grid: Gentile & Welper)", requires=nets[t].trained + [recorded],
            support=seed_support(flags)))
    return out


def _sweep_table(g: pd.DataFrame) -> pd.DataFrame:
    """Per (m, seed) of one target: the flow proxy (smallest factor), its check (the next factor), the largest
    stable factor, and the largest factor >= 4x the flow proxy that reaches the flow error within flow_tol."""
    rows = []
    for (m, s), h in g.groupby(["m", "seed"]):
        h = h.sort_values("lr_factor")
        flow, half = h.iloc[0], h.iloc[1]
        stable = h[h.status.isin(["budget", "converged"])]
        big = stable.iloc[-1] if len(stable) else flow
        rows.append({"m": m, "seed": s, "flow_factor": flow.lr_factor, "flow_error": flow.rel_error,
                     "flow_ok": flow.status in ("budget", "converged") and half.status in ("budget", "converged"),
                     "proxy_change": abs(half.rel_error / flow.rel_error - 1),
                     "stable_factor": big.lr_factor, "stable_ratio": big.rel_error / flow.rel_error,
                     "finite": stable[stable.lr_factor >= 4 * flow.lr_factor].assign(
                         ratio=lambda d: d.rel_error / flow.rel_error)[["lr_factor", "ratio"]].values.tolist()})
    return pd.DataFrame(rows)


def _reaching(tab: pd.DataFrame, tol: float) -> list[float]:
    """Per net: the largest factor >= 4x the flow proxy whose error is at most (1 + tol) the flow's (NaN: none)."""
    return [max((f for f, r in fin if r <= 1 + tol), default=float("nan")) for fin in tab.finite]


def flow_claims(o, sweep: pd.DataFrame) -> tuple[list[Claim], pd.DataFrame]:
    """Claim 4 per target, the issue's wording as a measurement, and the sweep's table per (target, m, seed)."""
    out, tables = [], []
    for t in o.targets:
        g = sweep[sweep.target == t]
        name = f"{t}: GD with a finite step reaches the gradient-flow error"
        if g.empty or g.lr_factor.nunique() < 2:
            out.append(claim(name, None, "", requires=[precondition(False, f"{t}: no step-size sweep was recorded")]))
            continue
        tab = _sweep_table(g).assign(target=t)
        tab["reaching_factor"] = _reaching(tab, o.flow_tol)
        tables.append(tab)
        flags = list(tab.reaching_factor.notna())
        pre = [precondition(bool(tab.flow_ok.all()), f"{t}: a small-step run was itself unstable"),
               precondition(bool((tab.proxy_change <= o.flow_tol / 2).all()),
                            f"{t}: halving the smallest step changed the error by up to {tab.proxy_change.max():.1%} "
                            f"(> {o.flow_tol / 2:.1%}): it does not stand in for flow")]
        flow_f = tab.flow_factor.iloc[0]
        out.append(claim(
            name, lambda f=flags: all(f),
            lambda tab=tab: ("largest step reaching it: " + ", ".join(
                f"m={r.m}: f={r.reaching_factor:g}" for r in tab.itertuples())
                + f" (flow proxy f={flow_f:g}; halving it changes the error by ≤ {tab.proxy_change.max():.2%})"),
            f"a step f ≥ {4 * flow_f:g} has e_GD ≤ (1 + {o.flow_tol:g}) e_flow at the common flow time "
            "(Welper 2024: GD with a finite step attains the gradient-flow bounds)", requires=pre,
            support=seed_support(flags, "nets")))
        within = tab.stable_ratio <= 1 + o.flow_tol
        out.append(reported(
            f"{t}: largest stable step against flow (the issue's wording)",
            lambda tab=tab, within=within: (
                f"{int(within.sum())}/{len(tab)} nets reach (1 + {o.flow_tol:g}) e_flow; e(largest stable)/e(flow): "
                + ", ".join(
                    f"m={r.m}: f={r.stable_factor:g} {r.stable_ratio:.3f}" for r in tab.itertuples())),
            "stable (descending) is not flow-like: the deviation is first order in η·sharpness (Barrett & Dherin "
            "2021)", requires=pre))
    frame = pd.concat(tables, ignore_index=True).drop(columns=["finite"]) if tables else pd.DataFrame()
    return out, frame
