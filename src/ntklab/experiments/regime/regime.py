r"""Regime check: does a parameterisation train lazily (NTK) or learn features?  A width sweep.

For each parameterisation (``ntk``, ``standard``, ``mup``, ``meanfield``, and ``asymmetric``: NTK with Zipf node
scaling lambda^(l) = gamma/n + (1 - gamma) zipf(1/alpha) in every hidden layer), deep MLPs of widths
n = 64 ... 2048 (``--full``: ... 4096, 3 seeds) train by full-batch GD for a few hundred steps on one fixed task (sphere data, d = 20) at the
parameterisation's per-layer learning rates.  Per width (mean over seeds) the preset records
(:mod:`ntklab.experiments._regime_measure`): relative drift of the learning-rate-weighted tangent kernel,
relative movement of every weight matrix, coordinate sizes of every layer's activations and of their change
(a coord check, tidy), the top-lambda node's displacement, and the gap between the network and its
linearisation.  Log-log slopes against n give the exponents; the verdict per parameterisation reads

    lazy:              drift falls with n, exponent < -0.35   (NTK; the kernel freezes as n grows)
    feature learning:  drift flat in n, |exponent| <= 0.15   (muP, mean field: the same limit under SGD)

The standard parameterisation at a width-independent learning rate diverges as n grows (Yang & Hu); by default
its learning rate is lr / n, under which its hidden and output layers train exactly as under NTK at lr (the
input layer n times slower), and it is reported without a claim.

Claims (tolerance 0.15 on the fitted exponents, fixed here, not an option):
  1. NTK: relative kernel drift exponent in -1/2 +- 0.15;
  2. muP: drift exponent in 0 +- 0.15;   3. mean field: drift exponent in 0 +- 0.15;
  4. asymmetric (gamma < 1): the top-lambda node's displacement does not shrink with n (exponent > -0.15);
  5. coord check: the hidden layers' per-coordinate updates shrink like n^{-1/2} under NTK and stay flat under
     muP and mean field (exponents within 0.15 of -1/2 and 0);
  6. no run of a claimed parameterisation diverged.

Theory to read the drift claim against: for gradient descent in the NTK parameterisation the *per-coordinate*
updates are O(n^{-1/2}), but their contributions to the kernel have random signs and largely cancel, so the
kernel's relative change can fall faster than n^{-1/2} (O(1/n) for smooth activations, Dyer & Gur-Ari 2019;
ReLU's kinks add a slower sign-flip part).  The claim is kept as stated; the table reports what is measured.

Example (command line):  ntklab run regime --quick --set parameterization=mup
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..._fits import loglog_fit
from ..._io import write_table
from ..._threads import torch_threads
from ...config import RunConfig, config_from_dict
from ...data import load_dataset
from ...nets import PARAMETERIZATIONS, build_network
from ...report import Claim, claim, reported
from ...runs import load_model, load_run, run_dir, train_many
from .._registry import ExperimentResult, Preset
from ._figures import regime_figures
from ._measure import regime_rows

__all__ = ["RegimeOptions", "regime_config", "fit_exponents"]

KINDS = (*PARAMETERIZATIONS, "asymmetric")
TOLERANCE = 0.15
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class RegimeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameterization: list[str] = Field(default_factory=lambda: list(KINDS))
    widths: list[int] = Field(default_factory=lambda: [64, 128, 256, 512, 1024, 2048])
    depth: int = Field(2, ge=1)
    steps: int = Field(300, ge=1)
    lr: float = Field(0.5, gt=0)
    standard_lr: Literal["inverse_width", "constant"] = "inverse_width"
    seeds: int = Field(2, ge=1)
    gamma: float = Field(0.5, ge=0, lt=1)  # of the asymmetric node scaling
    alpha: float = Field(0.7, gt=0, lt=1)
    activation: str = "relu"
    dtype: Literal["float32", "float64"] = "float32"
    d: int = Field(20, ge=1)
    n_train: int = Field(64, ge=2)
    n_test: int = Field(64, ge=1)
    noise: float = Field(0.0, ge=0)
    data_seed: int = 0
    ntk_points: int = Field(64, ge=2)
    threads: int = Field(1, ge=0)  # torch intra-op threads during the sweep (0: leave torch's setting)

    @field_validator("parameterization", mode="before")
    @classmethod
    def _kinds(cls, v):
        v = [s.strip() for s in v.split(",")] if isinstance(v, str) else v
        bad = [k for k in v if k not in KINDS]
        if bad or not v:
            raise ValueError(f"got {bad or v!r} (allowed: {', '.join(KINDS)}, or several joined by commas)")
        return list(dict.fromkeys(v))

    @field_validator("widths")
    @classmethod
    def _widths(cls, v):
        if len(set(v)) < 2 or min(v) < 1:
            raise ValueError(f"got {v} (allowed: at least two distinct widths >= 1)")
        return sorted(set(v))


def regime_config(o: RegimeOptions, kind: str, width: int, seed: int) -> RunConfig:
    """One run of the sweep: ``kind`` in KINDS at width ``width``."""
    asym = kind == "asymmetric"
    lr = o.lr / width if kind == "standard" and o.standard_lr == "inverse_width" else o.lr
    scaling = {"kind": "zipf", "gamma": o.gamma, "alpha": o.alpha} if asym else {"kind": "ntk"}
    return config_from_dict({
        "name": f"{kind}-n{width}-s{seed}", "seed": seed, "dtype": o.dtype,
        "data": {"name": "sphere_sin", "options": {"n_train": o.n_train, "n_test": o.n_test, "d": o.d,
                                                   "noise": o.noise, "seed": o.data_seed}},
        "network": {"kind": "mlp", "width": width, "depth": o.depth, "activation": o.activation,
                    "parameterization": "ntk" if asym else kind, "trainable": ["W", "u"], "scaling": scaling},
        "optimizer": {"name": "gd", "lr": lr},
        "training": {"steps": o.steps, "loss": "mse"},
        "probes": {"every": o.steps, "ntk": False, "top_nodes": 1},
    })


def _measure(run, cfg: RunConfig, ntk_points: int, out: Path) -> None:
    """The regime measurements of one finished run, in the experiment's ``measurements/<run dir>.parquet``."""
    if out.exists():
        return
    data = load_dataset(cfg.data.name, **cfg.data.options).to(_DTYPES[cfg.dtype])
    model_0 = build_network(cfg.network, d=data.d, out_dim=data.out_dim, seed=cfg.seed, dtype=_DTYPES[cfg.dtype])
    frame = regime_rows(model_0, load_model(run), data, lr=cfg.optimizer.lr, steps=cfg.training.steps,
                        ntk_points=min(ntk_points, data.x_train.shape[0]))
    write_table(frame, out)


