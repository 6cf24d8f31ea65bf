r"""Agarwal, Awasthi & Kale (2021), first application: the learnability of deep random networks degrades
exponentially with depth, a generalisation of Das, Gollapudi, Kumar & Panigrahy (2019)
(``ntklab run deep-learnability``).

Targets are random networks f_L of depth L = 1..20 (width m, ``outputs`` readouts each, 3 seeds) with normalised
relu, normalised tanh, centred gelu and plain (He) relu, on n points uniform on S^{d-1}, d = 20
(:mod:`._learnability_data`).  Measured:

- the statistical-query quantity: the squared correlation of f_L with polynomials of degree l (l <= ``sq_degree``),
  ||P_l f_L||^2 / E f_L^2 by the unbiased U-statistic of :func:`ntklab.kernels.harmonic_masses` on all N points;
- learner (a), kernel ridge regression with a fixed depth-1 kernel, the infinite-width NTK of learner (b), on the
  first n pool points (n in ``n_train``), the ridge chosen per target by exact leave-one-out from a grid: the
  held-out explained variance F_c = 1 - MSE / E[f_c^2] of the centred target f_c on the test points;
- learner (b), a trained shallow network (:class:`ntklab.ScaledShallowNet`: width ``net_width``, relu, random
  frozen biases, W trained by full-batch GD through :func:`ntklab.runs.train_many`) on ``net_n`` pool points, at
  ``net_depths``: its F_c at the probe step of least test risk (early stopping by an oracle, as the theory's best
  ridge; with 20 probes on 2000 test points the selection lifts F_c by about one standard error, < 0.01).  Inputs
  are scaled to norm ``input_scale`` sqrt(d) (biases N(0, input_scale^2)): for relu this multiplies the initial
  function by ``input_scale`` and the NTK by its square, which the learning rate undoes (lr = ``net_lr`` x outputs /
  input_scale^2), so the network's random initial function, which GD never removes, adds little test error.

Theory (:mod:`._learnability_theory`, stated there): the linear part of f_L carries a_1^{2L} = (1 - mu)^L of its
variance, every fixed degree decays at the rate ln(1/a_1^2) per layer, and the exact degree-l masses come from the
whole sigma-hat^{o L} spectrum on S^{d-1}; the explained variance of learner (a) is predicted by the eigenlearning
equations from the learner's and the target's spectra.  Claims: :mod:`._learnability_claims`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..._io import write_table
from ..._threads import torch_threads
from ...config import NetworkConfig, RunConfig
from ...kernels import SpectralRidge, harmonic_masses, network_limit
from ...nets import build_network
from ...runs import load_runs, train_many
from .._registry import ExperimentResult, Preset
from ._common import names
from ._learnability_claims import learnability_claims
from ._learnability_data import CENTRED, TARGET_ACTIVATIONS, sphere_inputs, target_outputs
from ._learnability_figures import learnability_figures
from ._learnability_theory import (
    RIDGE_GRID,
    activation_constants,
    learner_spectrum,
    predicted_explained_variance,
    target_spectra,
)

__all__ = ["LearnabilityOptions", "net_plan", "net_frame", "learner_network"]


class LearnabilityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    d: int = Field(20, ge=3)
    activations: names(TARGET_ACTIVATIONS) = Field(default_factory=lambda: list(TARGET_ACTIVATIONS))
    max_depth: int = Field(20, ge=2)
    target_width: int = Field(1024, ge=1)
    outputs: int = Field(8, ge=1)  # readouts per random network (independent targets sharing its hidden layers)
    seeds: int = Field(3, ge=1)
    n_train: list[int] = Field(default_factory=lambda: [250, 500, 1000, 2000], min_length=1)
    n_test: int = Field(2000, ge=10)
    claim_n: int = Field(2000, ge=1)  # the depth claims are decided at this n
    data_seed: int = 0
    fit_min: float = Field(0.05, gt=0, lt=1)  # the rate window: depths where the seed-mean F_c >= fit_min
    sq_degree: int = Field(2, ge=1)
    theory_degree: int = Field(8, ge=2)
    input_scale: float = Field(0.2, gt=0)
    net_activations: names(CENTRED) = Field(default_factory=lambda: list(CENTRED))
    net_depths: list[int] = Field(default_factory=lambda: [1, 2, 4, 6, 9, 12], min_length=1)
    net_seeds: int = Field(2, ge=1)
    net_n: int = Field(1000, ge=1)
    net_width: int = Field(1000, ge=1)
    net_steps: int = Field(600, ge=1)
    net_lr: float = Field(12.0, gt=0)
    # torch threads for the kernels and targets (0: torch's default; 1 ran --quick in 16 s user against 28 s with
    # two on the shared 2-core machine); training uses 1
    threads: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _consistent(self):
        if self.claim_n not in self.n_train:
            raise ValueError(f"claim_n {self.claim_n} is not in n_train {self.n_train}")
        if self.net_n > self.n_pool:
            raise ValueError(f"net_n {self.net_n} exceeds the pool of {self.n_pool} points (max n_train)")
        if max(self.net_depths) > self.max_depth or min(self.net_depths) < 1:
            raise ValueError(f"net_depths must lie in [1, max_depth = {self.max_depth}]")
        if self.net_seeds > self.seeds:
            raise ValueError(f"net_seeds {self.net_seeds} exceeds seeds {self.seeds} (the nets reuse the targets)")
        return self

    @property
    def n_pool(self) -> int:
        return max(self.n_train)


def _net_config(o: LearnabilityOptions) -> dict:
    return {"kind": "shallow", "width": o.net_width, "activation": "relu", "bias": True, "bias_std": o.input_scale,
            "weight_std": math.sqrt(2.0), "trainable": ["W"]}


def learner_network(o: LearnabilityOptions):
    """A learner network (float64) whose infinite-width NTK is learner (a)'s kernel."""
    return build_network(NetworkConfig(**_net_config(o)), d=o.d, out_dim=1, seed=0, dtype=torch.float64)


