r"""Hermite coefficients, normalisation and the degree of non-linearity of an activation (Agarwal et al.).

With orthonormal Hermite polynomials h_k, sigma = sum_k a_k h_k in L^2(N(0, 1)), a_k = E[sigma(z) h_k(z)]
(exact for relu, abs, abrelu and their affine maps; otherwise a composite Gauss–Legendre rule refined until it
converges to 3e-14 in l2, exact to rounding for kinks at 0 and refused with a KernelAccuracyError where it
cannot converge), and the dual
is sigma-hat(rho) = sum_k a_k^2 rho^k.  ``normalize(sigma)`` is the affine map (sigma - a_0) / sqrt(E sigma^2 - a_0^2):
mean 0 and second moment 1, so sigma-hat(0) = 0 and sigma-hat(1) = 1.  The degree of non-linearity is

    mu = 1 - a_1^2 / (E[sigma^2] - a_0^2)     (= 1 - a_1^2 for a normalised sigma),

with a_1 = E[sigma'(z)] taken from the exact derivative dual at rho = 0 (a_1^2 = E[sigma'(u) sigma'(v)] at rho = 0).

Example:
    >>> import math
    >>> from ntklab.kernels import nonlinearity_degree
    >>> round(nonlinearity_degree("relu"), 6) == round(1 - math.pi / (2 * (math.pi - 1)), 6)
    True
"""

from __future__ import annotations

import torch

from .._errors import ConfigError
from ._dual import DualActivation, affine, normalized
from ._resolve import as_dual_activation

__all__ = ["hermite_coefficients", "normalize", "nonlinearity_degree", "affine_activation"]


def hermite_coefficients(activation, degree: int = 10, *, var: float = 1.0) -> torch.Tensor:
    """a_0..a_degree of z -> sigma(sqrt(var) z), float64."""
    if not isinstance(degree, int) or degree < 0:
        raise ConfigError("degree", f"got {degree!r}", allowed="integers >= 0")
    if not var >= 0:
        raise ConfigError("var", f"got {var!r}", allowed="[0, inf)")
    act = as_dual_activation(activation)
    return act.coefficients(torch.tensor(float(var), dtype=torch.float64, device="cpu"), degree)


def normalize(activation, *, name: str | None = None) -> DualActivation:
    """The affine map of sigma with mean 0 and second moment 1 under N(0, 1) (e.g. normalised tanh)."""
    act = as_dual_activation(activation)
    return normalized(act, name or f"normalized {act.name}")


def affine_activation(activation, scale: float, shift: float, *, name: str | None = None) -> DualActivation:
    """z -> scale * (sigma(z) - shift), keeping sigma's closed-form dual when it has one."""
    act = as_dual_activation(activation)
    return affine(act, scale, shift, name or f"{scale:g}*({act.name} - {shift:g})")


def nonlinearity_degree(activation) -> float:
    """mu = 1 - a_1^2 / Var[sigma(z)], z ~ N(0, 1): the Hermite mass of degree >= 2 of normalize(sigma)."""
    act = as_dual_activation(activation)
    one = torch.ones((), dtype=torch.float64, device="cpu")
    a0, s2 = float(act.mean(one)), float(act.second_moment(one))
    a1_sq = float(act.duals(one, torch.zeros((), dtype=torch.float64, device="cpu"), one, derivative=True)[1])
    var = s2 - a0 * a0
    if not var > 0:
        raise ConfigError("activation", f"{act.name!r} is constant under N(0, 1)", allowed="a non-constant activation")
    return 1.0 - a1_sq / var
