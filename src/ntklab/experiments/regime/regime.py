r"""Regime check: does a parameterisation train lazily (NTK) or learn features?  A width sweep.

For each parameterisation (``ntk``, ``standard``, ``mup``, ``meanfield``, and ``asymmetric``: NTK with Zipf node
scaling lambda^(l) = gamma/n + (1 - gamma) zipf(1/alpha) in every hidden layer), deep MLPs of widths
n = 64 ... 1024 (``--full``: ... 4096, 3 seeds) train by full-batch GD for a few hundred steps on one fixed task
(sphere data, d = 20) at the parameterisation's per-layer learning rates.  Per width the preset records
(:mod:`ntklab.experiments.regime._measure`): relative drift of the learning-rate-weighted tangent kernel,
relative movement of every weight matrix, coordinate sizes of every layer's activations and of their change
(a coord check, tidy), the top-lambda node's and the median node's displacement, and the gap between the
network and its linearisation.  Log-log slopes against n give the exponents; the verdict per
parameterisation reads

    lazy:              drift falls with n, exponent <= -0.4   (NTK; the kernel freezes as n grows)
    feature learning:  drift flat in n, |exponent| <= 0.15   (muP, mean field: the same limit under SGD)

What the theory says of the NTK exponent: the kernel's change during training is O(n^{-1/2}) (the classical
bound: Jacot et al. 2018, Lee et al. 2019), and for smooth activations O(1/n) (Dyer & Gur-Ari 2019: the
per-coordinate updates are O(n^{-1/2}), but their contributions to the kernel have random signs and cancel);
ReLU's kinks add a slower part from activation-pattern flips.  So "lazy" is an exponent at or below -0.4 (the
bound, with the fits' tolerance), not -1/2 itself; the claim reports the measured exponent beside -1/2 and -1.

The standard parameterisation at a width-independent learning rate diverges as n grows (Yang & Hu); by default
its learning rate is lr / n, under which its hidden and output layers train exactly as under NTK at lr (the
input layer n times slower), and it is reported without a claim.

Claims (tolerances fixed here, not options), each decided seed by seed (the exponent of every seed's own width
sweep must satisfy it; support "k/n seeds") unless said otherwise:
  1. NTK: relative kernel drift exponent <= -0.4 (lazy), reported against -1/2 and -1;
  2. muP and 3. mean field: drift exponent within 0 +- 0.15 (feature learning);
  4. asymmetric (gamma < 1): the top-lambda node's displacement does not shrink with n.  One node's
     displacement is an O(1) random variable (its own init and the few downstream weights that dominate its
     gradient change with the width), so one seed's exponent over the widths scatters by +-0.2-0.4 and a
     per-seed rule is a coin toss: the claim reads the Student-t 95 % interval over ``asymmetric_seeds``
     seeds (default 16, quick 24) of the per-seed exponents, and passes when it lies above -1/4, midway between O(1)
     and the lazy nodes' n^{-1/2};
  5. asymmetric: the median node (lambda_j ~ gamma / n) moves like n^{-1/2} (the same interval within
     -1/2 +- 0.15): the contrast that makes 4 feature learning rather than a lazy net with one big output weight;
  6. coord check: the hidden layers' per-coordinate updates shrink like n^{-1/2} under NTK and stay flat under
     muP and mean field (exponents within 0.15 of -1/2 and 0);
  7. no run of a claimed parameterisation diverged.
Preconditions (INCONCLUSIVE, naming what failed): the parameterisation's runs are all there, finished and not
diverged; the metric was recorded; every seed has positive finite values at >= 3 widths; an interval over seeds
has >= 3 seeds.  Claim 7 needs every run to have ended (done, diverged or failed).  The measurements of a run
live in the experiment's ``measurements/<run directory name>.parquet`` (the run directory itself holds only what
the run store writes).

Example (command line):  ntklab run regime --quick --set parameterization=mup
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
import torch
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from typing_extensions import Annotated

from ..._errors import one_of, within
from ..._io import write_table
from ..._threads import torch_threads
from ...config import ActivationName, RunConfig, config_from_dict
from ...data import load_dataset
from ...nets import PARAMETERIZATIONS, build_network
from ...runs import load_model, load_runs, run_dir, train_many
from .._registry import ExperimentResult, Preset
from ._figures import regime_figures
from ._measure import regime_rows
from ._verdicts import fit_exponents, kind_seeds, regime_claims, verdict

__all__ = ["RegimeOptions", "regime_config", "fit_exponents", "verdict"]

KINDS = (*PARAMETERIZATIONS, "asymmetric")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _comma_list(v):
    """``"ntk, mup"`` -> ["ntk", "mup"] (the command line's way of giving several)."""
    return [s.strip() for s in v.split(",")] if isinstance(v, str) else v


def _distinct(v: list) -> list:
    return list(dict.fromkeys(v))


def _two_or_more(v: list) -> list:
    if len(v) < 2:
        raise ValueError(f"got {v} (allowed: at least two distinct widths)")
    return v


Kinds = Annotated[list[str], BeforeValidator(_comma_list), Field(min_length=1),
                  AfterValidator(one_of(KINDS, each=True)), AfterValidator(_distinct)]
Widths = Annotated[list[int], AfterValidator(within(1, each=True)), AfterValidator(lambda v: sorted(set(v))),
                   AfterValidator(_two_or_more)]


class RegimeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameterization: Kinds = Field(default_factory=lambda: list(KINDS))
    widths: Widths = Field(default_factory=lambda: [64, 128, 256, 512, 1024])
    depth: int = Field(2, ge=1)
    steps: int = Field(300, ge=1)
    lr: float = Field(0.5, gt=0)
    standard_lr: Literal["inverse_width", "constant"] = "inverse_width"
    seeds: int = Field(2, ge=1)
    asymmetric_seeds: int | None = Field(16, ge=1)  # the asymmetric sweep's seeds (None: ``seeds``)
    gamma: float = Field(0.5, ge=0, lt=1)  # of the asymmetric node scaling
    alpha: float = Field(0.7, gt=0, lt=1)
    activation: ActivationName = "relu"
    dtype: Literal["float32", "float64"] = "float32"
    d: int = Field(20, ge=1)
    n_train: int = Field(64, ge=2)
    n_test: int = Field(64, ge=1)
    noise: float = Field(0.0, ge=0)
    data_seed: int = 0
    ntk_points: int = Field(64, ge=2)
    threads: int = Field(1, ge=0)  # torch intra-op threads during the sweep (0: leave torch's setting)


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
            for s in range(kind_seeds(o, k))]