def _plan(o: RegimeOptions) -> list[tuple[str, int, int, RunConfig]]:
    return [(k, n, s, regime_config(o, k, n, s)) for k in o.parameterization for n in o.widths
            for s in range(o.seeds)]


def execute(o: RegimeOptions, out: Path, progress: bool) -> None:
    plan = _plan(o)
    with torch_threads(o.threads):
        runs = train_many([c for *_, c in plan], out=out / "runs", progress=progress, desc="regime sweep")
        for (*_, c), run in zip(plan, runs):
            if run.status == "done":
                _measure(run, c, o.ntk_points, out / "measurements" / f"{run.path.name}.parquet")


def _collect(o: RegimeOptions, out: Path) -> tuple[pd.DataFrame, dict]:
    frames, status = [], {}
    for k, n, s, cfg in _plan(o):
        path = run_dir(out / "runs", cfg.model_dump(mode="json"))
        st = load_run(path).status if (path / "config.json").exists() else "missing"
        status[(k, n, s)] = st
        table = out / "measurements" / f"{path.name}.parquet"
        if st == "done" and table.exists():
            frames.append(pd.read_parquet(table).assign(parameterization=k, width=n, seed=s))
    if not frames:
        raise FileNotFoundError(f"{out}: no measured runs under runs/")
    return pd.concat(frames, ignore_index=True), status


def fit_exponents(frame: pd.DataFrame) -> pd.DataFrame:
    """Least-squares slope of log(mean over seeds) against log(width), per parameterisation, metric and layer."""
    mean = frame.groupby(["parameterization", "metric", "layer", "width"]).value.mean().reset_index()
    rows = []
    for (k, metric, layer), g in mean.groupby(["parameterization", "metric", "layer"], sort=False):
        rows.append({"parameterization": k, "metric": metric, "layer": layer,
                     "exponent": loglog_fit(g.width, g.value).slope, "widths": len(g)})
    return pd.DataFrame(rows)


def _exp(ex: pd.DataFrame, kind: str, metric: str) -> float:
    sel = ex[(ex.parameterization == kind) & (ex.metric == metric)]
    return float(sel.exponent.iloc[0]) if len(sel) else float("nan")


def _series(frame: pd.DataFrame, kind: str, metric: str) -> str:
    g = frame[(frame.parameterization == kind) & (frame.metric == metric)].groupby("width").value.mean()
    return ", ".join(f"n={n}: {v:.3g}" for n, v in g.items())


def verdict(drift_exponent: float) -> str:
    """One line from the fitted drift exponent e: lazy (e < -0.35), feature learning (|e| <= 0.15), else."""
    e = drift_exponent
    if not np.isfinite(e):
        return "no verdict (too few widths)"
    if e < -0.35:
        return f"lazy: drift ∝ width^{e:.2f}"
    if abs(e) <= TOLERANCE:
        return f"feature learning: drift flat in width (exponent {e:.2f})"
    return f"{'unstable: drift grows' if e > 0 else 'in between: drift shrinks slowly'} (∝ width^{e:.2f})"


