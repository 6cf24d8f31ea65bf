r"""What every asymmetrical-scaling preset shares (Caron et al. E1-E4): the training options
(:class:`AsymOptions`), the paper's numbers, per-run labels and the core figures.

Core figures: train/test risk (step 0 dropped, as the paper), train/test accuracy (classification),
lambda_min(Theta_t), sqrt||Theta_t - Theta_0||_2, and the displacement of the node that moved most; mean ± std
over the seeds of the runs that finished (diverged runs are left out and named by the claims).  ``overlays``
adds dashed curves (mean over seeds, the configuration's colour) to a figure, e.g. the test risk of each run's
linearised prediction on the test-risk figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from typing_extensions import Annotated

from ..._errors import one_of
from ...config import Alpha, Gamma
from ...report import PAPER_COLOURS, band_plot, runs_frame, save_figure

# (alpha, gamma) of Caron et al.: gamma = 1 (NTK scaling), (0.7, 0.5), (0.5, 0.2), (0.4, 0)
PAPER_CONFIGS: list[tuple[float, float]] = [(0.5, 1.0), (0.7, 0.5), (0.5, 0.2), (0.4, 0.0)]
DTYPES = ("float32", "float64")
Dtype = Annotated[str, AfterValidator(one_of(DTYPES))]


def config_label(alpha: float, gamma: float) -> str:
    return "γ=1" if gamma == 1.0 else f"α={alpha:g}, γ={gamma:g}"


__all__ = ["PAPER_CONFIGS", "DTYPES", "Dtype", "Gamma", "Alpha", "config_label", "AsymOptions", "PaperNumbers",
           "run_scaling", "run_label", "scaling_frame", "fmt_by_gamma", "core_figures"]


class AsymOptions(BaseModel):
    """The options of the shallow GD runs of every E1-E4 preset: width m, steps, lr, seeds, probe interval,
    the (alpha, gamma) configurations (alpha in (0, 1), gamma in [0, 1], distinct gammas: the claims order
    the configurations by gamma), the authors' Zipf offset, the dtype, the gamma = 1 widths of the lazy
    baseline's width sweep, and the torch threads while training (1 by default for the real-data presets, whose
    d <= 64 products gain little from a second thread and on a shared machine a second thread mostly spins:
    measured 3-5x less CPU time per GD step with one thread on 2 busy cores; ``"auto"``: the free cores, see
    :func:`ntklab._threads.free_cores`; the thread count never changes a result)."""

    model_config = ConfigDict(extra="forbid")
    width: int = Field(2000, ge=1)
    steps: int = Field(10_000, ge=1)
    lr: float = Field(1.0, gt=0)
    seeds: int = Field(3, ge=1)
    every: int = Field(500, ge=1)
    configs: list[tuple[Alpha, Gamma]] = Field(default_factory=lambda: list(PAPER_CONFIGS), min_length=1)
    zipf_offset: bool = False
    dtype: Dtype = "float32"
    lazy_widths: list[Annotated[int, Field(ge=2)]] | None = None  # gamma = 1 widths of the lazy sweep (None: m/4, m/2)
    threads: Annotated[int, Field(ge=0)] | Literal["auto"] = 1  # torch threads while training (0: torch's setting)

    @field_validator("configs")
    @classmethod
    def _distinct_gammas(cls, v):
        gammas = [g for _, g in v]
        if len(set(gammas)) != len(gammas):
            raise ValueError(f"got gammas {gammas} (allowed: distinct gammas, one configuration each)")
        return v


@dataclass
class PaperNumbers:
    """The paper's values for one experiment, as shown in the claims' "expected" column."""

    train_risk: str = ""
    test_risk: str = ""
    lambda_min: str = ""
    drift: str = ""
    displacement: str = ""
    extra: dict = field(default_factory=dict)  # further claims' expectations (pruning, transfer, accuracy)


def run_scaling(run) -> tuple[float, float, int]:
    net = run.config["network"]
    return float(net["scaling"]["alpha"]), float(net["scaling"]["gamma"]), int(net["width"])


def run_label(run) -> str:
    a, g, _ = run_scaling(run)
    return config_label(a, g)


def scaling_frame(runs) -> pd.DataFrame:
    """runs_frame with label, alpha, gamma and width columns."""
    cols = lambda r: dict(zip(("alpha", "gamma", "width"), run_scaling(r)))  # noqa: E731
    frame = runs_frame(runs, label=run_label, columns=cols)
    return frame if len(frame) else frame.assign(alpha=[], gamma=[], width=[])


def fmt_by_gamma(s: pd.Series) -> str:
    return ", ".join(f"γ={g:g}: {v:.3g}" for g, v in s.items())


def _dashed(ax, overlay: pd.DataFrame, order: list[str], what: str) -> None:
    for i, lab in enumerate(order):
        sub = overlay[overlay.label == lab]
        if len(sub):
            mean = sub.groupby("step").value.mean()
            ax.plot(mean.index, mean.values, color=PAPER_COLOURS[i % len(PAPER_COLOURS)], ls="--", lw=1.2,
                    label=f"{lab} ({what})")
    ax.legend(fontsize=7)


def core_figures(frame: pd.DataFrame, out: Path, order: list[str], *, prefix: str,
                 overlays: dict[str, tuple[pd.DataFrame, str]] | None = None) -> list[Path]:
    """The paper's per-run figures as ``figures/<prefix>_<name>.png`` (mean ± std over seeds); ``overlays``: figure
    name -> (frame with label, step, value; legend text) drawn dashed."""
    fdir = out / "figures"
    specs = [
        ("trainrisk", "train_risk", True, "train risk", None),
        ("testrisk", "test_risk", True, "test risk", None),
        ("trainacc", "train_acc", False, "train accuracy", None),
        ("testacc", "test_acc", False, "test accuracy", None),
        ("ntkmineig", "lambda_min", False, "λ_min(Θ̂_t)", None),
        ("ntkdiff", "drift_spectral", False, "sqrt ‖Θ̂_t − Θ̂_0‖₂ (as plotted by the paper)", np.sqrt),
        ("wdiff", "argmax_node_displacement", False, "‖w_j*(t) − w_j*(0)‖, j* = argmax at the end", None),
    ]
    paths = []
    for fname, metric, logy, ylabel, tf in specs:
        sub = frame[frame.metric == metric]
        if metric.endswith("risk") or metric.endswith("acc"):
            sub = sub[sub.step > 0]  # the paper's risk curves drop step 0
        if sub.empty:
            continue
        ax = band_plot(sub, logy=logy, ylabel=ylabel, title=f"{prefix}: {ylabel}", order=order,
                       transform=tf, xlabel="GD step")
        if overlays and fname in overlays and len(overlays[fname][0]):
            _dashed(ax, overlays[fname][0], order, overlays[fname][1])
        paths.append(save_figure(ax, fdir / f"{prefix}_{fname}.png"))
    return paths
