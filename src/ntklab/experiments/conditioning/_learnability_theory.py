r"""The theory beside ``deep-learnability``'s measurements: the spectrum of sigma-hat^{o L} on the sphere, the
predicted explained variance of kernel regression, and the activation constants.

Derivation (the composition of dual activations).  A random depth-L network with a normalised activation has
output covariance k_L(t) = sigma-hat^{o L}(t), t = <x, x'>, with sigma-hat(rho) = sum_i a_i^2 rho^i.  Centred
(a_0 = 0): sigma-hat(0) = 0 and sigma-hat'(0) = a_1^2, so the power-series coefficients b_i^(L) of k_L obey
b_0^(L) = 0, b_1^(L) = a_1^{2L} exactly, b_2^(L+1) = a_1^2 b_2^(L) + a_2^2 a_1^{4L}, hence
b_2^(L) = a_2^2 a_1^{2(L-1)} (1 - a_1^{2L}) / (1 - a_1^2), and every fixed degree decays like a_1^{2L} up to
polynomial factors: the linear part of f_L carries a_1^{2L} = (1 - mu)^L of its variance, rate ln(1/a_1^2) =
-ln(1 - mu) per layer, faster for larger mu.  On S^{d-1} the exact degree-l masses are the Gegenbauer coefficients
alpha_l(L) of k_L (:func:`ntklab.kernels.zonal_spectrum`: the whole sigma-hat^{o L} spectrum); M_{<=k}(L) =
sum_{l<=k} alpha_l(L) is the expected squared correlation of f_L with degree-<=k polynomials (the SQ quantity).
A non-centred sigma (plain He relu: a_0^2 = 1/pi) has the correlation map's fixed point rho* != 0 (here rho* = 1,
the only fixed point in [-1, 1]), so k_L(t) -> rho* for every t, the degree-0 mass tends to rho* and the low-degree
mass does not fall to 0.

A learner that sees n samples does not reach all of M_{<=k}: kernel ridge regression with a zonal kernel of
eigenvalues lambda_l learns the part predicted by the eigenlearning equations (:func:`ntklab.kernels.krr_prediction`,
the target's power alpha_l(L) per degree, the learner's spectrum per degree, the best ridge of the grid).  Where a
degree's mass per harmonic falls below the effective noise level (the unlearnable mass / n), the learned part falls
like its square (the optimal shrinkage factor ~ n alpha_l / N(d, l)), so the measured rate at fixed n lies between
ln(1/a_1^2) (mass >> N(d, l)/n) and 2 ln(1/a_1^2) (mass << N(d, l)/n); the prediction covers both regimes.

Example:
    >>> from ntklab.experiments.conditioning._learnability_theory import activation_constants
    >>> c = activation_constants("normalized_relu")
    >>> round(c["a1_sq"], 4), round(c["rate_linear"], 5), c["rho_star"]
    (0.7335, 0.30997, 0.0)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import optimize

from ...kernels import (
    ZonalSpectrum,
    dual_activation,
    infinite_kernel,
    krr_prediction,
    network_limit,
    nonlinearity_degree,
    on_cosines,
    zonal_spectrum,
)
from ._learnability_data import target_activation

__all__ = ["target_spectra", "learner_spectrum", "activation_constants", "predicted_explained_variance",
           "RIDGE_GRID"]

RIDGE_GRID = np.logspace(-6, 3, 19)  # ridges relative to the learner's k(1): delta = RIDGE_GRID * k(1)


def target_spectra(label: str, *, d: int, max_depth: int, degree: int) -> ZonalSpectrum:
    """The Gegenbauer spectra of the target NNGP k_L, L = 1..max_depth, on S^{d-1}: alpha (max_depth, degree + 1)."""
    act, wv = target_activation(label)

    def kernel(t):  # the NNGP depends on the cosine only (x.x'/2 = t for |x| = sqrt(2) in R^2)
        return on_cosines(lambda a, b: infinite_kernel(a, b, depth=max_depth, activation=act, kind="nngp",
                                                       weight_var=wv, all_depths=True), t, d=2, radius=math.sqrt(2))

    return zonal_spectrum(kernel, d=d, degree=degree)


def learner_spectrum(net, *, d: int, radius: float, degree: int) -> ZonalSpectrum:
    """The spectrum of the infinite-width NTK of ``net`` (the trained shallow network) on the sphere of ``radius``."""
    return zonal_spectrum(lambda t: on_cosines(lambda a, b: network_limit(net, a, b, output=0), t, d=d,
                                               radius=radius), d=d, degree=degree)


def _fixed_point(act, wv: float, points: int = 2001) -> float:
    """The limit of the correlation map rho -> c(rho) = Sigma(rho) / Sigma(1) iterated from rho = 0, with
    Sigma(rho) = E[sigma(u) sigma(v)] at pre-activation variances wv (the variance each layer keeps).

    c is increasing (a power series with non-negative coefficients), so the iterates move monotonically from 0 to the
    nearest fixed point in the direction of c(0): found on a grid of g(rho) = c(rho) - rho and refined by bisection;
    when g keeps its sign up to the boundary, the limit is the boundary (plain relu: rho* = 1, reached only like
    1 - O(1/L^2), so iterating would not converge in any fixed number of steps)."""
    diag = float(dual_activation(act, 1.0, wv, wv))

    def g(rho):
        return dual_activation(act, torch.as_tensor(rho, dtype=torch.float64), wv, wv) / diag - rho

    g0 = float(g(0.0))
    if abs(g0) < 1e-12:  # centred: c(0) = a_0^2 = 0
        return 0.0
    side = 1.0 if g0 > 0 else -1.0
    grid = torch.linspace(0.0, side, points, dtype=torch.float64)
    values = g(grid)
    crossed = torch.nonzero(values * g0 <= 0).flatten()
    if len(crossed) == 0 or int(crossed[0]) == points - 1:
        return side
    i = int(crossed[0])
    return float(optimize.brentq(lambda r: float(g(r)), float(grid[i - 1]), float(grid[i]), xtol=1e-14))


def activation_constants(label: str) -> dict:
    """mu = 1 - a_1^2 / Var sigma, a_1^2 (normalised), the linear part's rate -ln(a_1^2), and rho*."""
    act, wv = target_activation(label)
    mu = nonlinearity_degree(act)
    a1_sq = 1.0 - mu
    return {"activation": label, "mu": mu, "a1_sq": a1_sq, "rate_linear": -math.log(a1_sq),
            "rho_star": round(_fixed_point(act, wv), 6)}


def predicted_explained_variance(target: ZonalSpectrum, learner: ZonalSpectrum, n: int, ridges) -> np.ndarray:
    """The eigenlearning prediction of the held-out explained variance of the centred target (degree 0 removed), at
    the best ridge of ``ridges`` (absolute, for the raw Gram), for every depth of ``target``: (depths,)."""
    blocks = learner.blocks()
    out = []
    for L in range(target.alpha.shape[0]):
        t = target[L]
        power = np.concatenate([[0.0], t.alpha[1:]]) / t.trace
        tail = float(t.tail_mass / t.trace)
        mse = min(krr_prediction(n=n, target_power=power, tail_target_power=tail, ridge=float(r), **blocks).test_mse
                  for r in ridges)
        out.append(1.0 - mse / (1.0 - t.alpha[0] / t.trace))
    return np.array(out)
