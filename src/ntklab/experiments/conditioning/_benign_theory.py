r"""The theory beside ``deep-benign-overfitting``: the spectrum of the deep conjugate kernel on S^{d-1}, Bartlett
et al.'s effective ranks and bounds, and the deterministic equivalent of minimum-norm interpolation.

K^(L)(x, x') = sigma-hat^{o L}(<x, x'>) for a normalised sigma (unit diagonal); its eigenvalues w.r.t. the uniform
measure are alpha_l(L) / N(d, l), degree by degree (:func:`ntklab.kernels.zonal_spectrum`), with the tail beyond
the explicit degrees exact in sum and sum of squares.  The explicit degrees are the fewest that hold at least
4 n_max eigenvalues (so that k* < 4 n_max is located exactly).  For the target f*(x) = sqrt(d) <beta, x>
(|beta| = 1: unit second moment, all of it in degree 1) and label noise sigma^2:

- :func:`ntklab.kernels.benign_overfitting_terms`: k* = min{k : r_k >= b n} (b = 2), r_{k*}, R_{k*}, the standard
  form sigma^2 (k*/n + n/R_{k*}) and the bounds on the variance (and on the bias) with the constants derived in
  :mod:`ntklab.kernels._effective_rank`;
- :func:`ntklab.kernels.krr_prediction` at ridge 0: the deterministic equivalent's variance sigma^2 (E_0 - 1) and
  bias E_0 (kappa / (lambda_1 + kappa))^2.

Example:
    >>> from ntklab.experiments.conditioning._benign_theory import explicit_degree
    >>> explicit_degree(20, 2000), explicit_degree(3, 2000)
    (4, 89)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...kernels import (
    ZonalSpectrum,
    benign_overfitting_terms,
    dual_activation,
    harmonic_dimension,
    krr_prediction,
    zonal_spectrum,
)

__all__ = ["explicit_degree", "deep_spectra", "theory_row", "deep_cosine_kernels"]


def explicit_degree(d: int, n_max: int) -> int:
    """The smallest degree l_max with sum_{l <= l_max} N(d, l) >= 4 n_max."""
    total, l = 0, -1
    while total < 4 * n_max:
        l += 1
        total += harmonic_dimension(d, l)
    return l


def _compose(act, t, depth: int):
    """sigma-hat^{o l}(t) for l = 1..depth (normalised sigma: unit variance at every layer)."""
    out, t = [], torch.as_tensor(t, dtype=torch.float64)
    for _ in range(depth):
        t = dual_activation(act, t.clamp(-1, 1))
        out.append(t)
    return out


def deep_spectra(act, *, d: int, max_depth: int, n_max: int) -> ZonalSpectrum:
    """The spectra of K^(L), L = 1..max_depth, on S^{d-1}: alpha (max_depth, degree + 1)."""
    return zonal_spectrum(lambda t: torch.stack(_compose(act, t, max_depth)).numpy(), d=d,
                          degree=explicit_degree(d, n_max))


def deep_cosine_kernels(act, x: torch.Tensor, max_depth: int):
    """Yield (L, K^(L)) for L = 1..max_depth, K^(L) = sigma-hat^{o L}(X X^T) on unit-norm rows x (one pass through
    the layers; each matrix is overwritten by the next, copy it to keep it)."""
    gram = (x @ x.T).clamp(-1, 1)
    for layer in range(1, max_depth + 1):
        gram = dual_activation(act, gram)
        gram.fill_diagonal_(1.0)  # sigma-hat(1) = 1 exactly for a normalised sigma
        yield layer, gram


def theory_row(spec: ZonalSpectrum, n: int, *, noise: float, b: float) -> dict:
    """Bartlett et al.'s terms and the deterministic equivalent at n samples, for the degree-1 target."""
    power = np.zeros(spec.degree + 1)
    power[1] = 1.0
    blocks = spec.blocks()
    terms = benign_overfitting_terms(n=n, target_power=power, tail_max=float(spec.tail_max), b=b, noise=noise,
                                     **blocks)
    try:
        de = krr_prediction(n=n, target_power=power, noise=noise, **blocks)
        de_var, de_bias = de.variance, de.bias
    except ValueError:  # fewer eigenvalues than samples cannot happen for these kernels; kept for safety
        de_var = de_bias = math.nan
    k_ratio, r_ratio = terms.benign_ratios
    return {"k_star": terms.k_star if terms.k_star is not None else -1, "r0": terms.r0,
            "r_k_star": terms.r_k_star, "R_k_star": terms.R_k_star, "k_over_n": k_ratio, "n_over_R": r_ratio,
            "variance_form": terms.variance_form, "variance_lower": terms.lower, "variance_upper": terms.upper,
            "bias_lower": terms.bias_lower, "bias_upper": terms.bias_upper, "bias_form": terms.bias_form,
            "de_variance": de_var, "de_bias": de_bias}