def execute(o: RegimeOptions, out: Path, progress: bool) -> None:
    plan = _plan(o)
    with torch_threads(o.threads):
        runs = train_many([c for *_, c in plan], out=out / "runs", progress=progress, desc="regime sweep")
        for (*_, c), run in zip(plan, runs):
            if run.status == "done":  # keyed by the run directory's name: name and config hash
                _measure(run, c, o.ntk_points, out / "measurements" / f"{run.path.name}.parquet")


def _collect(o: RegimeOptions, out: Path) -> tuple[pd.DataFrame, dict]:
    """The measurements of the finished runs (tidy, with parameterization, width, seed) and every planned
    run keyed by (kind, width, seed): its :class:`~ntklab.runs.Run` (any status), or None when missing."""
    plan = _plan(o)
    found = {r.path.name: r for r in load_runs(out / "runs", [c for *_, c in plan], finished_only=False)}
    frames, runs = [], {}
    for k, n, s, cfg in plan:
        run = found.get(run_dir_name(cfg))
        runs[(k, n, s)] = run
        table = out / "measurements" / f"{run_dir_name(cfg)}.parquet"
        if run is not None and run.status == "done" and table.exists():
            frames.append(pd.read_parquet(table).assign(parameterization=k, width=n, seed=s))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), runs


def run_dir_name(cfg: RunConfig) -> str:
    """The run's directory under ``runs/`` (name and config hash), which also names its measurements."""
    return run_dir(".", cfg.model_dump(mode="json")).name


def _tables(frame: pd.DataFrame, o: RegimeOptions) -> dict:
    ex = fit_exponents(frame)
    drift = ex[ex.metric == "drift_fro_rel"].set_index("parameterization").exponent
    exps = {k: float(drift.get(k, float("nan"))) for k in o.parameterization}
    coord = frame[frame.metric.str.startswith("coord_")] if len(frame) else frame
    return {
        "regime_by_width": frame,
        "regime_exponents": ex,
        "regime_seed_exponents": fit_exponents(frame, per_seed=True),
        "coord_check": coord.pivot_table(index=["parameterization", "width", "seed", "layer"], columns="metric",
                                         values="value").reset_index() if len(coord) else pd.DataFrame(),
        "regime_verdicts": pd.DataFrame([{"parameterization": k, "drift_exponent": e, "verdict": verdict(e)}
                                         for k, e in exps.items()]),
    }


def analyse(o: RegimeOptions, out: Path) -> ExperimentResult:
    frame, runs = _collect(o, out)
    figs = regime_figures(frame, out / "figures", order=list(o.parameterization)) if len(frame) else []
    return ExperimentResult(out=out, claims=regime_claims(frame, runs, o), figures=figs, tables=_tables(frame, o))


PRESET = Preset(
    name="regime",
    description="Width sweep of deep MLPs under NTK / standard / muP / mean-field / asymmetrical node scaling: "
                "kernel drift, weight movement, coord check, linearisation gap; lazy vs feature learning.",
    paper="Yang & Hu 2021; Caron et al. 2023 (deep L option)",
    options=RegimeOptions,
    execute=execute,
    analyse=analyse,
    modes={
        "quick": {"widths": [64, 128, 256, 512, 1024], "steps": 100, "seeds": 2, "asymmetric_seeds": 24,
                  "depth": 2, "n_train": 32, "n_test": 32, "ntk_points": 32},
        "full": {"widths": [64, 128, 256, 512, 1024, 2048, 4096], "steps": 300, "seeds": 3, "asymmetric_seeds": 24},
    },
)
