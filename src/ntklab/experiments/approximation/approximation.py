r"""Approximation by GD-trained networks (Gentile & Welper 2022; Welper 2023, 2024): the error each width reaches
at the training time the theorems speak of (the lazy window tau_rho, growing with m: :mod:`._lazy_window`), each
net also run to a declared stopping rule (reported), fitted rates against linear splines and the best m-term rate,
adaptive breakpoints, GD against its gradient-flow idealisation, and the deep nets of Welper 2023.

``approximation-1d`` (:mod:`._on_interval`, claims in :mod:`._interval_claims`): targets Gaussian
exp(-x^2/(2 s^2)) (s = 0.2), cusp |x|^{1/2}, jump 1{x > 1/pi} on [-1, 1]; f(x) = (1/sqrt(m)) sum_r a_r
relu(w_r x + b_r), all of a, w, b trained by full-batch GD on the Gauss-Legendre L2 loss (2000 nodes, split at the
cusp / jump), each net to the stopping rule; a step-size sweep to a common gradient-flow time.

``approximation-sphere`` (:mod:`._on_sphere`): zonal |<x, z>|^{1/2} and a spherical-harmonic sum with l^{-2}
coefficients on S^{d-1}; shallow nets with the inner layer trained and Welper 2023's deep nets (constant depth,
increasing width, the second-to-last layer trained), Monte Carlo L2 loss, error on an independent set.

Every claim declares its preconditions (:mod:`._common`): the nets it reads finished without diverging, GD cut
the error by a tenth, and a rate rests on >= 4 widths whose nets all reached tau_rho within their budget (the
others are excluded and named).
"""

from __future__ import annotations

from .._registry import Preset
from ._on_interval import Approx1dOptions, analyse_1d, execute_1d
from ._on_sphere import ApproxSphereOptions, analyse_sphere, execute_sphere

__all__ = ["Approx1dOptions", "ApproxSphereOptions", "APPROX_1D", "APPROX_SPHERE"]


def _preset(name: str, description: str, paper: str, options, execute, analyse, quick: dict, full: dict) -> Preset:
    """A preset with ``--quick`` (<= 90 s) and ``--full`` (the papers' scale) overrides of its defaults (<= 10 min)."""
    return Preset(name=name, description=description, paper=paper, options=options, execute=execute,
                  analyse=analyse, modes={"quick": quick, "full": full})


APPROX_1D = _preset(
    "approximation-1d",
    "Gentile & Welper: GD-trained 1-d shallow nets on Gaussian / cusp / jump; rates at the lazy-window time "
    "(growing with m) vs linear splines and the best m-term rate, each width also run to a stopping rule; "
    "breakpoints, GD vs gradient flow (step-size sweep).",
    "Gentile & Welper 2022 (arXiv 2209.08399)", Approx1dOptions, execute_1d, analyse_1d,
    {"widths": [8, 16, 32, 64], "seeds": 2, "steps": 100_000, "every": 500, "sweep_steps": 1000, "ntk_widths": [8]},
    {"widths": [8, 16, 32, 64, 128, 256], "steps": 5_000_000, "sweep_steps": 20_000, "sweep_seeds": 3})

APPROX_SPHERE = _preset(
    "approximation-sphere",
    "Welper: GD-trained shallow and deep (second-to-last layer trained) ReLU nets on S^{d-1}, zonal and "
    "spherical-harmonic targets; Monte Carlo L2 test error vs width at the lazy-window time (growing with m), "
    "each width also run to a stopping rule.",
    "Welper 2023/2024 (arXiv 2309.04860, 2405.11696)", ApproxSphereOptions, execute_sphere, analyse_sphere,
    {"seeds": 3, "steps": 4000, "every": 100, "n_points": 1500, "n_test": 1500, "deep_widths": [8, 12, 16, 20]},
    {"dims": [3, 5], "widths": [16, 32, 64, 128, 256, 512], "deep_widths": [8, 16, 32, 64],
     "steps": 100_000, "n_points": 10_000, "n_test": 10_000})
