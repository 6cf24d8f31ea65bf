r"""Spectra of zonal kernels on the sphere S^{d-1}, and the degree-l mass of a sampled function.

A zonal kernel k(x, x') = k(<x, x'>) on the unit sphere S^{d-1} (d >= 3), with x uniform, has the Mercer
decomposition (Funk–Hecke; the addition theorem sum_j Y_lj(x) Y_lj(x') = N(d, l) P_l(<x, x'>))

    k(t) = sum_l alpha_l P_l(t),     alpha_l = int k P_l w / int P_l^2 w,     w(t) = (1 - t^2)^{(d-3)/2},

with P_l = C_l^{((d-2)/2)} / C_l^{((d-2)/2)}(1) the Gegenbauer polynomial normalised to P_l(1) = 1.  Each degree-l
block of N(d, l) orthonormal spherical harmonics has the operator eigenvalue lambda_l = alpha_l / N(d, l); the
trace is sum_l alpha_l = k(1) and sum_i lambda_i^2 = E_{x,x'} k(<x, x'>)^2 = sum_l alpha_l^2 / N(d, l).  Both sums
are computed directly (k(1), and E k^2 by the same quadrature), so the tail beyond the explicit degrees is exact
in mass and in second moment.

For a centred Gaussian process f with covariance k (a wide random network has k = sigma-hat^{o L}), alpha_l =
E ||P_l f||^2 is the expected mass of f in degree l, and sum_{l <= k} alpha_l / k(1) the expected squared
correlation of f with the best polynomial of degree <= k: the statistical-query quantity of Das et al. (2019).

:func:`harmonic_masses` estimates ||P_l f||^2 = E_x[(P_l f)(x)^2] from samples x_1..x_N of the sphere without fitting
anything: the U-statistic  (1 / (N (N - 1))) sum_{i != j} f(x_i) f(x_j) N(d, l) P_l(<x_i, x_j>)  is unbiased.

The quadrature is Gauss–Jacobi with weight w, doubled until two successive rules agree to ``tol`` k(1) (default
1e-10) in every alpha_l and in E k^2; a kernel that does not converge by ``max_nodes`` raises a ConfigError.

Example:
    >>> import numpy as np
    >>> from ntklab.kernels import harmonic_dimension, zonal_spectrum
    >>> harmonic_dimension(3, 2), harmonic_dimension(20, 2)
    (5, 209)
    >>> s = zonal_spectrum(lambda t: 0.5 * t + 0.5 * t ** 2, d=10, degree=3)   # t^2 = 1/d + (1 - 1/d) P_2
    >>> print(np.round(s.alpha, 12).tolist(), round(float(s.trace), 12))
    [0.05, 0.5, 0.45, 0.0] 1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special

from .._device import as_float64
from .._errors import ConfigError

__all__ = ["harmonic_dimension", "gegenbauer", "ZonalSpectrum", "zonal_spectrum", "on_cosines", "harmonic_masses"]


def _check_dim(d) -> int:
    if isinstance(d, bool) or not isinstance(d, int) or d < 3:
        raise ConfigError("d", f"got {d!r}", allowed="integers >= 3 (the sphere S^{d-1} in R^d)")
    return d


def harmonic_dimension(d: int, l: int) -> int:
    """N(d, l) = C(l + d - 1, d - 1) - C(l + d - 3, d - 1): the number of degree-l spherical harmonics on S^{d-1}."""
    _check_dim(d)
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ConfigError("l", f"got {l!r}", allowed="integers >= 0")
    return math.comb(l + d - 1, d - 1) - (math.comb(l + d - 3, d - 1) if l >= 2 else 0)


def gegenbauer(degree: int, d: int, t):
    """P_0..P_degree at t (normalised, P_l(1) = 1), by (l + d - 2) P_{l+1} = (2l + d - 2) t P_l - l P_{l-1}.

    ``t`` is a NumPy array or a torch tensor; the result has a leading axis of length degree + 1.
    """
    _check_dim(d)
    lib = torch if isinstance(t, torch.Tensor) else np
    out = [lib.ones_like(t), t]
    for l in range(1, degree):
        out.append(((2 * l + d - 2) * t * out[l] - l * out[l - 1]) / (l + d - 2))
    return lib.stack(out[: degree + 1])


@dataclass(frozen=True)
class ZonalSpectrum:
    """The spectrum of zonal kernels on S^{d-1}: ``alpha`` (..., degree + 1) the degree masses, ``trace`` (...) k(1),
    ``second_moment`` (...) E_{x,x'} k^2, ``error`` the quadrature's change from ``nodes`` to 2 x ``nodes``."""

    d: int
    alpha: np.ndarray
    trace: np.ndarray
    second_moment: np.ndarray
    error: float = 0.0

    @property
    def degree(self) -> int:
        return self.alpha.shape[-1] - 1

    @property
    def multiplicity(self) -> np.ndarray:
        """N(d, l) for l = 0..degree (float: they grow like d^l)."""
        return np.array([float(harmonic_dimension(self.d, l)) for l in range(self.degree + 1)])

    @property
    def eigenvalue(self) -> np.ndarray:
        """lambda_l = alpha_l / N(d, l): the eigenvalue of each degree-l harmonic."""
        return self.alpha / self.multiplicity

    @property
    def tail_mass(self) -> np.ndarray:
        """sum of the eigenvalues beyond ``degree``: k(1) - sum_l alpha_l (>= 0: a rounding-level negative is 0)."""
        return np.maximum(self.trace - self.alpha.sum(-1), 0.0)

    @property
    def tail_second_moment(self) -> np.ndarray:
        """sum of the squared eigenvalues beyond ``degree`` (>= 0, as ``tail_mass``)."""
        return np.maximum(self.second_moment - (self.alpha ** 2 / self.multiplicity).sum(-1), 0.0)

    @property
    def tail_max(self) -> np.ndarray:
        """An upper bound on every eigenvalue beyond ``degree``: tail_mass / N(d, degree + 1) (N grows with l)."""
        return self.tail_mass / float(harmonic_dimension(self.d, self.degree + 1))

    def blocks(self) -> dict:
        """The keyword arguments of :func:`~ntklab.kernels.krr_prediction` and
        :func:`~ntklab.kernels.benign_overfitting_terms` that describe this (single) spectrum."""
        if self.alpha.ndim != 1:
            raise ConfigError("spectrum", f"holds {self.alpha.shape[:-1]} spectra", allowed="one (index it first)")
        return {"eigenvalues": self.eigenvalue, "multiplicity": self.multiplicity,
                "tail_mass": float(self.tail_mass), "tail_second_moment": float(self.tail_second_moment)}

    def mass(self, upto: int, *, start: int = 0) -> np.ndarray:
        """sum_{start <= l <= upto} alpha_l (the expected degree-[start, upto] mass of a GP with this kernel)."""
        if upto > self.degree:
            raise ConfigError("upto", f"got {upto}", allowed=f"<= {self.degree} (the degrees computed)")
        return self.alpha[..., start: upto + 1].sum(-1)

    def __getitem__(self, index) -> "ZonalSpectrum":
        return ZonalSpectrum(self.d, self.alpha[index], self.trace[index], self.second_moment[index], self.error)


def _rule(d: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    a = (d - 3) / 2
    t, w = special.roots_jacobi(nodes, a, a)
    return t, w / w.sum()


def _project(k: np.ndarray, t: np.ndarray, w: np.ndarray, d: int, degree: int) -> tuple[np.ndarray, np.ndarray]:
    p = gegenbauer(degree, d, t)  # (degree + 1, nodes)
    alpha = (k[..., None, :] * p * w).sum(-1) / (p ** 2 * w).sum(-1)
    return alpha, (k ** 2 * w).sum(-1)


def zonal_spectrum(kernel, *, d: int, degree: int, nodes: int = 400, tol: float = 1e-10,
                   max_nodes: int = 12800) -> ZonalSpectrum:
    """The Gegenbauer spectrum of ``kernel`` (a function of the cosine t in [-1, 1]: NumPy array (nodes,) -> array
    (..., nodes), e.g. every depth of a deep kernel at once) on S^{d-1}, degrees 0..``degree``.

    The rule doubles from ``nodes`` until two successive rules agree to ``tol`` k(1) in every alpha_l and in E k^2
    (kernels with a kink at t = +-1 converge algebraically, slowest for d = 3); past ``max_nodes`` it raises."""
    _check_dim(d)
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise ConfigError("degree", f"got {degree!r}", allowed="integers >= 0")
    if nodes <= degree:
        raise ConfigError("nodes", f"got {nodes}", allowed=f"> degree ({degree})")

    def values(t):
        v = np.asarray(kernel(t), dtype=np.float64)
        if v.shape[-1] != t.shape[0] or not np.isfinite(v).all():
            raise ConfigError("kernel", "must return finite values of shape (..., len(t))")
        return v

    trace = values(np.ones(1))[..., 0]
    scale = np.maximum(np.abs(trace), 1e-300)
    t, w = _rule(d, nodes)
    alpha, second = _project(values(t), t, w, d, degree)
    while True:
        nodes *= 2
        t, w = _rule(d, nodes)
        alpha2, second2 = _project(values(t), t, w, d, degree)
        error = float(max(np.max(np.abs(alpha2 - alpha) / scale[..., None]),
                          np.max(np.abs(second2 - second) / scale ** 2)))
        if error <= tol:
            break
        if nodes >= max_nodes:
            raise ConfigError("nodes", f"the Gegenbauer spectrum on S^{d - 1} reaches only {error:.2g} relative "
                              f"accuracy with {nodes} Gauss–Jacobi nodes, above the stated {tol:g}",
                              allowed="a larger max_nodes or tol")
        alpha, second = alpha2, second2
    # a positive definite kernel has alpha_l >= 0 (Schoenberg): rounding-level negatives are set to 0
    alpha2 = np.where((alpha2 < 0) & (alpha2 > -tol * scale[..., None]), 0.0, alpha2)
    return ZonalSpectrum(d, alpha2, trace, second2, error)


def on_cosines(kernel, t, *, d: int, radius: float = 1.0):
    """``kernel(x1, x2)`` at one pair of points of norm ``radius`` in R^d per cosine in ``t``: x1 = radius e_1,
    x2 = radius (t e_1 + sqrt(1 - t^2) e_2).  ``kernel`` returns (..., 1, len(t)); the result is (..., len(t))."""
    t = torch.as_tensor(np.asarray(t, dtype=np.float64), device="cpu")
    x1 = torch.zeros(1, d, dtype=torch.float64, device="cpu")
    x1[0, 0] = radius
    x2 = torch.zeros(t.shape[0], d, dtype=torch.float64, device="cpu")
    x2[:, 0], x2[:, 1] = radius * t, radius * torch.sqrt((1 - t * t).clamp(min=0))
    out = kernel(x1, x2)
    return out[..., 0, :].numpy() if isinstance(out, torch.Tensor) else np.asarray(out)[..., 0, :]


def harmonic_masses(x: torch.Tensor, y: torch.Tensor, degree: int, *, block: int = 1024) -> torch.Tensor:
    """Unbiased estimates of ||P_l f||^2 = E_x[(P_l f)(x)^2], l = 0..degree, for each column of y = f(x) (x: (N, d)
    points of the unit sphere, i.i.d. uniform).  Returns (degree + 1, columns), float64; an estimate can be negative
    where the mass is below its sampling error."""
    x = as_float64(x)
    y = as_float64(y, device=x.device)
    y = y[:, None] if y.ndim == 1 else y
    n, d = x.shape
    _check_dim(d)
    if y.shape[0] != n or n < 2:
        raise ConfigError("y", f"got {tuple(y.shape)} for {n} points", allowed="(N, columns) with N >= 2")
    if not torch.allclose(x.norm(dim=1), torch.ones(n, dtype=torch.float64, device=x.device), atol=1e-10):
        raise ConfigError("x", "points must lie on the unit sphere", allowed="rows of norm 1")
    mult = torch.tensor([float(harmonic_dimension(d, l)) for l in range(degree + 1)], dtype=torch.float64,
                        device=x.device)
    total = torch.zeros(degree + 1, y.shape[1], dtype=torch.float64, device=x.device)
    for start in range(0, n, block):
        t = (x[start: start + block] @ x.T).clamp(-1, 1)  # (b, N)
        p = gegenbauer(degree, d, t)  # (degree + 1, b, N)
        total += torch.einsum("lbn,nc,bc->lc", p, y, y[start: start + block])
    diag = (y * y).sum(0)  # P_l(1) = 1 on the diagonal
    return mult[:, None] * (total - diag) / (n * (n - 1))