def _claims(frame: pd.DataFrame, ex: pd.DataFrame, status: dict, o: RegimeOptions) -> list[Claim]:
    out = []
    expected = {"ntk": -0.5, "mup": 0.0, "meanfield": 0.0}
    for k in o.parameterization:
        e = _exp(ex, k, "drift_fro_rel")
        gap = _exp(ex, k, "linearization_gap_rel")
        measured = f"{_series(frame, k, 'drift_fro_rel')}; exponent {e:.2f} (linearisation gap exponent {gap:.2f})"
        if k in expected:
            want = expected[k]
            out.append(claim(f"{k}: {verdict(e)}", abs(e - want) <= TOLERANCE, measured,
                             f"drift exponent {want:g} ± {TOLERANCE}"))
        elif k == "asymmetric":
            t = _exp(ex, k, "top_node_displacement")
            out.append(claim(f"asymmetric (γ={o.gamma:g}, α={o.alpha:g}): top-λ node's movement does not shrink "
                             f"with width", t > -TOLERANCE,
                             f"{_series(frame, k, 'top_node_displacement')}; exponent {t:.2f}",
                             f"exponent > -{TOLERANCE} (O(1) in n)"))
            out.append(reported(f"asymmetric: {verdict(e)}", measured, "γ < 1 moves the kernel"))
        else:
            out.append(reported(f"{k}: {verdict(e)}", measured,
                             f"lr {'∝ 1/width' if o.standard_lr == 'inverse_width' else 'constant'}"))
    out += _coord_claims(ex, o)
    claimed = [k for k in o.parameterization if k != "standard"]
    bad = [f"{k} n={n} s={s}: {st}" for (k, n, s), st in status.items() if k in claimed and st != "done"]
    if claimed:
        out.append(claim("no run of a claimed parameterisation diverged or failed", not bad,
                         "; ".join(bad) or f"{sum(k in claimed for k, _, _ in status)} runs done", "all done"))
    return out


def _coord_claims(ex: pd.DataFrame, o: RegimeOptions) -> list[Claim]:
    out = []
    hidden = [f"x{l + 1}" for l in range(o.depth)]
    for k, want in (("ntk", -0.5), ("mup", 0.0), ("meanfield", 0.0)):
        if k not in o.parameterization:
            continue
        sel = ex[(ex.parameterization == k) & (ex.metric == "coord_delta") & ex.layer.isin(hidden)]
        exps = dict(zip(sel.layer, sel.exponent))
        ok = len(exps) == len(hidden) and all(abs(e - want) <= TOLERANCE for e in exps.values())
        what = "shrink ∝ n^-1/2" if want else "stay O(1)"
        out.append(claim(f"{k}: coord check, hidden-layer updates {what}", ok,
                         ", ".join(f"{l}: {e:.2f}" for l, e in exps.items()), f"exponent {want:g} ± {TOLERANCE}"))
    return out


def analyse(o: RegimeOptions, out: Path) -> ExperimentResult:
    frame, status = _collect(o, out)
    ex = fit_exponents(frame)
    tables = {
        "regime_by_width": frame,
        "regime_exponents": ex,
        "coord_check": frame[frame.metric.str.startswith("coord_")]
        .pivot_table(index=["parameterization", "width", "seed", "layer"], columns="metric", values="value")
        .reset_index(),
        "regime_verdicts": pd.DataFrame([{"parameterization": k, "drift_exponent": _exp(ex, k, "drift_fro_rel"),
                                          "verdict": verdict(_exp(ex, k, "drift_fro_rel"))}
                                         for k in o.parameterization]),
    }
    figs = regime_figures(frame, out / "figures", order=list(o.parameterization))
    return ExperimentResult(out=out, claims=_claims(frame, ex, status, o), figures=figs, tables=tables)


PRESET = Preset(
    name="regime",
    description="Width sweep of deep MLPs under NTK / standard / muP / mean-field / asymmetrical node scaling: "
                "kernel drift, weight movement, coord check, linearisation gap; lazy vs feature learning.",
    paper="Yang & Hu 2021; Caron et al. 2023 (deep L option)",
    options=RegimeOptions,
    execute=execute,
    analyse=analyse,
    modes={
        "quick": {"widths": [64, 128, 256, 512], "steps": 40, "seeds": 1, "depth": 2, "n_train": 32,
                  "n_test": 32, "ntk_points": 32},
        "full": {"widths": [64, 128, 256, 512, 1024, 2048, 4096], "steps": 300, "seeds": 3},
    },
)
