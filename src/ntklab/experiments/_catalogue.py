"""The catalogue of built-in recipes: name -> where the :class:`Preset` lives, the paper, a one-line summary.

Plain data, importable without torch, so ``ntklab presets`` lists the recipes at once; the preset module is
imported only when the recipe is used (``get_preset``).  Adding a recipe is one module defining a ``Preset`` and
one entry here.  ``tests/experiments/test_registry.py`` checks every entry against its preset.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CatalogueEntry", "CATALOGUE"]


class CatalogueEntry(NamedTuple):
    entry: str  # "package.module:ATTR"
    paper: str
    summary: str
    modes: tuple[str, ...] = ("quick", "full")


_CARON = "Caron et al. 2023"
_AGARWAL = "Agarwal, Awasthi, Kale 2021"

CATALOGUE: dict[str, CatalogueEntry] = {
    "asym-simulated": CatalogueEntry("ntklab.experiments.asym.simulated:PRESET", f"{_CARON} (E1)",
                                     "node scaling γ ∈ {1, .5, .2, 0} on sphere data, lazy vs feature learning, "
                                     "width sweep (ntklab demo)"),
    "asym-concrete": CatalogueEntry("ntklab.experiments.asym.real:CONCRETE", f"{_CARON} (E2)",
                                    "the paper's UCI concrete data (the 'data' extra), with pruning and transfer"),
    "asym-diabetes": CatalogueEntry("ntklab.experiments.asym.real:DIABETES", f"{_CARON} (E2)",
                                    "the same on scikit-learn's diabetes, with pruning and transfer"),
    "asym-digits": CatalogueEntry("ntklab.experiments.asym.real:DIGITS", f"{_CARON} (E3)",
                                  "the same on scikit-learn's digits (one-hot MSE), with pruning and transfer"),
    "asym-mnist1d": CatalogueEntry("ntklab.experiments.asym.real:MNIST1D", f"{_CARON} (E3)",
                                   "the same on MNIST-1D generated offline, with pruning and transfer"),
    "asym-uci": CatalogueEntry("ntklab.experiments.asym.real:UCI", f"{_CARON} (E2)",
                               "the same on your own UCI file (--set data_file=PATH --set dataset=NAME)"),
    "regime": CatalogueEntry("ntklab.experiments.regime.regime:PRESET",
                             "Yang & Hu 2021; Caron et al. 2023 (deep L option)",
                             "kernel drift and weight movement vs width under ntk / standard / mup / meanfield / "
                             "asymmetric scaling"),
    "momentum": CatalogueEntry("ntklab.experiments.momentum.momentum:PRESET", "Bu, Xu & Chen 2021",
                               "GD, heavy ball, NAG against the NTK-linearised discrete and ODE predictions"),
    "conditioning": CatalogueEntry("ntklab.experiments.conditioning.conditioning:PRESET", _AGARWAL,
                                   "condition numbers of deep NNGP / NTK kernels vs depth, finite width beside"),
    "deep-normalized": CatalogueEntry("ntklab.experiments.conditioning.deep_normalized:PRESET", _AGARWAL,
                                      "deep MLPs with relu, BatchNorm and normalised relu trained by SGD"),
    "deep-learnability": CatalogueEntry("ntklab.experiments.conditioning.learnability:PRESET",
                                        f"{_AGARWAL}; Das, Gollapudi, Kumar, Panigrahy 2019",
                                        "random depth-L nets get exponentially harder to learn with L, faster "
                                        "for larger μ; plain relu saturates"),
    "deep-benign-overfitting": CatalogueEntry("ntklab.experiments.conditioning.benign_overfitting:PRESET",
                                              f"{_AGARWAL}; Bartlett, Long, Lugosi, Tsigler 2020",
                                              "ridgeless interpolation of noisy labels with deep kernels: benign "
                                              "where the effective ranks say so"),
    "approximation-1d": CatalogueEntry("ntklab.experiments.approximation.approximation:APPROX_1D",
                                       "Gentile & Welper 2022 (arXiv 2209.08399)",
                                       "GD-trained 1-d shallow nets: error vs width against linear splines"),
    "approximation-sphere": CatalogueEntry("ntklab.experiments.approximation.approximation:APPROX_SPHERE",
                                           "Welper 2023/2024 (arXiv 2309.04860, 2405.11696)",
                                           "GD-trained shallow nets on the sphere: error vs width"),
}
