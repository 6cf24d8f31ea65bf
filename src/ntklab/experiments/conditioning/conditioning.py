r"""Agarwal, Awasthi & Kale (2021): depth improves the conditioning of kernel matrices (``ntklab run conditioning``).

With a normalised activation (E sigma(z) = 0, E sigma(z)^2 = 1), the conjugate kernel of L layers on unit-norm
data is K^(L)_ij = sigma-hat^{o L}(<x_i, x_j>), and every layer contracts the off-diagonal correlations
(|sigma-hat(rho)| <= a_1^2 |rho| + mu rho^2, mu = 1 - a_1^2), so cond(K^(L)) -> 1 as L grows, faster for larger mu.
Plain (He-scaled) relu has sigma-hat(1) = 1 but a_0 != 0: correlations converge to 1 and K -> 11^T.

Here K^(L) = ``infinite_kernel(x, depth=L, kind="nngp", weight_var=1, bias_var=0)`` (2 for plain relu) with x
scaled to |x| = sqrt(d) so that the input covariance x.x'/d is the cosine; Theta^(L) is the NTK of the same
network.  Data: n = 200 points uniform on S^9 and n = 200 digits (sklearn, 8x8) projected to the sphere.  Random
networks of widths 256-4096 give the finite-width K-hat^(L) (:func:`ntklab.kernels.random_network_nngp`).

Claims: (1) normalised relu: cond(K^(L)) decreases with depth and is < 1.2 at L = 30; (2) plain relu: cond > 100
at every depth <= 50 and the normalised off-diagonal entries tend to 1; (3) the depth to reach cond 2 is smaller
for activations with larger mu; (4) the finite-width kernels approach the analytic one as the width grows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..._errors import ConfigError
from ..._fits import loglog_fit
from ..._io import write_table
from ..._threads import torch_threads
from ...data import digits_on_sphere, sphere_points
from ...kernels import (
    infinite_kernel,
    nonlinearity_degree,
    normalize,
    random_network_nngp,
)
from ...report import Claim, claim, reported, save_figure
from .._registry import ExperimentResult, Preset

__all__ = ["ConditioningOptions", "CONDITIONING_ACTIVATIONS", "kernel_activation"]

# label -> (activation, weight_var): plain relu is He-scaled so that the variance stays 1 on the sphere
CONDITIONING_ACTIVATIONS = {
    "relu": ("relu", 2.0),
    "normalized_relu": ("normalized_relu", 1.0),
    "normalized_tanh": ("normalized_tanh", 1.0),
    "centred_gelu": ("centred_gelu", 1.0),
}
NORMALISED = ("normalized_relu", "normalized_tanh", "centred_gelu")


def kernel_activation(label: str):
    """The activation behind a label (``normalized_tanh`` and ``centred_gelu`` = normalize(tanh / gelu))."""
    return {"normalized_tanh": lambda: normalize("tanh", name="normalized_tanh"),
            "centred_gelu": lambda: normalize("gelu", name="centred_gelu")}.get(label, lambda: label)()


def _dataset(name: str, o) -> torch.Tensor:
    """Unit-norm points scaled by sqrt(d), so the network's input covariance x.x'/d is the cosine."""
    x = sphere_points(o.n, o.d, seed=o.data_seed) if name == "sphere" else digits_on_sphere(o.n, seed=o.data_seed)
    return x * math.sqrt(x.shape[1])


# --- options, execution -------------------------------------------------------------------------------------------

class ConditioningOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(200, ge=2)
    d: int = Field(10, ge=2)
    max_depth: int = Field(50, ge=2)
    check_depth: int = Field(30, ge=1)  # claim 1: cond(K^(L)) < 1.2 at this depth
    target_cond: float = Field(2.0, gt=1)  # claim 3: the depth to reach this condition number
    activations: list[str] = Field(default_factory=lambda: list(CONDITIONING_ACTIVATIONS))
    datasets: list[str] = Field(default_factory=lambda: ["sphere", "digits"])
    data_seed: int = 0
    fw_dataset: str = "sphere"
    fw_activations: list[str] = Field(default_factory=lambda: ["relu", "normalized_relu"])
    fw_widths: list[int] = Field(default_factory=lambda: [256, 512, 1024, 2048, 4096])
    fw_seeds: int = Field(2, ge=1)
    fw_depth: int = Field(20, ge=1)
    threads: int = Field(1, ge=0)  # torch intra-op threads (0: torch's default); small blocks gain nothing from more

    @field_validator("activations", "fw_activations")
    @classmethod
    def _known_activations(cls, v):
        for a in v:
            if a not in CONDITIONING_ACTIVATIONS:
                raise ConfigError("activations", f"got {a!r}", allowed=", ".join(CONDITIONING_ACTIVATIONS))
        return v

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, v):
        for name in v:
            if name not in ("sphere", "digits"):
                raise ConfigError("datasets", f"got {name!r}", allowed="'sphere', 'digits'")
        return v


def _spectral_rows(kernels: torch.Tensor, **labels) -> list[dict]:
    """(L, n, n) kernels -> one row per depth: lambda_min/max, cond, normalised off-diagonal statistics."""
    ev = torch.linalg.eigvalsh(kernels)
    diag = torch.sqrt(torch.diagonal(kernels, dim1=1, dim2=2))
    corr = kernels / (diag[:, :, None] * diag[:, None, :])
    off = ~torch.eye(kernels.shape[1], dtype=torch.bool)
    rows = []
    for layer in range(kernels.shape[0]):
        lo, hi = float(ev[layer, 0]), float(ev[layer, -1])
        c = corr[layer][off]
        rows.append({**labels, "depth": layer + 1, "lambda_min": lo, "lambda_max": hi,
                     "cond": hi / lo if lo > 0 else float("inf"), "offdiag_mean": float(c.mean()),
                     "offdiag_min": float(c.min()), "offdiag_absmax": float(c.abs().max())})
    return rows


def execute(o: ConditioningOptions, out: Path, progress: bool) -> None:
    with torch_threads(o.threads):
        _execute(o, out, progress)


def _execute(o: ConditioningOptions, out: Path, progress: bool) -> None:
    rows = []
    for ds in o.datasets:
        x = _dataset(ds, o)
        for label in o.activations:
            act, wv = CONDITIONING_ACTIVATIONS[label]
            nngp, ntk = infinite_kernel(x, depth=o.max_depth, activation=kernel_activation(act), kind="both",
                                        weight_var=wv, bias_var=0.0, all_depths=True)
            rows += _spectral_rows(nngp, dataset=ds, activation=label, kernel="nngp")
            rows += _spectral_rows(ntk, dataset=ds, activation=label, kernel="ntk")
            if progress:
                print(f"conditioning: {ds} / {label} done", flush=True)
    write_table(pd.DataFrame(rows), out / "spectra.parquet")
    write_table(_finite_width(o, progress), out / "finite_width.parquet")
    mu = [{"activation": a, "mu": nonlinearity_degree(kernel_activation(CONDITIONING_ACTIVATIONS[a][0]))}
          for a in o.activations]
    write_table(pd.DataFrame(mu), out / "mu.parquet")


def _finite_width(o: ConditioningOptions, progress: bool) -> pd.DataFrame:
    x = _dataset(o.fw_dataset, o)
    rows = []
    for label in o.fw_activations:
        act, wv = CONDITIONING_ACTIVATIONS[label]
        act = kernel_activation(act)
        exact = infinite_kernel(x, depth=o.fw_depth, activation=act, kind="nngp", weight_var=wv, all_depths=True)
        for width in o.fw_widths:
            for seed in range(o.fw_seeds):
                k_hat = random_network_nngp(x.float(), depth=o.fw_depth, activation=act, width=width,
                                            weight_var=wv, seed=seed, all_depths=True, dtype=torch.float32)
                err = (k_hat - exact).flatten(1).norm(dim=1) / exact.flatten(1).norm(dim=1)
                for r in _spectral_rows(k_hat, activation=label, width=width, seed=seed):
                    rows.append({**r, "rel_error": float(err[r["depth"] - 1])})
            if progress:
                print(f"conditioning: finite width {label} m={width} done", flush=True)
    return pd.DataFrame(rows)


# --- analysis -------------------------------------------------------------------------------------------------------

def _depth_to_reach(sub: pd.DataFrame, target: float) -> float:
    hit = sub[sub.cond <= target]
    return float(hit.depth.min()) if len(hit) else float("inf")


def _fmt_depths(sub: pd.DataFrame, depths, col="cond") -> str:
    s = sub.set_index("depth")[col]
    return ", ".join(f"L={d}: {s[d]:.4g}" for d in depths if d in s.index)


def analyse(o: ConditioningOptions, out: Path) -> ExperimentResult:
    spectra = pd.read_parquet(out / "spectra.parquet")
    finite = pd.read_parquet(out / "finite_width.parquet")
    mu = pd.read_parquet(out / "mu.parquet").set_index("activation").mu
    nngp = spectra[spectra.kernel == "nngp"]
    show = [d for d in (1, 2, 5, 10, 20, 30, 50) if d <= o.max_depth]
    claims: list[Claim] = []
    for ds in o.datasets:
        claims += _dataset_claims(o, nngp[nngp.dataset == ds], mu, ds, show)
        ntk = spectra[(spectra.kernel == "ntk") & (spectra.dataset == ds)]
        if "normalized_relu" in o.activations:
            claims.append(reported(f"{ds}: normalised relu: cond(Θ^(L)) of the NTK", _fmt_depths(ntk[ntk.activation == "normalized_relu"], show),
                                "the NTK version of the result"))
    claims += _finite_claims(o, finite)
    table = nngp[nngp.depth.isin(show)].pivot_table(index=["dataset", "activation"], columns="depth",
                                                     values="cond").reset_index()
    table.columns = [str(c) if not isinstance(c, str) else c for c in table.columns]
    reach = (nngp.groupby(["dataset", "activation"]).apply(lambda s: _depth_to_reach(s, o.target_cond),
                                                           include_groups=False)
             .rename(f"depth_to_cond_{o.target_cond:g}").reset_index())
    reach["mu"] = reach.activation.map(mu)
    figures = _figures(o, spectra, finite, out)
    return ExperimentResult(out=out, claims=claims, figures=figures,
                            tables={"cond_by_depth": table, "depth_to_target": reach})


def _dataset_claims(o, nngp, mu, ds, show) -> list[Claim]:
    claims = []
    if "normalized_relu" in o.activations:
        sub = nngp[nngp.activation == "normalized_relu"].sort_values("depth")
        cond = sub.cond.to_numpy()
        decreasing = bool(np.all(np.diff(cond) <= 1e-9 * cond[1:]))
        at = sub.set_index("depth").cond.get(o.check_depth, float("nan"))
        claims.append(claim(f"{ds}: normalised relu: cond(K^(L)) decreases with depth, < 1.2 at L={o.check_depth}",
                            decreasing and at < 1.2, f"{_fmt_depths(sub, show)}; monotone: {decreasing}",
                            "papers.md (sphere): 1989, 380, 33.5, 4.1, 1.11, 1.005 at L=1,2,5,10,20,30"))
    if "relu" in o.activations:
        sub = nngp[nngp.activation == "relu"].sort_values("depth")
        low = float(sub.cond.min())
        off_mean = sub.offdiag_mean.to_numpy()
        off_min = float(sub.offdiag_min.iloc[-1])
        rising = bool(np.all(np.diff(off_mean) > 0))
        claims.append(claim(f"{ds}: plain relu: cond(K^(L)) > 100 at every depth ≤ {o.max_depth}", low > 100,
                            f"min over depths {low:.4g}; {_fmt_depths(sub, show)}", "papers.md: 5.8e3 – 1.3e4"))
        claims.append(claim(f"{ds}: plain relu: normalised off-diagonal entries tend to 1 (K → 11ᵀ)",
                            rising and off_min > 0.9,
                            f"mean ρ_ij: {_fmt_depths(sub, show, 'offdiag_mean')}; min ρ_ij at L={o.max_depth}: "
                            f"{off_min:.4f}; mean rising: {rising}", "mean increasing, min > 0.9 at the deepest L"))
    normed = [a for a in o.activations if a in NORMALISED]
    if len(normed) >= 2:
        reach = {a: _depth_to_reach(nngp[nngp.activation == a], o.target_cond) for a in normed}
        order = sorted(normed, key=lambda a: -mu[a])
        ok = all(reach[a] <= reach[b] for a, b in zip(order, order[1:])) and reach[order[0]] < reach[order[-1]]
        claims.append(claim(f"{ds}: depth to reach cond {o.target_cond:g} is smaller for larger μ", ok,
                            "; ".join(f"{a}: μ={mu[a]:.3f}, L={reach[a]:g}" for a in order),
                            "L ∝ 1/μ (Agarwal et al.)"))
    return claims


def _finite_claims(o, finite) -> list[Claim]:

    claims = []
    for label in o.fw_activations:
        sub = finite[finite.activation == label]
        err = sub[sub.depth == o.fw_depth].groupby("width").rel_error.mean()
        slope = loglog_fit(err.index, err.values).slope
        shown = ", ".join(f"m={m}: {v:.3g}" for m, v in err.items())
        claims.append(claim(f"{o.fw_dataset}: {label}: finite-width K̂^(L={o.fw_depth}) → K^(L) as width grows",
                            bool(np.all(np.diff(err.values) < 0)),
                            f"‖K̂ − K‖_F/‖K‖_F (mean of {o.fw_seeds} seeds): {shown}", "decreasing in m"))
        claims.append(claim(f"{o.fw_dataset}: {label}: finite-width error at L={o.fw_depth} falls like m^-1/2",
                            -0.8 <= slope <= -0.3, f"log-log slope {slope:.2f}", "slope in [−0.8, −0.3]"))
        shallow = min(5, o.fw_depth)
        e5 = sub[sub.depth == shallow].groupby("width").rel_error.mean()
        claims.append(reported(f"{o.fw_dataset}: {label}: finite-width error at L={shallow}", ", ".join(f"m={m}: {v:.3g}" for m, v in e5.items())
                            + f"; slope {loglog_fit(e5.index, e5.values).slope:.2f}", "slope ≈ −1/2"))
    return claims


def _figures(o, spectra, finite, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    for ds in o.datasets:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, kernel, title in zip(axes, ("nngp", "ntk"), ("K^(L) (NNGP)", "Θ^(L) (NTK)")):
            sub = spectra[(spectra.dataset == ds) & (spectra.kernel == kernel)]
            for i, a in enumerate(o.activations):
                s = sub[sub.activation == a].sort_values("depth")
                ax.plot(s.depth, s.cond, color=f"C{i}", label=a)
            ax.set(yscale="log", xlabel="depth L", ylabel="condition number", title=f"{ds}: {title}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        paths.append(save_figure(fig, out / "figures" / f"conditioning_{ds}.png"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    exact = spectra[(spectra.dataset == o.fw_dataset) & (spectra.kernel == "nngp")]
    for i, a in enumerate(o.fw_activations):
        s = exact[(exact.activation == a) & (exact.depth <= o.fw_depth)].sort_values("depth")
        axes[0].plot(s.depth, s.cond, color=f"C{i}", lw=2.5, label=f"{a}: infinite width")
        for j, m in enumerate(o.fw_widths):
            f = finite[(finite.activation == a) & (finite.width == m)].groupby("depth").cond.mean()
            axes[0].plot(f.index, f.values, color=f"C{i}", ls=":", alpha=0.3 + 0.7 * (j + 1) / len(o.fw_widths),
                         label=f"{a}: m={m}" if j in (0, len(o.fw_widths) - 1) else None)
        err = finite[(finite.activation == a) & (finite.depth == o.fw_depth)].groupby("width").rel_error.mean()
        axes[1].plot(err.index, err.values, "o-", color=f"C{i}", label=a)
    axes[0].set(yscale="log", xlabel="depth L", ylabel="cond", title=f"{o.fw_dataset}: finite vs infinite width")
    axes[1].set(xscale="log", yscale="log", xlabel="width m", ylabel="‖K̂ − K‖_F / ‖K‖_F",
                title=f"relative error at L={o.fw_depth}")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    paths.append(save_figure(fig, out / "figures" / "conditioning_finite_width.png"))
    return paths


PRESET = Preset(
    name="conditioning",
    description="Agarwal et al.: cond(K^(L)) and cond(Θ^(L)) vs depth for relu, normalised relu/tanh, centred "
                "gelu on sphere and digits data; finite-width kernels beside the analytic ones.",
    paper="Agarwal, Awasthi, Kale 2021",
    options=ConditioningOptions,
    execute=execute,
    analyse=analyse,
    modes={
        "quick": {"n": 40, "max_depth": 30, "fw_widths": [64, 256, 1024], "fw_seeds": 1, "fw_depth": 4},
        "full": {"fw_seeds": 4},
    },
)