def net_plan(o: LearnabilityOptions) -> list[tuple[tuple[str, int, int], RunConfig]]:
    """((activation, depth, seed), config) of every trained-network run; target seed = run seed."""
    plan = []
    for label in o.net_activations:
        for seed in range(o.net_seeds):
            for depth in sorted(o.net_depths, reverse=True):  # deepest first: one forward pass serves the others
                data = {"name": "random_network_targets", "options": {
                    "n_train": o.net_n, "n_pool": o.n_pool, "n_test": o.n_test, "d": o.d, "depth": depth,
                    "activation": label, "width": o.target_width, "outputs": o.outputs, "seed": seed,
                    "data_seed": o.data_seed, "input_scale": o.input_scale}}
                cfg = RunConfig(name=f"{label}-L{depth}-s{seed}", seed=seed, dtype="float32", data=data,
                                network=_net_config(o), training={"steps": o.net_steps},
                                optimizer={"name": "gd", "lr": o.net_lr * o.outputs / o.input_scale ** 2},
                                probes={"every": max(1, o.net_steps // 20), "ntk": False, "top_nodes": 0})
                plan.append(((label, depth, seed), cfg))
    return plan


# --- execution ------------------------------------------------------------------------------------------------------

def execute(o: LearnabilityOptions, out: Path, progress: bool) -> None:
    with torch_threads(o.threads):
        theory = _theory(o, out)
        _measure(o, out, theory, progress)
    if progress:
        print("deep-learnability: training the shallow networks", flush=True)
    with torch_threads(1):
        train_many([cfg for _, cfg in net_plan(o)], out=out / "runs", progress=progress, desc="deep-learnability")


def _theory(o: LearnabilityOptions, out: Path) -> dict:
    """Activation constants, the degree masses of sigma-hat^{o L} and the eigenlearning prediction of learner (a)."""
    learner = learner_spectrum(learner_network(o), d=o.d, radius=o.input_scale * math.sqrt(o.d),
                               degree=o.theory_degree)
    ridges = RIDGE_GRID * float(learner.trace)
    constants, masses, predicted, spectra = [], [], [], {}
    for label in o.activations:
        constants.append(activation_constants(label))
        spec = spectra[label] = target_spectra(label, d=o.d, max_depth=o.max_depth, degree=o.theory_degree)
        for L in range(o.max_depth):
            for l in range(o.theory_degree + 1):
                masses.append({"activation": label, "depth": L + 1, "degree": l,
                               "mass": float(spec.alpha[L, l] / spec.trace[L])})
        for n in sorted(set(o.n_train) | {o.net_n}):  # every kernel-learner n and the trained nets' n
            fc = predicted_explained_variance(spec, learner, n, ridges)
            predicted += [{"activation": label, "depth": L + 1, "n": n, "fc": float(v)} for L, v in enumerate(fc)]
    write_table(pd.DataFrame(constants), out / "constants.parquet")
    write_table(pd.DataFrame(masses), out / "theory_masses.parquet")
    write_table(pd.DataFrame(predicted), out / "theory_krr.parquet")
    return spectra


def _measure(o: LearnabilityOptions, out: Path, spectra: dict, progress: bool) -> None:
    x = sphere_inputs(o.n_pool, o.n_test, o.d, o.data_seed)
    targets = {}
    for label in o.activations:  # (seeds, depth, N, outputs)
        targets[label] = torch.stack([target_outputs(label, s, depth=o.max_depth, n_pool=o.n_pool, n_test=o.n_test,
                                                     d=o.d, width=o.target_width, outputs=o.outputs,
                                                     data_seed=o.data_seed) for s in range(o.seeds)])
        if progress:
            print(f"deep-learnability: targets {label} done", flush=True)
    write_table(_sq_frame(o, x, targets), out / "sq_masses.parquet")
    write_table(_moments(o, targets), out / "moments.parquet")
    write_table(_kernel_learner(o, x, targets, progress), out / "krr.parquet")


def _columns(y: torch.Tensor) -> torch.Tensor:
    """(seeds, depth, N, outputs) -> (N, seeds * depth * outputs)."""
    return y.permute(2, 0, 1, 3).reshape(y.shape[2], -1)


def _sq_frame(o: LearnabilityOptions, x: torch.Tensor, targets: dict) -> pd.DataFrame:
    """||P_l f||^2 / E f^2 per seed, depth, output and degree (uncentred targets, all N points)."""
    rows = []
    for label, y in targets.items():
        S, L, N, K = y.shape
        cols = _columns(y)
        frac = (harmonic_masses(x, cols, o.sq_degree) / (cols ** 2).mean(0)).reshape(-1, S, L, K)
        for (l, s, depth, k), v in np.ndenumerate(frac.numpy()):
            rows.append({"activation": label, "seed": s, "depth": depth + 1, "output": k, "degree": l, "mass": v})
    return pd.DataFrame(rows)


def _moments(o: LearnabilityOptions, targets: dict) -> pd.DataFrame:
    """E over test points and outputs of the centred and raw targets' squares (F_c's and F's denominators)."""
    rows = []
    for label, y in targets.items():
        test = y[:, :, o.n_pool:]
        centred = test - y[:, :, : o.n_pool].mean(2, keepdim=True)
        for s in range(y.shape[0]):
            for depth in range(y.shape[1]):
                rows.append({"activation": label, "seed": s, "depth": depth + 1,
                             "centred": float((centred[s, depth] ** 2).mean()),
                             "raw": float((test[s, depth] ** 2).mean())})
    return pd.DataFrame(rows)


def _kernel_learner(o: LearnabilityOptions, x: torch.Tensor, targets: dict, progress: bool) -> pd.DataFrame:
    """Learner (a) on the first n pool points, the ridge chosen per (seed, depth) by leave-one-out."""
    gram = network_limit(learner_network(o), x * (o.input_scale * math.sqrt(o.d)), output=0)
    ridges = RIDGE_GRID * float(gram.diagonal().mean())
    test = slice(o.n_pool, None)
    centred_targets = {label: _columns(y - y[:, :, : o.n_pool].mean(2, keepdim=True)) for label, y in targets.items()}
    rows = []
    for n in sorted(o.n_train):
        solver = SpectralRidge(gram[:n, :n])
        for label, centred in centred_targets.items():
            S, L, N, K = targets[label].shape
            loo = solver.loo_mse(centred[:n], ridges).reshape(len(ridges), S, L, K).mean(-1)
            best = loo.argmin(0)  # (S, L)
            mse = torch.empty(S, L, K, dtype=torch.float64)
            for r in best.unique().tolist():
                chosen = (best == r)[:, :, None].expand(S, L, K).reshape(-1)
                pred = solver.predict(gram[test, :n], centred[:n, chosen], float(ridges[r]))
                mse.view(-1)[chosen] = ((pred - centred[test, chosen]) ** 2).mean(0)
            for s in range(S):
                for depth in range(L):
                    rows.append({"activation": label, "seed": s, "depth": depth + 1, "n": n,
                                 "mse": float(mse[s, depth].mean()), "ridge": float(RIDGE_GRID[best[s, depth]])})
        if progress:
            print(f"deep-learnability: kernel regression n={n} done", flush=True)
    return pd.DataFrame(rows)


# --- analysis -------------------------------------------------------------------------------------------------------

def net_frame(o: LearnabilityOptions, out: Path) -> pd.DataFrame:
    """One row per planned network run: status, final and best (least) test risk along training."""
    plan = net_plan(o)
    stored = {r.name: r for r in load_runs(out / "runs", [cfg for _, cfg in plan], finished_only=False)}
    rows = []
    for (label, depth, seed), cfg in plan:
        run = stored.get(cfg.name)
        status = run.status if run is not None else "missing"
        risk = run.series("test_risk") if status == "done" else pd.Series(dtype=float)
        rows.append({"activation": label, "depth": depth, "seed": seed, "run": cfg.name, "status": status,
                     "final_risk": float(risk.iloc[-1]) if len(risk) else math.nan,
                     "best_risk": float(risk.min()) if len(risk) else math.nan,
                     "best_step": int(risk.idxmin()) if len(risk) else -1})
    return pd.DataFrame(rows)


def _tables(o: LearnabilityOptions, out: Path) -> dict:
    moments = pd.read_parquet(out / "moments.parquet")
    krr = pd.read_parquet(out / "krr.parquet").merge(moments, on=["activation", "seed", "depth"])
    krr["fc"], krr["f"] = 1 - krr.mse / krr.centred, 1 - krr.mse / krr.raw
    nets = net_frame(o, out).merge(moments, on=["activation", "seed", "depth"], how="left")
    nets["fc"], nets["fc_final"] = 1 - nets.best_risk / nets.centred, 1 - nets.final_risk / nets.centred
    return {"constants": pd.read_parquet(out / "constants.parquet"),
            "theory_masses": pd.read_parquet(out / "theory_masses.parquet"),
            "theory_krr": pd.read_parquet(out / "theory_krr.parquet"),
            "sq": pd.read_parquet(out / "sq_masses.parquet"), "krr": krr, "nets": nets}


def analyse(o: LearnabilityOptions, out: Path) -> ExperimentResult:
    t = _tables(o, out)
    claims = learnability_claims(o, t)
    figures = learnability_figures(o, t, out)
    summary = t["krr"][t["krr"].n == o.claim_n].groupby(["activation", "depth"]).agg(
        fc=("fc", "mean"), fc_std=("fc", "std"), f=("f", "mean")).reset_index()
    summary = summary.merge(t["theory_krr"][t["theory_krr"].n == o.claim_n].rename(columns={"fc": "fc_theory"})
                            .drop(columns="n"), on=["activation", "depth"])
    return ExperimentResult(out=out, claims=claims, figures=figures,
                            tables={"learnability": summary, "constants": t["constants"], "nets": t["nets"]})


PRESET = Preset(
    name="deep-learnability",
    description="Agarwal et al. / Das et al.: random deep networks (normalised relu / tanh, centred gelu, plain "
                "relu, L = 1-20) on the sphere; their correlation with low-degree polynomials and the explained "
                "variance of a fixed kernel and a trained shallow net fall exponentially with depth.",
    paper="Agarwal, Awasthi, Kale 2021; Das, Gollapudi, Kumar, Panigrahy 2019",
    options=LearnabilityOptions,
    execute=execute,
    analyse=analyse,
    modes={
        "quick": {"max_depth": 16, "target_width": 512, "seeds": 2, "n_train": [250, 1000], "n_test": 1000,
                  "claim_n": 1000, "theory_degree": 6, "net_depths": [1, 3, 5, 7], "net_seeds": 1, "net_n": 500,
                  "net_width": 500, "net_steps": 400},
        "full": {"target_width": 2048, "seeds": 5, "n_train": [250, 500, 1000, 2000, 4000], "claim_n": 4000,
                 "net_seeds": 3, "net_depths": [1, 2, 3, 4, 6, 8, 10, 12, 15], "net_n": 2000, "net_width": 2000},
    },
)
