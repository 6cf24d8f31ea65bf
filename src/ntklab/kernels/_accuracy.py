r"""The accuracy the dual activations state, and the error raised when a routine cannot reach it.

Every dual E[sigma(u) sigma(v)] (and E[sigma'(u) sigma'(v)]) of an activation without a closed form is computed to

    |error| <= DUAL_TOLERANCE * sqrt(E[sigma(u)^2] E[sigma(v)^2])          (DUAL_TOLERANCE = 1e-13)

for every correlation rho in [-1, 1] (Cauchy–Schwarz: the right side bounds |E[sigma(u) sigma(v)]| itself).  A
routine that cannot certify this raises :class:`KernelAccuracyError`, a :class:`~ntklab.ConfigError` on the field
``activation`` whose message names the activation, the variances and the accuracy reached; it never returns a
value above the stated tolerance.

Example:
    >>> from ntklab.kernels import KernelAccuracyError
    >>> err = KernelAccuracyError("tanh", "E[sigma'(u) sigma'(v)]", (60.0, 60.0), reached=3e-9)
    >>> print(err)  # doctest: +NORMALIZE_WHITESPACE
    activation: 'tanh': E[sigma'(u) sigma'(v)] at pre-activation variances (60, 60) reaches only 3e-09 relative
    accuracy, above the stated 1e-13 (allowed: a closed-form activation, or smaller pre-activation variances)
"""

from __future__ import annotations

from .._errors import ConfigError

__all__ = ["DUAL_TOLERANCE", "TRUNCATION_TOLERANCE", "QUADRATURE_TOLERANCE", "KernelAccuracyError"]

DUAL_TOLERANCE = 1e-13
# The budget of a Mehler-series dual (Cauchy–Schwarz, all relative to sqrt(E[f(u)^2] E[g(v)^2])):
#   truncation |rho|^(K+1) sqrt(T_f(K) T_g(K)) <= TRUNCATION_TOLERANCE,
#   coefficients ||da|| ||b|| + ||a|| ||db|| <= 2 QUADRATURE_TOLERANCE (each 1-d rule converged to that l2 change),
# which sum to at most 1e-13.  QUADRATURE_TOLERANCE sits above the rounding floor of a 2049-coefficient projection
# on 2^15 nodes (~5e-14 in l2 at worst, measured on softplus at variance 60).
TRUNCATION_TOLERANCE = 4e-14
QUADRATURE_TOLERANCE = 3e-14


class KernelAccuracyError(ConfigError):
    """A kernel routine could not reach its stated accuracy (``reached`` is the relative accuracy it certified)."""

    def __init__(self, activation: str, quantity: str, variances, *, reached: float, detail: str = "",
                 tolerance: float = DUAL_TOLERANCE):
        self.activation, self.quantity, self.reached, self.tolerance = activation, quantity, float(reached), tolerance
        self.variances = tuple(float(v) for v in variances)
        shown = ", ".join(f"{v:.4g}" for v in self.variances)
        text = (f"{activation!r}: {quantity} at pre-activation variance{'s' if len(self.variances) > 1 else ''} "
                f"({shown}) reaches only {self.reached:.2g} relative accuracy, above the stated {tolerance:.0e}")
        if detail:
            text += f" ({detail})"
        super().__init__("activation", text,
                         allowed="a closed-form activation, or smaller pre-activation variances")
