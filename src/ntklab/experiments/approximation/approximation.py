r"""Approximation by GD-trained shallow networks (Gentile & Welper 2022; Welper 2023, 2024): error against width,
fitted rates against the uniform linear-spline baseline, weight change, adaptive breakpoints, NTK spectra.

``approximation-1d``: targets Gaussian exp(-x^2/(2 s^2)) (s = 0.2), cusp |x|^{1/2}, jump 1{x > 1/pi} on [-1, 1];
f(x) = (1/sqrt(m)) sum_r a_r relu(w_r x + b_r), all of a, w, b trained by full-batch GD on the Gauss-Legendre
L2 loss (2000 nodes, split at the cusp / jump), eta = lr_factor / lambda_max(Theta_0), a fixed step budget;
m in {8, ..., 512}, 3 seeds.  Baselines: interpolant and L2 projection onto linear splines with m knots.
Claims: (1) error falls with m for every target (slope CI below 0); (2) for the Gaussian the network's rate is
no faster than the spline's (about -2); (3) breakpoints gather near the cusp / jump (more mass within
``radius`` of it after training than at init).

``approximation-sphere``: zonal |<x, z>|^{1/2} and a spherical-harmonic sum with l^{-2} coefficients on S^{d-1},
d in {3, 5}; inner layer trained (outer fixed), Monte Carlo L2 loss with 10^4 points, error on an independent
10^4-point set, widths up to 1024.  Claim: the error falls with width for every (d, target).  This CPU preset can
afford only a short step budget at width 1024, so its errors are optimisation-limited (said in the claims).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ..._io import write_table
from ...approximation import (
    breakpoint_mass,
    loglog_fit,
    make_target,
    sphere_width_sweep,
    width_sweep,
)
from ...report import Claim, claim, reported
from .._registry import ExperimentResult, Preset
from ._plots import (
    breakpoint_figure,
    curves_figure,
    error_figure,
    ntk_figure,
    weight_change_figure,
)

__all__ = ["Approx1dOptions", "ApproxSphereOptions"]


class Approx1dOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[str] = Field(default_factory=lambda: ["gaussian", "cusp", "jump"])
    gaussian_s: float = Field(0.2, gt=0)
    cusp_beta: float = Field(0.5, gt=0, lt=1)
    jump_x0: float = Field(1 / math.pi, gt=-1, lt=1)
    widths: list[int] = Field(default_factory=lambda: [8, 16, 32, 64, 128, 256, 512])
    seeds: int = Field(3, ge=1)
    steps: int = Field(10_000, ge=1)
    every: int = Field(250, ge=1)
    n_quad: int = Field(2000, ge=2)
    lr_factor: float = Field(1.0, gt=0)
    scaling: str = "ntk"
    trainable: list[str] = Field(default_factory=lambda: ["a", "w", "b"])
    breakpoints: str = "uniform"
    output: str = "symmetric"
    ntk_widths: list[int] = Field(default_factory=lambda: [64, 256])
    radius: float = Field(0.1, gt=0)
    level: float = Field(0.95, gt=0, lt=1)


def _targets_1d(o: Approx1dOptions):
    opts = {"gaussian": {"s": o.gaussian_s}, "cusp": {"beta": o.cusp_beta}, "jump": {"x0": o.jump_x0}}
    return [make_target(t, **opts.get(t, {})) for t in o.targets]


def _save(frames: dict, out: Path) -> None:
    for name, df in frames.items():
        write_table(df, out / "tables" / f"{name}.parquet")


def _load(out: Path, names) -> dict:
    missing = [n for n in names if not (out / "tables" / f"{n}.parquet").exists()]
    if missing:
        raise FileNotFoundError(f"{out}: no stored tables {missing} (run the preset first)")
    return {n: pd.read_parquet(out / "tables" / f"{n}.parquet") for n in names}


def execute_1d(o: Approx1dOptions, out: Path, progress: bool) -> None:
    say = (lambda m: print(f"approximation-1d: width {m} done", flush=True)) if progress else None
    frames = width_sweep(_targets_1d(o), o.widths, seeds=o.seeds, steps=o.steps, n_quad=o.n_quad,
                         lr_factor=o.lr_factor, every=o.every, scaling=o.scaling, trainable=o.trainable,
                         breakpoints=o.breakpoints, output=o.output, ntk_widths=o.ntk_widths, progress=say)
    _save(frames, out)


def _fmt_fit(r) -> str:
    return f"{r.slope:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"


def _rate_table(e: pd.DataFrame, sp: pd.DataFrame, level: float, panel: list[str]) -> pd.DataFrame:
    net = loglog_fit(e, y="error", by=panel, level=level).assign(method="network")
    if sp is None or sp.empty:
        return net
    spl = loglog_fit(sp, y="error", by=panel + ["method"], level=level)
    return pd.concat([net, spl], ignore_index=True)


def analyse_1d(o: Approx1dOptions, out: Path) -> ExperimentResult:
    fr = _load(out, ["errors", "splines", "curves", "breakpoints", "ntk"])
    e, sp = fr["errors"], fr["splines"]
    rates = _rate_table(e, sp, o.level, ["target"])
    claims: list[Claim] = []
    get = lambda t, m: rates[(rates.target == t) & (rates.method == m)].iloc[0]  # noqa: E731
    for t in dict.fromkeys(e.target):
        r, ri, rp = get(t, "network"), get(t, "interpolant"), get(t, "projection")
        claims.append(claim(f"{t}: network error falls with m (slope CI below 0)", r.ci_high < 0,
                            f"network {_fmt_fit(r)}; spline interpolant {_fmt_fit(ri)}, projection {_fmt_fit(rp)}",
                            "slope < 0; splines: gaussian -2, cusp -(β+1/2), jump -1/2"))
    if "gaussian" in set(e.target):
        r, ri = get("gaussian", "network"), get("gaussian", "interpolant")
        claims.append(claim("gaussian: spline interpolant rate ≈ -2", abs(ri.slope + 2) <= 0.15, _fmt_fit(ri),
                            "-2 ± 0.15 (h² ‖f''‖)"))
        claims.append(claim("gaussian: network rate no faster than the spline's", r.slope >= ri.slope,
                            f"network {_fmt_fit(r)} vs spline {_fmt_fit(ri)}; loss in rate {r.slope - ri.slope:+.2f}",
                            "network slope ≥ spline slope (loss in approximation rate)"))
    claims += _breakpoint_claims(o, fr["breakpoints"], e)
    wc = loglog_fit(e, y="weight_change", by=["target"], level=o.level)
    claims.append(reported("relative weight change vs m", "; ".join(f"{r.target}: slope {_fmt_fit(r)}" for r in wc.itertuples()), "lazy: ≈ -1/2"))
    ntk = fr["ntk"]
    decay = _ntk_decay(ntk)
    if not decay.empty:
        claims.append(reported("NTK eigenvalue decay λ_k ~ k^p, 4 ≤ k ≤ m/4, at init", "; ".join(f"m={r.m}: p={r.slope:.2f}" for r in decay.itertuples()), "(no paper value)"))
    status = e.status.value_counts().to_dict()
    claims.append(reported("GD runs", f"{status}; final rel. errors at m={e.m.max()}: " + ", ".join(
        f"{t}: {g.rel_error.mean():.3g}" for t, g in e[e.m == e.m.max()].groupby("target", sort=False)),
        f"{o.steps} steps, lr_factor {o.lr_factor}"))
    figs = _figures_1d(o, fr, rates, out)
    tables = {"rates": rates, "weight_change_rates": wc, "errors_mean":
              e.groupby(["target", "m"])[["rel_error", "weight_change"]].mean().reset_index(), "ntk_decay": decay}
    return ExperimentResult(out=out, claims=claims, figures=figs, tables=tables)


def _ntk_decay(ntk: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for m, g in ntk[(ntk.phase == "init")].groupby("m"):
        g = g[g.target == g.target.iloc[0]]
        k = g["index"].values
        sel = (k >= 4) & (k <= max(8, m // 4))  # the bulk, well below the finite-width cut-off (rank <= 3m)
        fit = loglog_fit(pd.DataFrame({"m": k[sel], "error": g.eigenvalue.values[sel]}))
        rows.append({"m": int(m), "slope": fit.slope.iloc[0]})
    return pd.DataFrame(rows, columns=["m", "slope"])


def _breakpoint_claims(o: Approx1dOptions, bps: pd.DataFrame, e: pd.DataFrame) -> list[Claim]:
    singular = {f.name: f.singularities[0] for f in _targets_1d(o) if f.singularities}
    out = []
    mbig = max(o.widths)
    for t, x0 in singular.items():
        sub = bps[bps.target == t]
        if sub.empty:
            continue
        mass = {ph: breakpoint_mass(sub[sub.phase == ph].t, x0, o.radius) for ph in ("init", "final")}
        big = {ph: breakpoint_mass(sub[(sub.phase == ph) & (sub.m == mbig)].t, x0, o.radius) for ph in ("init", "final")}
        out.append(claim(f"{t}: breakpoints move towards x={x0:.3g} (mass within {o.radius:g})",
                         mass["final"] > mass["init"],
                         f"all widths: init {mass['init']:.4f} → final {mass['final']:.4f}; "
                         f"m={mbig}: {big['init']:.4f} → {big['final']:.4f}", "final > init (adaptive grid)"))
    return out


def _figures_1d(o, fr, rates, out: Path) -> list[Path]:
    fdir = out / "figures"
    singular = {f.name: f.singularities[0] for f in _targets_1d(o) if f.singularities}
    figs = [error_figure(fr["errors"], fr["splines"], rates, fdir / "approx1d_error_vs_width.png"),
            curves_figure(fr["curves"], fdir / "approx1d_training_curves.png"),
            weight_change_figure(fr["errors"], fdir / "approx1d_weight_change.png"),
            breakpoint_figure(fr["breakpoints"], singular, fdir / "approx1d_breakpoints.png", m=max(o.widths))]
    if not fr["ntk"].empty:
        figs.append(ntk_figure(fr["ntk"], fdir / "approx1d_ntk_spectrum.png"))
    return figs


class ApproxSphereOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dims: list[int] = Field(default_factory=lambda: [3, 5])
    targets: list[str] = Field(default_factory=lambda: ["zonal", "harmonics"])
    zonal_beta: float = Field(0.5, gt=0)
    harmonics_s: float = Field(2.0, ge=0)
    harmonics_degree: int = Field(6, ge=1)
    widths: list[int] = Field(default_factory=lambda: [64, 128, 256, 512, 1024])
    seeds: int = Field(2, ge=1)
    steps: int = Field(60, ge=1)
    every: int = Field(10, ge=1)
    n_points: int = Field(10_000, ge=10)
    lr_factor: float = Field(1.0, gt=0)
    trainable: list[str] = Field(default_factory=lambda: ["w", "b"])
    level: float = Field(0.95, gt=0, lt=1)


def _targets_sphere(o: ApproxSphereOptions):
    out = []
    for d in o.dims:
        for t in o.targets:
            opts = {"zonal": {"beta": o.zonal_beta}, "harmonics": {"s": o.harmonics_s, "degree": o.harmonics_degree}}
            out.append(make_target(t, d=d, **opts.get(t, {})))
    return out


def execute_sphere(o: ApproxSphereOptions, out: Path, progress: bool) -> None:
    say = (lambda s: print(f"approximation-sphere: {s} done", flush=True)) if progress else None
    frames = sphere_width_sweep(_targets_sphere(o), o.widths, seeds=o.seeds, steps=o.steps, n_points=o.n_points,
                                lr_factor=o.lr_factor, every=o.every, trainable=o.trainable, progress=say)
    _save(frames, out)


def analyse_sphere(o: ApproxSphereOptions, out: Path) -> ExperimentResult:
    fr = _load(out, ["errors", "curves"])
    e = fr["errors"].assign(error=lambda d: d.rel_error, case=lambda d: d.target + ", d=" + d.d.astype(str))
    rates = _rate_table(e, None, o.level, ["case"])
    claims = []
    for r in rates.itertuples():
        g = e[e.case == r.case]
        ref = ""
        if r.case.startswith("zonal"):
            d = int(r.case.split("d=")[1])
            ref = f"; harmonic (classical) rate in parameters N: -(β+1/2)/(d-1) = {-(o.zonal_beta + .5) / (d - 1):.2f}"
        claims.append(claim(f"{r.case}: test error falls with width (slope CI below 0)", r.ci_high < 0,
                            f"slope {_fmt_fit(r)}; m={g.m.min()}: {g[g.m == g.m.min()].rel_error.mean():.3g}, "
                            f"m={g.m.max()}: {g[g.m == g.m.max()].rel_error.mean():.3g}{ref}",
                            f"slope < 0 ({o.steps} GD steps: optimisation-limited)"))
    wc = loglog_fit(e, y="weight_change", by=["case"], level=o.level)
    claims.append(reported("relative weight change vs width", "; ".join(f"{r.case}: {_fmt_fit(r)}" for r in wc.itertuples()), "lazy: ≈ -1/2"))
    fdir = out / "figures"
    cv = fr["curves"].assign(case=lambda d: d.target + ", d=" + d.d.astype(str))
    figs = [error_figure(e, pd.DataFrame(columns=["case", "method", "m", "rel_error"]), rates.assign(),
                         fdir / "sphere_error_vs_width.png", panel="case"),
            curves_figure(cv, fdir / "sphere_training_curves.png", panel="case"),
            weight_change_figure(e, fdir / "sphere_weight_change.png", hue="case")]
    return ExperimentResult(out=out, claims=claims, figures=figs, tables={"rates": rates, "weight_change_rates": wc})


APPROX_1D = Preset(
    name="approximation-1d",
    description="Gentile & Welper: GD-trained 1-d shallow nets on Gaussian / cusp / jump; error vs width, rates "
                "vs linear splines, weight change, breakpoints, NTK spectrum.",
    paper="Gentile & Welper 2022 (arXiv 2209.08399)",
    options=Approx1dOptions, execute=execute_1d, analyse=analyse_1d,
    modes={"quick": {"widths": [8, 16, 32], "seeds": 2, "steps": 100, "every": 50, "ntk_widths": [8]},
           "full": {}},
)

APPROX_SPHERE = Preset(
    name="approximation-sphere",
    description="Welper: GD-trained shallow nets on S^{d-1} (d = 3, 5), zonal and spherical-harmonic targets, "
                "Monte Carlo L2 error vs width up to 1024.",
    paper="Welper 2023/2024 (arXiv 2309.04860, 2405.11696)",
    options=ApproxSphereOptions, execute=execute_sphere, analyse=analyse_sphere,
    modes={"quick": {"widths": [8, 16, 32], "seeds": 2, "steps": 20, "every": 10, "n_points": 10_000},
           "full": {}},
)
