r"""Agarwal, Awasthi & Kale (2021), second application: benign overfitting can occur in deep networks, through
Bartlett, Long, Lugosi & Tsigler's conditions on the deep kernel's spectrum (``ntklab run deep-benign-overfitting``).

Data: n points uniform on S^{d-1}, labels y = f*(x) + eps with f*(x) = sqrt(d) <beta, x> (|beta| = 1, unit second
moment) and eps ~ N(0, sigma^2), sigma^2 = ``noise``; 500 test points; 2 data seeds (points, beta and noise).
Learner: the minimum-norm interpolant (ridgeless kernel regression, :func:`ntklab.kernels.min_norm_interpolation`,
float64) with the deep conjugate kernel K^(L) = sigma-hat^{o L}(<x, x'>) of normalised relu (the infinite-width
NNGP), or with the finite-width random-feature kernel of one random network of width m
(:func:`ntklab.kernels.random_network_nngp`; its minimum-norm interpolant is the least-norm readout theta with
Phi theta = y).  Since the interpolant is linear in y, the excess risk splits exactly (in expectation over the noise)
into the bias ||f-hat(f*) - f*||^2 on the test points and the variance sigma^2 mean_x ||K^{-1} k(X, x)||^2; the risk
on noisy test labels from one noise draw is recorded beside.

Sweeps (``sweep`` column):
- ``n``: n in ``n_train`` for two families: ``deep`` (d = ``high_d``, depth L(n) chosen from the spectrum alone: the
  depth with the least predicted excess risk, the deterministic equivalent, no data seen) and ``shallow``
  (d = ``low_d``, L = 1), where Bartlett et al.'s conditions hold and where they fail;
- ``depth``: L = 1..``max_depth`` at n = ``depth_n`` in both dimensions;
- ``width``: widths ``widths`` at n = ``width_n``, depth ``width_depth``, d = ``high_d``, and the infinite-width
  kernel beside.

Theory (:mod:`._benign_theory`): r_k, R_k, k* (b = 2) and the bounds with their constants; the deterministic
equivalent.  Claims: :mod:`._benign_claims`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from typing_extensions import Annotated

from ..._errors import one_of
from ..._io import write_table
from ..._threads import torch_threads
from ...data import sphere_points
from ...kernels import min_norm_interpolation, random_network_nngp
from .._registry import ExperimentResult, Preset
from ._benign_claims import benign_claims
from ._benign_figures import benign_figures
from ._benign_theory import deep_cosine_kernels, deep_spectra, theory_row
from ._learnability_data import CENTRED, target_activation

__all__ = ["BenignOptions", "depth_schedule"]


class BenignOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    activation: Annotated[str, AfterValidator(one_of(CENTRED))] = "normalized_relu"
    noise: float = Field(1.0, gt=0)  # sigma^2
    high_d: int = Field(20, ge=3)
    low_d: int = Field(3, ge=3)
    n_train: list[int] = Field(default_factory=lambda: [250, 500, 1000, 2000], min_length=2)
    n_test: int = Field(500, ge=10)
    max_depth: int = Field(16, ge=2)
    depth_n: int = Field(1000, ge=2)
    widths: list[int] = Field(default_factory=lambda: [1000, 2000, 4000, 8000], min_length=2)
    width_n: int = Field(500, ge=2)
    width_depth: int = Field(8, ge=1)
    seeds: int = Field(2, ge=1)
    data_seed: int = 0
    b: float = Field(2.0, gt=1)  # k* = min{k : r_k >= b n}
    # torch threads (0: torch's default); 1 because on a shared 2-core machine two threads ran --quick 12x slower
    threads: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _consistent(self):
        if self.width_depth > self.max_depth:
            raise ValueError(f"width_depth {self.width_depth} exceeds max_depth {self.max_depth}")
        if min(self.widths) <= self.width_n:
            raise ValueError(f"every width must exceed width_n = {self.width_n} (else no interpolant exists)")
        return self

    @property
    def n_pool(self) -> int:
        return max(max(self.n_train), self.depth_n, self.width_n)


def _data(o: BenignOptions, d: int, seed: int) -> dict:
    """Points (pool then test), the target f* and one noise draw, for data seed ``seed``."""
    x = sphere_points(o.n_pool + o.n_test, d, seed=o.data_seed + 1000 * seed + d)
    gen = torch.Generator().manual_seed(o.data_seed + 1000 * seed + d + 1)
    beta = torch.randn(d, generator=gen, dtype=torch.float64)
    f = math.sqrt(d) * x @ (beta / beta.norm())
    eps = math.sqrt(o.noise) * torch.randn(x.shape[0], generator=gen, dtype=torch.float64)
    return {"x": x, "f": f, "eps": eps}


def _fit(gram: torch.Tensor, data: dict, n: int, n_pool: int, noise: float, **labels) -> dict:
    """The minimum-norm interpolant of f*, of the noise and of f* + noise on the first n points."""
    test = slice(n_pool, None)
    f, eps = data["f"], data["eps"]
    y = torch.stack([f[:n], eps[:n], f[:n] + eps[:n]], 1)
    fit = min_norm_interpolation(gram[:n, :n], gram[test, :n], y)
    pred = fit.predictions
    bias = float(((pred[:, 0] - f[test]) ** 2).mean())
    variance = noise * float(fit.noise_gain.mean())
    risk = float(((pred[:, 2] - f[test] - eps[test]) ** 2).mean())
    return {**labels, "n": n, "train_residual": fit.train_residual, "cond": fit.cond, "bias": bias,
            "variance": variance, "excess": bias + variance, "variance_draw": float((pred[:, 1] ** 2).mean()),
            "test_risk_draw": risk}


def depth_schedule(theory: pd.DataFrame, o: BenignOptions) -> dict:
    """n -> the depth with the least predicted excess risk (deterministic equivalent) in d = high_d."""
    sel = theory[(theory.d == o.high_d)]
    sel = sel.assign(de_excess=sel.de_variance + sel.de_bias)
    return {int(n): int(g.loc[g.de_excess.idxmin(), "depth"]) for n, g in sel.groupby("n")}


def execute(o: BenignOptions, out: Path, progress: bool) -> None:
    with torch_threads(o.threads):
        theory = _theory(o)
        write_table(theory, out / "theory.parquet")
        write_table(_measure(o, depth_schedule(theory, o), progress), out / "interpolation.parquet")


def _theory(o: BenignOptions) -> pd.DataFrame:
    act, _ = target_activation(o.activation)
    ns = sorted(set(o.n_train) | {o.depth_n, o.width_n})
    rows = []
    for d in (o.high_d, o.low_d):
        spectra = deep_spectra(act, d=d, max_depth=o.max_depth, n_max=max(ns))
        for depth in range(1, o.max_depth + 1):
            for n in ns:
                rows.append({"d": d, "depth": depth, "n": n, **theory_row(spectra[depth - 1], n, noise=o.noise,
                                                                          b=o.b)})
    return pd.DataFrame(rows)


def _measure(o: BenignOptions, schedule: dict, progress: bool) -> pd.DataFrame:
    act, _ = target_activation(o.activation)
    rows = []
    for seed in range(o.seeds):
        for d in (o.high_d, o.low_d):
            data = _data(o, d, seed)
            family = "deep" if d == o.high_d else "shallow"
            by_depth = {}  # the n sweep: the deep family at its scheduled depths, the shallow one at L = 1
            for n in o.n_train:
                by_depth.setdefault(schedule[n] if d == o.high_d else 1, []).append(n)
            for depth, gram in deep_cosine_kernels(act, data["x"], o.max_depth):
                labels = {"family": family, "d": d, "depth": depth, "width": 0, "seed": seed}
                rows += [_fit(gram, data, n, o.n_pool, o.noise, sweep="n", **labels) for n in by_depth.get(depth, [])]
                rows.append(_fit(gram, data, o.depth_n, o.n_pool, o.noise, sweep="depth", **labels))
                if d == o.high_d and depth == o.width_depth:
                    rows += _width_sweep(o, act, data, gram, seed)
            if progress:
                print(f"deep-benign-overfitting: seed {seed}, d={d} done", flush=True)
    return pd.DataFrame(rows)


def _width_sweep(o: BenignOptions, act, data: dict, exact: torch.Tensor, seed: int) -> list[dict]:
    """Random deep features of width m (one network per width and seed) against the infinite-width kernel."""
    idx = torch.cat([torch.arange(o.width_n), torch.arange(o.n_pool, o.n_pool + o.n_test)])
    sub = {k: v[idx] for k, v in data.items()}
    x = sub["x"] * math.sqrt(o.high_d)
    labels = {"sweep": "width", "family": "deep", "d": o.high_d, "depth": o.width_depth, "seed": seed}
    rows = [_fit(exact[idx][:, idx], sub, o.width_n, o.width_n, o.noise, width=0, **labels)]
    for width in o.widths:
        gram = random_network_nngp(x, depth=o.width_depth, activation=act, width=width, seed=seed,
                                   dtype=torch.float32)
        rows.append(_fit(gram, sub, o.width_n, o.width_n, o.noise, width=width, **labels))
    return rows


def analyse(o: BenignOptions, out: Path) -> ExperimentResult:
    theory = pd.read_parquet(out / "theory.parquet")
    fits = pd.read_parquet(out / "interpolation.parquet")
    merged = fits.merge(theory, on=["d", "depth", "n"], how="left")
    claims = benign_claims(o, merged)
    summary = (merged.groupby(["sweep", "family", "d", "depth", "n", "width"])
               .agg(excess=("excess", "mean"), bias=("bias", "mean"), variance=("variance", "mean"),
                    test_risk_draw=("test_risk_draw", "mean"), train_residual=("train_residual", "max"),
                    de_variance=("de_variance", "first"), variance_lower=("variance_lower", "first"),
                    variance_upper=("variance_upper", "first"), k_star=("k_star", "first"),
                    r_k_star=("r_k_star", "first"), R_k_star=("R_k_star", "first"), r0=("r0", "first"))
               .reset_index())
    return ExperimentResult(out=out, claims=claims, figures=benign_figures(o, merged, out),
                            tables={"benign": summary, "theory": theory})


PRESET = Preset(
    name="deep-benign-overfitting",
    description="Agarwal et al. / Bartlett et al.: minimum-norm interpolation of noisy labels with the deep "
                "conjugate kernel (and random deep features) on the sphere; test risk vs n, depth and width beside "
                "the effective ranks r_k, R_k and their bounds.",
    paper="Agarwal, Awasthi, Kale 2021; Bartlett, Long, Lugosi, Tsigler 2020",
    options=BenignOptions,
    execute=execute,
    analyse=analyse,
    modes={
        "quick": {"n_train": [250, 500, 1000], "max_depth": 12, "depth_n": 500, "width_n": 250,
                  "widths": [500, 1000, 2000, 4000], "width_depth": 6},
        "full": {"n_train": [250, 500, 1000, 2000, 4000], "n_test": 1000, "seeds": 4,
                 "widths": [1000, 2000, 4000, 8000, 16000]},
    },
)
