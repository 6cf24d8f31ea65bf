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
for activations with larger mu; (4) the finite-width kernels approach the analytic one as the width grows, like
m^{-1/2}, for every seed.  Each claim declares its preconditions (the activation and dataset were computed, enough
depths or widths for an ordering or a slope, finite condition numbers and errors, the depth it reads was computed):
see :mod:`ntklab.experiments.conditioning._conditioning_claims`.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from typing_extensions import Annotated

from ..._errors import one_of
from ..._io import write_table
from ..._threads import torch_threads
from ...data import digits_on_sphere, sphere_points
from ...kernels import (
    infinite_kernel,
    nonlinearity_degree,
    normalize,
    random_network_nngp,
)
from ...report import Claim, save_figure
from .._registry import ExperimentResult, Preset
from ._common import names
from ._conditioning_claims import dataset_claims, depth_to_reach, finite_width_claims

__all__ = ["ConditioningOptions", "CONDITIONING_ACTIVATIONS", "kernel_activation"]

# label -> (activation, weight_var): plain relu is He-scaled so that the variance stays 1 on the sphere
CONDITIONING_ACTIVATIONS = {
    "relu": ("relu", 2.0),
    "normalized_relu": ("normalized_relu", 1.0),
    "normalized_tanh": ("normalized_tanh", 1.0),
    "centred_gelu": ("centred_gelu", 1.0),
}


def kernel_activation(label: str):
    """The activation behind a label (``normalized_tanh`` and ``centred_gelu`` = normalize(tanh / gelu))."""
    return {"normalized_tanh": lambda: normalize("tanh", name="normalized_tanh"),
            "centred_gelu": lambda: normalize("gelu", name="centred_gelu")}.get(label, lambda: label)()


def _dataset(name: str, o) -> torch.Tensor:
    """Unit-norm points scaled by sqrt(d), so the network's input covariance x.x'/d is the cosine."""
    x = sphere_points(o.n, o.d, seed=o.data_seed) if name == "sphere" else digits_on_sphere(o.n, seed=o.data_seed)
    return x * math.sqrt(x.shape[1])


# --- options, execution -------------------------------------------------------------------------------------------

DATASETS = ("sphere", "digits")


class ConditioningOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(200, ge=2)
    d: int = Field(10, ge=2)
    max_depth: int = Field(50, ge=2)
    check_depth: int = Field(30, ge=1)  # claim 1: cond(K^(L)) < 1.2 at this depth
    target_cond: float = Field(2.0, gt=1)  # claim 3: the depth to reach this condition number
    activations: names(CONDITIONING_ACTIVATIONS) = Field(default_factory=lambda: list(CONDITIONING_ACTIVATIONS))
    datasets: names(DATASETS) = Field(default_factory=lambda: list(DATASETS))
    data_seed: int = 0
    fw_dataset: Annotated[str, AfterValidator(one_of(DATASETS))] = "sphere"
    fw_activations: names(CONDITIONING_ACTIVATIONS) = Field(default_factory=lambda: ["relu", "normalized_relu"])
    fw_widths: list[int] = Field(default_factory=lambda: [256, 512, 1024, 2048, 4096], min_length=1)
    fw_seeds: int = Field(2, ge=1)
    fw_depth: int = Field(20, ge=1)
    threads: int = Field(1, ge=0)  # torch intra-op threads (0: torch's default); small blocks gain nothing from more


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

def analyse(o: ConditioningOptions, out: Path) -> ExperimentResult:
    spectra = pd.read_parquet(out / "spectra.parquet")
    finite = pd.read_parquet(out / "finite_width.parquet")
    mu = pd.read_parquet(out / "mu.parquet").set_index("activation").mu
    nngp = spectra[spectra.kernel == "nngp"]
    show = [d for d in (1, 2, 5, 10, 20, 30, 50) if d <= o.max_depth]
    claims: list[Claim] = []
    for ds in o.datasets:
        ntk = spectra[(spectra.kernel == "ntk") & (spectra.dataset == ds)]
        claims += dataset_claims(o, nngp[nngp.dataset == ds], ntk, mu, ds, show)
    claims += finite_width_claims(o, finite)
    table = nngp[nngp.depth.isin(show)].pivot_table(index=["dataset", "activation"], columns="depth",
                                                     values="cond").reset_index()
    table.columns = [str(c) if not isinstance(c, str) else c for c in table.columns]
    reach = (nngp.groupby(["dataset", "activation"]).apply(lambda s: depth_to_reach(s, o.target_cond),
                                                           include_groups=False)
             .rename(f"depth_to_cond_{o.target_cond:g}").reset_index())
    reach["mu"] = reach.activation.map(mu)
    figures = _figures(o, spectra, finite, out)
    return ExperimentResult(out=out, claims=claims, figures=figures,
                            tables={"cond_by_depth": table, "depth_to_target": reach})


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
