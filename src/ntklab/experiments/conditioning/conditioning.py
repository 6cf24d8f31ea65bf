r"""Agarwal, Awasthi & Kale (2021): depth improves the conditioning of kernel matrices (``ntklab run conditioning``).

With a normalised activation (E sigma(z) = 0, E sigma(z)^2 = 1), the conjugate kernel of L layers on unit-norm
data is K^(L)_ij = sigma-hat^{o L}(<x_i, x_j>), and every layer contracts the off-diagonal correlations
(|sigma-hat(rho)| <= a_1^2 |rho| + mu rho^2, mu = 1 - a_1^2), so cond(K^(L)) -> 1 as L grows; a depth
O((1/mu) log(n / (delta eps))) suffices (delta the separation of the data).  Plain (He-scaled) relu has
sigma-hat(1) = 1 but a_0 != 0: correlations converge to 1 and K -> 11^T.

Here K^(L) = ``infinite_kernel(x, depth=L, kind="nngp", weight_var=1, bias_var=0)`` (2 for plain relu) with x
scaled to |x| = sqrt(d) so that the input covariance x.x'/d is the cosine; Theta^(L) is the NTK of the same
network.  Data: n = 200 points uniform on S^9 and n = 200 digits (sklearn, 8x8) projected to the sphere.  The
normalised activations span mu from 0.07 to 0.77: tanh (0.070), sin (0.149), relu (0.267), gelu (0.277) and
``normalized_abrelu`` = normalize(max(z, 0) + max(-z, 0) / 2) (0.766).

Finite width (:func:`ntklab.kernels.random_network_nngp`): on ``fw_n`` = 50 sphere points, ``fw_nets`` random
networks per width m in 256..4096 and per seed give K-hat^(L) at the depths L in ``fw_depths`` = 2, 5, 10, and
the root-mean-square relative error e(m) = sqrt(mean_nets ||K-hat - K||_F^2) / ||K||_F.  The CLT predicts
e(m) ~ C(L) m^{-1/2} once K-hat is close to K; for the normalised relu C(L) grows like sqrt(n L) (K -> I, so
||K||_F = sqrt(n) while every one of the n^2 entries fluctuates), which is why the fit needs m >> n L rather than
L = 20 at m <= 256.

Claims (:mod:`ntklab.experiments.conditioning._conditioning_claims`): (1) normalised relu: cond(K^(L)) decreases
with depth and is < 1.2 at L = 30; (2) plain relu: cond > 100 at every depth and the normalised off-diagonal
entries tend to 1; (3) the depth to reach cond 2 is smaller for larger mu, for every pair of activations whose mu
differ by at least 1.5x (centred gelu and normalised relu, 4% apart in mu, are not compared: at equal mu the
depth is set by the rest of the Hermite spectrum); (4) that depth scales like 1/mu: L mu is constant within 2x
over mu spanning >= 4x; (5) K-hat^(L) -> K^(L) as m grows and (6) e(m) falls like m^{-1/2} on the widths where
K-hat is close to K (e <= ``fw_max_error``), seed by seed at every depth.
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
from ._common import names, sizes
from ._conditioning_claims import NORMALISED, dataset_claims, depth_to_reach, finite_width_claims, rms_errors

__all__ = ["ConditioningOptions", "CONDITIONING_ACTIVATIONS", "kernel_activation", "network_seed"]

# label -> (activation, weight_var): plain relu is He-scaled so that the variance stays 1 on the sphere
CONDITIONING_ACTIVATIONS = {
    "relu": ("relu", 2.0),
    "normalized_relu": ("normalized_relu", 1.0),
    "normalized_tanh": ("normalized_tanh", 1.0),
    "normalized_sin": ("normalized_sin", 1.0),
    "centred_gelu": ("centred_gelu", 1.0),
    "normalized_abrelu": ("normalized_abrelu", 1.0),
}
# the labels that are normalize(spec) of a kernel activation spec
_NORMALIZED_SPECS = {"normalized_tanh": "tanh", "normalized_sin": "sin", "centred_gelu": "gelu",
                     "normalized_abrelu": "abrelu(-0.5, 1)"}


def kernel_activation(label: str):
    """The activation behind a label: ``normalized_tanh`` / ``normalized_sin`` / ``centred_gelu`` are
    normalize(tanh / sin / gelu), ``normalized_abrelu`` is normalize(max(z, 0) + max(-z, 0) / 2)."""
    spec = _NORMALIZED_SPECS.get(label)
    return normalize(spec, name=label) if spec is not None else label


def _dataset(name: str, o, n: int | None = None) -> torch.Tensor:
    """Unit-norm points scaled by sqrt(d), so the network's input covariance x.x'/d is the cosine."""
    n = o.n if n is None else n
    x = sphere_points(n, o.d, seed=o.data_seed) if name == "sphere" else digits_on_sphere(n, seed=o.data_seed)
    return x * math.sqrt(x.shape[1])


# --- options, execution -------------------------------------------------------------------------------------------

DATASETS = ("sphere", "digits")


class ConditioningOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(200, ge=2)
    d: int = Field(10, ge=2)
    max_depth: int = Field(80, ge=2)  # normalised tanh (mu = 0.07) reaches cond 2 at L = 50 (sphere), 75 (digits)
    check_depth: int = Field(30, ge=1)  # claim 1: cond(K^(L)) < 1.2 at this depth
    target_cond: float = Field(2.0, gt=1)  # claims 3-4: the depth to reach this condition number
    activations: names(CONDITIONING_ACTIVATIONS) = Field(default_factory=lambda: list(CONDITIONING_ACTIVATIONS))
    datasets: names(DATASETS) = Field(default_factory=lambda: list(DATASETS))
    data_seed: int = 0
    fw_dataset: Annotated[str, AfterValidator(one_of(DATASETS))] = "sphere"
    fw_n: int = Field(50, ge=2)  # points of the finite-width study (the first fw_n of the data seed's draw)
    fw_activations: names(CONDITIONING_ACTIVATIONS) = Field(default_factory=lambda: ["relu", "normalized_relu"])
    fw_widths: sizes() = Field(default_factory=lambda: [256, 512, 1024, 2048, 4096])
    fw_depths: sizes() = Field(default_factory=lambda: [2, 5, 10])
    fw_seeds: int = Field(2, ge=1)
    fw_nets: int = Field(8, ge=1)  # random networks per width and seed (the root-mean-square error over them)
    fw_max_error: float = Field(0.5, gt=0)  # "K-hat close to K": the widths fitted for the m^-1/2 slope
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


def network_seed(seed: int, net: int) -> int:
    """The generator seed of random network ``net`` of replicate ``seed`` (disjoint for net < 10,000)."""
    return 10_000 * seed + net


def _finite_width(o: ConditioningOptions, progress: bool) -> pd.DataFrame:
    """One row per (activation, width, seed, net, depth <= max fw depth): K-hat's spectrum beside the exact K's
    (``exact_cond``) and rel_error = ||K-hat - K||_F / ||K||_F."""
    x = _dataset(o.fw_dataset, o, n=o.fw_n)
    depth = max(o.fw_depths)
    rows = []
    for label in o.fw_activations:
        act, wv = CONDITIONING_ACTIVATIONS[label]
        act = kernel_activation(act)
        exact = infinite_kernel(x, depth=depth, activation=act, kind="nngp", weight_var=wv, all_depths=True)
        norm = exact.flatten(1).norm(dim=1)
        ev = torch.linalg.eigvalsh(exact)
        exact_cond = (ev[:, -1] / ev[:, 0]).tolist()
        for width in o.fw_widths:
            for seed in range(o.fw_seeds):
                for net in range(o.fw_nets):
                    k_hat = random_network_nngp(x.float(), depth=depth, activation=act, width=width, weight_var=wv,
                                                seed=network_seed(seed, net), all_depths=True, dtype=torch.float32)
                    err = ((k_hat - exact).flatten(1).norm(dim=1) / norm).tolist()
                    for r in _spectral_rows(k_hat, activation=label, width=width, seed=seed, net=net):
                        rows.append({**r, "rel_error": err[r["depth"] - 1], "exact_cond": exact_cond[r["depth"] - 1]})
            if progress:
                print(f"conditioning: finite width {label} m={width} done", flush=True)
    return pd.DataFrame(rows)


# --- analysis -------------------------------------------------------------------------------------------------------

def analyse(o: ConditioningOptions, out: Path) -> ExperimentResult:
    spectra = pd.read_parquet(out / "spectra.parquet")
    finite = pd.read_parquet(out / "finite_width.parquet")
    mu = pd.read_parquet(out / "mu.parquet").set_index("activation").mu
    nngp = spectra[spectra.kernel == "nngp"]
    show = [d for d in (1, 2, 5, 10, 20, 30, 50, 80) if d <= o.max_depth]
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
    reach["depth_times_mu"] = reach[f"depth_to_cond_{o.target_cond:g}"] * reach.mu
    errors = rms_errors(finite)
    figures = _figures(o, spectra, finite, errors, reach, out)
    return ExperimentResult(out=out, claims=claims, figures=figures,
                            tables={"cond_by_depth": table, "depth_to_target": reach, "finite_width_errors": errors})


def _figures(o, spectra, finite, errors, reach, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    for ds in o.datasets:
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
        for ax, kernel, title in zip(axes, ("nngp", "ntk"), ("K^(L) (NNGP)", "Θ^(L) (NTK)")):
            sub = spectra[(spectra.dataset == ds) & (spectra.kernel == kernel)]
            for i, a in enumerate(o.activations):
                s = sub[sub.activation == a].sort_values("depth")
                ax.plot(s.depth, s.cond, color=f"C{i}", label=a)
            ax.axhline(o.target_cond, color="k", lw=0.6, ls=":")
            ax.set(yscale="log", xlabel="depth L", ylabel="condition number", title=f"{ds}: {title}")
        col = f"depth_to_cond_{o.target_cond:g}"
        r = reach[(reach.dataset == ds) & reach.activation.isin(NORMALISED) & (reach[col] < float("inf"))]
        axes[2].plot(1 / r.mu, r[col], "o")
        for a, m, depth in zip(r.activation, r.mu, r[col]):
            axes[2].annotate(a, (1 / m, depth), fontsize=7)
        axes[2].set(xlabel="1/μ", ylabel=f"depth to reach cond {o.target_cond:g}", title=f"{ds}: depth vs 1/μ")
        for ax in axes:
            ax.grid(alpha=0.3)
        for ax in axes[:2]:
            ax.legend(fontsize=7)
        paths.append(save_figure(fig, out / "figures" / f"conditioning_{ds}.png"))
    paths.append(_finite_width_figure(o, spectra, finite, errors, out))
    return paths


def _finite_width_figure(o, spectra, finite, errors, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    styles = ("-", "--", ":", "-.")
    for i, a in enumerate(o.fw_activations):
        fa = finite[finite.activation == a]
        exact = fa[fa.width == fa.width.max()].groupby("depth").exact_cond.first()
        axes[0].plot(exact.index, exact.values, color=f"C{i}", lw=2.5, label=f"{a}: infinite width")
        for j, m in enumerate(o.fw_widths):
            f = fa[fa.width == m].groupby("depth").cond.mean()
            axes[0].plot(f.index, f.values, color=f"C{i}", ls=":", alpha=0.3 + 0.7 * (j + 1) / len(o.fw_widths),
                         label=f"{a}: m={m}" if j in (0, len(o.fw_widths) - 1) else None)
        for k, depth in enumerate(o.fw_depths):
            e = errors[(errors.activation == a) & (errors.depth == depth)].groupby("width").rms_error.mean()
            axes[1].plot(e.index, e.values, "o", ls=styles[k % len(styles)], color=f"C{i}", label=f"{a}: L={depth}")
    if len(o.fw_widths):
        m = pd.Series(o.fw_widths, dtype=float)
        axes[1].plot(m, 0.5 * (m / m.iloc[0]) ** -0.5, color="k", lw=0.8, label="m^-1/2")
    axes[1].axhline(o.fw_max_error, color="grey", lw=0.6, ls=":")
    axes[0].set(yscale="log", xlabel="depth L", ylabel="cond", title=f"{o.fw_dataset} (n={o.fw_n}): K̂^(L) vs K^(L)")
    axes[1].set(xscale="log", yscale="log", xlabel="width m", ylabel="RMS ‖K̂ − K‖_F / ‖K‖_F",
                title=f"finite-width error ({o.fw_nets} networks per seed)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    return save_figure(fig, out / "figures" / "conditioning_finite_width.png")


PRESET = Preset(
    name="conditioning",
    description="Agarwal et al.: cond(K^(L)) and cond(Θ^(L)) vs depth for relu and five normalised activations "
                "(μ 0.07-0.77) on sphere and digits data; the depth to reach cond 2 against 1/μ; finite-width "
                "kernels beside the analytic ones where K̂ is close to K.",
    paper="Agarwal, Awasthi, Kale 2021",
    options=ConditioningOptions,
    execute=execute,
    analyse=analyse,
    modes={
        "quick": {"n": 40, "max_depth": 60, "fw_n": 40, "fw_widths": [128, 256, 512, 1024, 2048],
                  "fw_depths": [2, 5], "fw_seeds": 1, "fw_nets": 4},
        "full": {"fw_n": 100, "fw_widths": [512, 1024, 2048, 4096, 8192], "fw_seeds": 4, "fw_nets": 16},
    },
)
