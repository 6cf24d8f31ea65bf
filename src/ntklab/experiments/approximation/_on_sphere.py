r"""``approximation-sphere``: GD-trained shallow nets on S^{d-1} (Welper 2023/2024), options, run and claims.

Claim per (target, d): ``test error falls with width (slope CI below 0)``, the log-log slope of the Monte Carlo
test error over all (width, seed) points decided by its ``level`` interval.  Preconditions (:mod:`._common`):
every net of the case finished without diverging, >= 3 widths carry a positive finite error, and GD cut every
net's relative test error by a tenth.  The step budget is short, so the errors are optimisation-limited (the
claim says so).
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
from ._common import ci_support, enough_widths, fmt_fit, load_tables, net_problems, nets_usable, rate_table
from ._common import save_tables, trained, with_status
from ._on_interval import Trainable, Widths
from ._plots import curves_figure, error_figure, weight_change_figure

__all__ = ["ApproxSphereOptions", "execute_sphere", "analyse_sphere"]

SphereTargets = Annotated[list[str], Field(min_length=1),
                          AfterValidator(one_of([t for t, d in TARGET_DOMAINS.items() if d == "sphere"], each=True))]


class ApproxSphereOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dims: Annotated[list[int], Field(min_length=1), AfterValidator(within(2, each=True))] = Field(
        default_factory=lambda: [3, 5])
    targets: SphereTargets = Field(default_factory=lambda: ["zonal", "harmonics"])
    zonal_beta: float = Field(0.5, gt=0)
    harmonics_s: float = Field(2.0, ge=0)
    harmonics_degree: int = Field(6, ge=1)
    widths: Widths = Field(default_factory=lambda: [64, 128, 256, 512, 1024])
    seeds: int = Field(2, ge=1)
    steps: int = Field(60, ge=1)
    every: int = Field(10, ge=1)
    n_points: int = Field(10_000, ge=10)
    lr_factor: float = Field(1.0, gt=0)
    trainable: Trainable = Field(default_factory=lambda: ["w", "b"])
    level: float = Field(0.95, gt=0, lt=1)


def _targets(o: ApproxSphereOptions):
    opts = {"zonal": {"beta": o.zonal_beta}, "harmonics": {"s": o.harmonics_s, "degree": o.harmonics_degree}}
    return [make_target(t, d=d, **opts.get(t, {})) for d in o.dims for t in o.targets]


def execute_sphere(o: ApproxSphereOptions, out: Path, progress: bool) -> None:
    say = (lambda s: print(f"approximation-sphere: {s} done", flush=True)) if progress else None
    frames = sphere_width_sweep(_targets(o), o.widths, seeds=o.seeds, steps=o.steps, n_points=o.n_points,
                                lr_factor=o.lr_factor, every=o.every, trainable=o.trainable, progress=say)
    save_tables(frames, out)


def _case(d: pd.DataFrame) -> pd.Series:
    return d.target + ", d=" + d.d.astype(str)


def analyse_sphere(o: ApproxSphereOptions, out: Path) -> ExperimentResult:
    fr = load_tables(out, ["errors", "curves"])
    e = with_status(fr["errors"]).assign(error=lambda d: d.rel_error, case=_case)
    cv = fr["curves"].assign(case=_case)
    rates = rate_table(e, None, o.level, ["case"])
    claims, usable = [], []
    for r in rates.itertuples():
        g = e[e.case == r.case]
        pre = [nets_usable(g, expected=len(o.widths) * o.seeds, what=f"{r.case} nets")]
        usable.append(pre[0])
        if pre[0].ok:
            pre += [enough_widths(g, what=f"{r.case} widths"), trained(g, cv, ["case", "m", "seed"], r.case)]
        ref = ""
        if r.case.startswith("zonal"):
            d = int(r.case.split("d=")[1])
            ref = f"; harmonic (classical) rate in parameters N: -(β+1/2)/(d-1) = {-(o.zonal_beta + .5) / (d - 1):.2f}"
        claims.append(claim(f"{r.case}: test error falls with width (slope CI below 0)", r.ci_high < 0,
                            f"slope {fmt_fit(r)}; m={g.m.min()}: {g[g.m == g.m.min()].rel_error.mean():.3g}, "
                            f"m={g.m.max()}: {g[g.m == g.m.max()].rel_error.mean():.3g}{ref}",
                            f"slope < 0 ({o.steps} GD steps: optimisation-limited)", requires=pre,
                            support=ci_support(r, o.level)))
    wc = loglog_fit(e, y="weight_change", by=["case"], level=o.level)
    claims.append(reported("relative weight change vs width",
                           "; ".join(f"{r.case}: {fmt_fit(r)}" for r in wc.itertuples()), "lazy: ≈ -1/2",
                           requires=usable))
    fdir = out / "figures"
    figs = [error_figure(e, pd.DataFrame(columns=["case", "method", "m", "rel_error"]), rates,
                         fdir / "sphere_error_vs_width.png", panel="case"),
            curves_figure(cv, fdir / "sphere_training_curves.png", panel="case"),
            weight_change_figure(e, fdir / "sphere_weight_change.png", hue="case")]
    return ExperimentResult(out=out, claims=claims, figures=figs, tables={"rates": rates, "weight_change_rates": wc},
                            problems=net_problems(e))
