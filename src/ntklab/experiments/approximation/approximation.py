r"""Approximation by GD-trained shallow networks (Gentile & Welper 2022; Welper 2023, 2024): error against width,
fitted rates against the uniform linear-spline baseline, weight change, adaptive breakpoints, NTK spectra.

``approximation-1d`` (:mod:`._on_interval`): targets Gaussian exp(-x^2/(2 s^2)) (s = 0.2), cusp |x|^{1/2},
jump 1{x > 1/pi} on [-1, 1]; f(x) = (1/sqrt(m)) sum_r a_r relu(w_r x + b_r), all of a, w, b trained by full-batch
GD on the Gauss-Legendre L2 loss (2000 nodes, split at the cusp / jump), eta = lr_factor / lambda_max(Theta_0), a
fixed step budget; m in {8, ..., 512}, 3 seeds.  Baselines: interpolant and L2 projection onto linear splines with
m knots.  Claims: (1) error falls with m for every target (slope CI below 0); (2) for the Gaussian the network's
rate is no faster than the spline's (about -2); (3) breakpoints gather near the cusp / jump (more mass within
``radius`` of it after training than at init).

``approximation-sphere`` (:mod:`._on_sphere`): zonal |<x, z>|^{1/2} and a spherical-harmonic sum with l^{-2}
coefficients on S^{d-1}, d in {3, 5}; inner layer trained (outer fixed), Monte Carlo L2 loss with 10^4 points,
error on an independent 10^4-point set, widths up to 1024.  Claim: the error falls with width for every (d,
target).  This CPU preset can afford only a short step budget at width 1024, so its errors are
optimisation-limited (said in the claims).

Every claim declares its preconditions (the nets it reads finished without diverging, enough widths for a slope,
GD cut the error by a tenth; :mod:`._common`), and a comparison across seeds is decided per seed or by the fit's
interval.
"""

from __future__ import annotations

from .._registry import Preset
from ._on_interval import Approx1dOptions, analyse_1d, execute_1d
from ._on_sphere import ApproxSphereOptions, analyse_sphere, execute_sphere

__all__ = ["Approx1dOptions", "ApproxSphereOptions", "APPROX_1D", "APPROX_SPHERE"]


def _preset(name: str, description: str, paper: str, options, execute, analyse, quick: dict) -> Preset:
    """A preset whose ``--full`` mode is its defaults (the paper's scale) and ``--quick`` the given options."""
    return Preset(name=name, description=description, paper=paper, options=options, execute=execute,
                  analyse=analyse, modes={"quick": quick, "full": {}})


APPROX_1D = _preset(
    "approximation-1d",
    "Gentile & Welper: GD-trained 1-d shallow nets on Gaussian / cusp / jump; error vs width, rates vs linear "
    "splines, weight change, breakpoints, NTK spectrum.",
    "Gentile & Welper 2022 (arXiv 2209.08399)", Approx1dOptions, execute_1d, analyse_1d,
    {"widths": [8, 16, 32], "seeds": 2, "steps": 100, "every": 50, "ntk_widths": [8]})

APPROX_SPHERE = _preset(
    "approximation-sphere",
    "Welper: GD-trained shallow nets on S^{d-1} (d = 3, 5), zonal and spherical-harmonic targets, Monte Carlo L2 "
    "error vs width up to 1024.",
    "Welper 2023/2024 (arXiv 2309.04860, 2405.11696)", ApproxSphereOptions, execute_sphere, analyse_sphere,
    {"widths": [8, 16, 32], "seeds": 2, "steps": 20, "every": 10, "n_points": 10_000})
