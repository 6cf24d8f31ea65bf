r"""``approximation-sphere``: GD-trained ReLU nets on S^{d-1} (Welper 2023/2024), options, run and claims.

Shallow nets (depth 1) and the deep variant of Welper 2023 (constant depth H >= 2, width m increasing, only the
second-to-last layer trained: :func:`ntklab.approximation.sphere_width_sweep`) are trained on a Monte Carlo
L2(S^{d-1}) loss (``n_points`` uniform points) from ``lr_factor`` / lambda_max(Theta_0), the step halved whenever
the loss rises, each net to the stopping rule of :func:`ntklab.approximation.descend` (the loss fell by less than
``tol`` over the last three quarters of the run) within ``steps``; the error is measured on ``n_test`` independent
points.

Claim per (depth, target, d): ``test error at the lazy-window time τ_ρ falls with width (slope CI below 0)``: the
log-log slope of the relative test error at tau_rho = rho^2 ||theta_0||^2 / L_0 (:mod:`._lazy_window`: the
training time up to which the energy estimate keeps the trained layer within relative distance rho of its
initialisation; it grows like the number of trained weights, m (d + 1) shallow, m (m + 1) deep) over the (width,
seed) points.  Welper 2023 / 2024 bound the error at such a finite, width-dependent training time (gradient flow;
gradient descent), not at convergence.  Widths with a net whose budget ended before tau_rho are excluded and named;
fewer than 4: INCONCLUSIVE.  Preconditions: no net diverged, GD cut every net's test error by a tenth by tau_rho.
Old wording (issue 15): "converged test error falls with width", INCONCLUSIVE at every budget (GD on these nets
has power-law tails).  The slope at rho / 2 is shown beside it.  Reported beside it: for the zonal target
|<x, z>|^beta (in H^s(S^{d-1}) for s < beta + 1/2: the singular set is a great circle) the classical linear rate
in N parameters, N^{-(beta+1/2)/(d-1)}, written in m with N ∝ m: the papers predict a *loss* against such rates,
and shallow ReLU nets are nonlinear approximants that may beat a linear rate, so this is a reference, not a bound.
Also reported: steps needed under the stopping rule, weight change.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from typing_extensions import Annotated

from ..._errors import one_of, within
from ...approximation import TARGET_DOMAINS, loglog_fit, make_target, sphere_width_sweep
from ...report import claim, reported
from .._registry import ExperimentResult
from ._common import ci_support, enough_widths, fmt_fit, load_tables
from ._common import net_problems, nets_usable, rate_table, save_tables, steps_needed, trained, with_status
from ._lazy_window import window_errors, window_text, window_widths
from ._on_interval import Trainable, Widths
from ._plots import curves_figure, error_figure, weight_change_figure

__all__ = ["ApproxSphereOptions", "execute_sphere", "analyse_sphere"]

SphereTargets = Annotated[list[str], Field(min_length=1),
                          AfterValidator(one_of([t for t, d in TARGET_DOMAINS.items() if d == "sphere"], each=True))]


class ApproxSphereOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dims: Annotated[list[int], Field(min_length=1), AfterValidator(within(2, each=True))] = Field(
        default_factory=lambda: [3])
    targets: SphereTargets = Field(default_factory=lambda: ["zonal", "harmonics"])
    zonal_beta: float = Field(0.5, gt=0)
    harmonics_s: float = Field(2.0, ge=0)
    harmonics_degree: int = Field(6, ge=1)
    widths: Widths = Field(default_factory=lambda: [16, 32, 64, 128])
    deep_depth: int = Field(2, ge=2)
    deep_widths: Annotated[list[int], AfterValidator(within(2, each=True))] = Field(
        default_factory=lambda: [8, 12, 16, 24])
    seeds: int = Field(2, ge=1)
    steps: int = Field(10_000, ge=1)
    tol: float = Field(0.2, gt=0, lt=1)  # the loss fell < 20 % over the last 3/4 of the run (t^-p: p < 0.13)
    every: int = Field(250, ge=1)
    n_points: int = Field(4000, ge=10)
    n_test: int = Field(4000, ge=10)
    lr_factor: float = Field(0.5, gt=0)
    trainable: Trainable = Field(default_factory=lambda: ["w", "b"])
    lazy_radius: float = Field(1.0, gt=0)  # rho of the lazy window tau_rho = rho^2 ||theta_0||^2 / L_0
    level: float = Field(0.95, gt=0, lt=1)


def _targets(o: ApproxSphereOptions):
    opts = {"zonal": {"beta": o.zonal_beta}, "harmonics": {"s": o.harmonics_s, "degree": o.harmonics_degree}}
    return [make_target(t, d=d, **opts.get(t, {})) for d in o.dims for t in o.targets]


def execute_sphere(o: ApproxSphereOptions, out: Path, progress: bool) -> None:
    runs = [(1, o.widths, o.trainable)] + ([(o.deep_depth, o.deep_widths, [k for k in o.trainable if k != "a"])]
                                           if o.deep_widths else [])
    frames = []
    for depth, widths, trainable in runs:
        say = (lambda s, h=depth: print(f"approximation-sphere: depth {h}, {s} done", flush=True)) if progress \
            else None
        frames.append(sphere_width_sweep(_targets(o), widths, seeds=o.seeds, steps=o.steps, n_points=o.n_points,
                                         n_test=o.n_test, lr_factor=o.lr_factor, every=o.every, tol=o.tol,
                                         on_rise="halve", trainable=trainable or ["w", "b"], depth=depth,
                                         lazy_radius=o.lazy_radius, progress=say))
    save_tables({k: pd.concat([f[k] for f in frames], ignore_index=True) for k in ("errors", "curves")}, out)


def _case(d: pd.DataFrame) -> pd.Series:
    """'zonal, d=3' for the shallow nets, 'deep H=2 zonal, d=3' for the deep ones."""
    depth = d.depth if "depth" in d.columns else pd.Series(1, index=d.index)
    name = d.target + ", d=" + d.d.astype(str)
    return name.where(depth == 1, "deep H=" + depth.astype(str) + " " + name)


def _zonal_reference(o, case: str) -> str:
    if "zonal" not in case:
        return ""
    d = int(case.split("d=")[1])
    return f"; classical linear rate in N ∝ m parameters: -(β+1/2)/(d-1) = {-(o.zonal_beta + .5) / (d - 1):.2f}"


def _case_claim(o, case: str, g: pd.DataFrame, cv: pd.DataFrame, expected_nets: int):
    pre = [nets_usable(g, expected=expected_nets, what=f"{case} nets")]
    win, excluded, half, span = g.iloc[:0], [], g.iloc[:0], ""
    if pre[0].ok:
        keys = ["case", "m", "seed"]
        at_tau = window_errors(g, cv, keys, o.lazy_radius)
        win, excluded = window_widths(at_tau)
        half = window_widths(window_errors(g, cv, keys, o.lazy_radius / 2))[0]
        span = window_text(at_tau, o.lazy_radius)
        pre += [trained(win, cv, keys, f"{case} at τ_ρ"),
                enough_widths(win, column="rel_error", what=f"{case} widths at τ_ρ" + (
                    " (excluded: " + ", ".join(excluded) + ")" if excluded else ""))]
    nan = pd.Series({"slope": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0})
    fit = loglog_fit(win, y="rel_error", level=o.level).iloc[0] if len(win) else nan
    fit_half = loglog_fit(half, y="rel_error", level=o.level).iloc[0] if len(half) else nan
    return claim(
        f"{case}: test error at the lazy-window time τ_ρ falls with width (slope CI below 0)",
        lambda: fit.ci_high < 0,
        lambda: f"slope {fmt_fit(fit)} over m = {sorted(int(m) for m in win.m.unique())} at {span}; "
                f"at ρ/2: {fmt_fit(fit_half)}; "
                f"m={win.m.min()}: {win[win.m == win.m.min()].rel_error.mean():.3g}, m={win.m.max()}: "
                f"{win[win.m == win.m.max()].rel_error.mean():.3g}"
                + ("; excluded: " + ", ".join(excluded) if excluded else "") + _zonal_reference(o, case),
        "slope < 0 (Welper 2023/2024: the error of the trained net at a training time growing with the width, "
        "with a loss in rate against classical methods)", requires=pre, support=ci_support(fit, o.level))


def analyse_sphere(o: ApproxSphereOptions, out: Path) -> ExperimentResult:
    fr = load_tables(out, ["errors", "curves"])
    e = with_status(fr["errors"])
    if "budget" not in e:
        e = e.assign(budget=o.steps)
    e = e.assign(error=lambda d: d.rel_error, case=_case)
    cv = fr["curves"].assign(case=_case)
    rates = rate_table(e, None, o.level, ["case"])
    claims, usable = [], []
    for case, g in e.groupby("case", sort=False):
        widths = o.widths if not case.startswith("deep") else o.deep_widths
        c = _case_claim(o, case, g, cv, len(widths) * o.seeds)
        claims.append(c)
        usable.append(nets_usable(g, expected=len(widths) * o.seeds, what=f"{case} nets"))
    needed, steps = steps_needed(e, "case", o.tol, o.steps)
    claims.append(needed)
    wc = loglog_fit(e, y="weight_change", by=["case"], level=o.level)
    claims.append(reported("relative weight change vs width",
                           "; ".join(f"{r.case}: {fmt_fit(r)}" for r in wc.itertuples()), "lazy: ≈ -1/2",
                           requires=usable))
    fdir = out / "figures"
    figs = [error_figure(e, pd.DataFrame(columns=["case", "method", "m", "rel_error"]), rates,
                         fdir / "sphere_error_vs_width.png", panel="case"),
            curves_figure(cv, fdir / "sphere_training_curves.png", panel="case"),
            weight_change_figure(e, fdir / "sphere_weight_change.png", hue="case")]
    return ExperimentResult(out=out, claims=claims, figures=figs,
                            tables={"rates": rates, "weight_change_rates": wc, "steps": steps},
                            problems=net_problems(e))
