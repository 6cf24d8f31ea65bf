r"""``approximation-1d``: GD-trained shallow nets on [-1, 1] (Gentile & Welper 2022), options, run and claims.

Claims, with their preconditions (:mod:`._common`): every net of the target finished without diverging, >= 3
widths carry a positive finite error, and GD cut every net's relative error by a tenth.

1. ``{target}: network error falls with m (slope CI below 0)``: the log-log slope over all (width, seed)
   points, decided by its ``level`` interval (support: the interval and the nets it rests on);
2. ``gaussian: spline interpolant rate ≈ -2``: the uniform linear-spline interpolant (no training: it needs
   only the >= 3 knot counts);
3. ``gaussian: network rate no faster than the spline's``: each seed's own slope over m against the spline's
   (support "k/n seeds");
4. ``{target}: breakpoints move towards x0``: for each seed, the fraction of breakpoints within ``radius`` of
   the cusp / jump, pooled over widths, is larger after training than at init (support "k/n seeds"; it needs
   the nets finished and trained, not the widths).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from typing_extensions import Annotated

from ..._errors import one_of, within
from ...approximation import (
    BREAKPOINT_INITS,
    OUTPUT_INITS,
    PARAMS,
    SCALINGS,
    TARGET_DOMAINS,
    breakpoint_mass,
    loglog_fit,
    make_target,
    width_sweep,
)
from ...report import Claim, claim, enough, precondition, reported, seed_support
from .._registry import ExperimentResult
from ._common import (
    ci_support,
    enough_widths,
    fmt_fit,
    load_tables,
    net_problems,
    nets_usable,
    rate_table,
    save_tables,
    trained,
)
from ._plots import breakpoint_figure, curves_figure, error_figure, ntk_figure, weight_change_figure

__all__ = ["Approx1dOptions", "execute_1d", "analyse_1d", "Widths", "Trainable"]

Widths = Annotated[list[int], Field(min_length=1), AfterValidator(within(1, each=True))]
Trainable = Annotated[list[str], Field(min_length=1), AfterValidator(one_of(PARAMS, each=True))]
IntervalTargets = Annotated[list[str], Field(min_length=1),
                            AfterValidator(one_of([t for t, d in TARGET_DOMAINS.items() if d == "interval"],
                                                  each=True))]


class Approx1dOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: IntervalTargets = Field(default_factory=lambda: ["gaussian", "cusp", "jump"])
    gaussian_s: float = Field(0.2, gt=0)
    cusp_beta: float = Field(0.5, gt=0, lt=1)
    jump_x0: float = Field(1 / math.pi, gt=-1, lt=1)
    widths: Widths = Field(default_factory=lambda: [8, 16, 32, 64, 128, 256, 512])
    seeds: int = Field(3, ge=1)
    steps: int = Field(10_000, ge=1)
    every: int = Field(250, ge=1)
    n_quad: int = Field(2000, ge=2)
    lr_factor: float = Field(1.0, gt=0)
    scaling: Annotated[str, AfterValidator(one_of(SCALINGS))] = "ntk"
    trainable: Trainable = Field(default_factory=lambda: ["a", "w", "b"])
    breakpoints: Annotated[str, AfterValidator(one_of(BREAKPOINT_INITS))] = "uniform"
    output: Annotated[str, AfterValidator(one_of(OUTPUT_INITS))] = "symmetric"
    ntk_widths: Annotated[list[int], AfterValidator(within(1, each=True))] = Field(default_factory=lambda: [64, 256])
    radius: float = Field(0.1, gt=0)
    level: float = Field(0.95, gt=0, lt=1)


def _targets(o: Approx1dOptions):
    opts = {"gaussian": {"s": o.gaussian_s}, "cusp": {"beta": o.cusp_beta}, "jump": {"x0": o.jump_x0}}
    return [make_target(t, **opts.get(t, {})) for t in o.targets]


def execute_1d(o: Approx1dOptions, out: Path, progress: bool) -> None:
    say = (lambda m: print(f"approximation-1d: width {m} done", flush=True)) if progress else None
    frames = width_sweep(_targets(o), o.widths, seeds=o.seeds, steps=o.steps, n_quad=o.n_quad,
                         lr_factor=o.lr_factor, every=o.every, scaling=o.scaling, trainable=o.trainable,
                         breakpoints=o.breakpoints, output=o.output, ntk_widths=o.ntk_widths, progress=say)
    save_tables(frames, out)


class _Target:
    """One target's nets and what its claims require of them: ``requires`` for a slope over m (usable nets,
    enough widths, trained), ``trained`` for the breakpoints (usable nets, trained)."""

    def __init__(self, o: Approx1dOptions, name: str, fr: dict):
        e, cv = fr["errors"], fr["curves"]
        self.errors = e[e.target == name]
        self.usable = nets_usable(self.errors, expected=len(o.widths) * o.seeds, what=f"{name} nets")
        self.requires = self.trained = [self.usable]
        if self.usable.ok:
            level = trained(self.errors, cv[cv.target == name], ["target", "m", "seed"], name)
            self.requires = [self.usable, enough_widths(self.errors, what=f"{name} widths"), level]
            self.trained = [self.usable, level]


def _rate(rates: pd.DataFrame, target: str, method: str) -> pd.Series:
    """The fitted rate of ``method`` for ``target`` (NaN throughout when there is none)."""
    sel = rates[(rates.target == target) & (rates.method == method)]
    return sel.iloc[0] if len(sel) else pd.Series(float("nan"), index=rates.columns)


def _rate_claims(o: Approx1dOptions, rates: pd.DataFrame, nets: dict) -> list[Claim]:
    out = []
    get = lambda t, m: _rate(rates, t, m)  # noqa: E731
    for t, tg in nets.items():
        r, ri, rp = get(t, "network"), get(t, "interpolant"), get(t, "projection")
        out.append(claim(f"{t}: network error falls with m (slope CI below 0)", r.ci_high < 0,
                         f"network {fmt_fit(r)}; spline interpolant {fmt_fit(ri)}, projection {fmt_fit(rp)}",
                         "slope < 0; splines: gaussian -2, cusp -(β+1/2), jump -1/2", requires=tg.requires,
                         support=ci_support(r, o.level)))
    if "gaussian" in nets:
        r, ri = get("gaussian", "network"), get("gaussian", "interpolant")
        knots = int(ri.n) if ri.n == ri.n else 0  # NaN: no spline row
        out.append(claim("gaussian: spline interpolant rate ≈ -2", abs(ri.slope + 2) <= 0.15, fmt_fit(ri),
                         "-2 ± 0.15 (h² ‖f''‖)", requires=[enough(knots, 3, "knot counts")]))
        e = nets["gaussian"].errors
        per_seed = loglog_fit(e, y="error", by=["seed"], level=o.level) if len(e) else pd.DataFrame(columns=["slope"])
        flags = [s >= ri.slope for s in per_seed.slope]
        out.append(claim("gaussian: network rate no faster than the spline's", lambda: all(flags),
                         f"network {fmt_fit(r)} (per seed {', '.join(f'{s:.2f}' for s in per_seed.slope)}) vs "
                         f"spline {fmt_fit(ri)}; loss in rate {r.slope - ri.slope:+.2f}",
                         "network slope ≥ spline slope (loss in approximation rate)",
                         requires=nets["gaussian"].requires, support=seed_support(flags)))
    return out


def _breakpoint_claims(o: Approx1dOptions, bps: pd.DataFrame, nets: dict) -> list[Claim]:
    singular = {f.name: f.singularities[0] for f in _targets(o) if f.singularities}
    out, mbig = [], max(o.widths)
    for t, x0 in singular.items():
        sub = bps[bps.target == t]
        mass = lambda s, phase: breakpoint_mass(s[s.phase == phase].t, x0, o.radius)  # noqa: E731
        seeds = [sub[sub.seed == s] for s in range(o.seeds)]
        flags = [mass(s, "final") > mass(s, "init") for s in seeds]
        big = sub[sub.m == mbig]
        recorded = precondition(all(len(s) for s in seeds), f"{t}: breakpoints of some seeds were never recorded")
        out.append(claim(f"{t}: breakpoints move towards x={x0:.3g} (mass within {o.radius:g})", lambda: all(flags),
                         lambda: f"all widths: init {mass(sub, 'init'):.4f} → final {mass(sub, 'final'):.4f}; "
                                 f"m={mbig}: {mass(big, 'init'):.4f} → {mass(big, 'final'):.4f}",
                         "final > init (adaptive grid)", requires=nets[t].trained + [recorded],
                         support=seed_support(flags)))
    return out


def _ntk_decay(ntk: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for m, g in ntk[(ntk.phase == "init")].groupby("m"):
        g = g[g.target == g.target.iloc[0]]
        k = g["index"].values
        sel = (k >= 4) & (k <= max(8, m // 4))  # the bulk, well below the finite-width cut-off (rank <= 3m)
        fit = loglog_fit(pd.DataFrame({"m": k[sel], "error": g.eigenvalue.values[sel]}))
        rows.append({"m": int(m), "slope": fit.slope.iloc[0]})
    return pd.DataFrame(rows, columns=["m", "slope"])


def _reported(o: Approx1dOptions, fr: dict, nets: dict) -> tuple[list[Claim], dict]:
    e = fr["errors"]
    wc = loglog_fit(e, y="weight_change", by=["target"], level=o.level)
    claims = [reported("relative weight change vs m",
                       "; ".join(f"{r.target}: slope {fmt_fit(r)}" for r in wc.itertuples()), "lazy: ≈ -1/2",
                       requires=[tg.usable for tg in nets.values()])]
    decay = _ntk_decay(fr["ntk"])
    if set(o.ntk_widths) & set(o.widths):
        claims.append(reported("NTK eigenvalue decay λ_k ~ k^p, 4 ≤ k ≤ m/4, at init",
                               lambda: "; ".join(f"m={r.m}: p={r.slope:.2f}" for r in decay.itertuples()),
                               "(no paper value)",
                               requires=[precondition(not decay.empty, "no NTK spectrum was recorded")]))
    status = e.status.value_counts().to_dict()
    claims.append(reported("GD runs", f"{status}; final rel. errors at m={e.m.max()}: " + ", ".join(
        f"{t}: {g.rel_error.mean():.3g}" for t, g in e[e.m == e.m.max()].groupby("target", sort=False)),
        f"{o.steps} steps, lr_factor {o.lr_factor}"))
    return claims, {"weight_change_rates": wc, "ntk_decay": decay}


def analyse_1d(o: Approx1dOptions, out: Path) -> ExperimentResult:
    fr = load_tables(out, ["errors", "splines", "curves", "breakpoints", "ntk"])
    e = fr["errors"]
    rates = rate_table(e, fr["splines"], o.level, ["target"])
    nets = {t: _Target(o, t, fr) for t in o.targets}
    claims = _rate_claims(o, rates, nets) + _breakpoint_claims(o, fr["breakpoints"], nets)
    more, tables = _reported(o, fr, nets)
    tables = {"rates": rates, **tables,
              "errors_mean": e.groupby(["target", "m"])[["rel_error", "weight_change"]].mean().reset_index()}
    return ExperimentResult(out=out, claims=claims + more, figures=_figures(o, fr, rates, out), tables=tables,
                            problems=net_problems(e))


def _figures(o, fr, rates, out: Path) -> list[Path]:
    fdir = out / "figures"
    singular = {f.name: f.singularities[0] for f in _targets(o) if f.singularities}
    figs = [error_figure(fr["errors"], fr["splines"], rates, fdir / "approx1d_error_vs_width.png"),
            curves_figure(fr["curves"], fdir / "approx1d_training_curves.png"),
            weight_change_figure(fr["errors"], fdir / "approx1d_weight_change.png"),
            breakpoint_figure(fr["breakpoints"], singular, fdir / "approx1d_breakpoints.png", m=max(o.widths))]
    if not fr["ntk"].empty:
        figs.append(ntk_figure(fr["ntk"], fdir / "approx1d_ntk_spectrum.png"))
    return figs
