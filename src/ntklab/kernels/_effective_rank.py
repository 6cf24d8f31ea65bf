r"""Bartlett, Long, Lugosi & Tsigler's effective ranks of a covariance spectrum and their conditions for benign
overfitting of the minimum-norm interpolant (PNAS 2020, "Benign overfitting in linear regression").

For eigenvalues lambda_1 >= lambda_2 >= ... (the kernel's, w.r.t. the input distribution),

    r_k = (sum_{i>k} lambda_i) / lambda_{k+1},      R_k = (sum_{i>k} lambda_i)^2 / sum_{i>k} lambda_i^2,
    k* = min{k >= 0 : r_k >= b n}.

The standard form (Bartlett, Long, Lugosi & Tsigler 2020, Thm 4/6): the variance of the minimum-norm interpolant
(the excess risk caused by label noise of variance sigma^2) is, up to constants that depend only on b,

    V  ~  sigma^2 (k*/n + n / R_{k*}),

and its bias is at most c ||theta*||^2 ||Sigma|| max(sqrt(r_0/n), r_0/n) (up to a confidence term); overfitting is
benign when r_0 = o(n), k*/n -> 0 and n/R_{k*} -> 0.  The paper's constants are not available here.  The constants
stated below are derived in this module for the deterministic equivalent of ridgeless regression
(:mod:`ntklab.kernels._eigenlearning`: kappa solves sum_i lambda_i/(lambda_i + kappa) = n, V = sigma^2 x/(1 - x)
with x = sum_i L_i^2 / n, L_i = lambda_i/(lambda_i + kappa)).  With S = sum_{i>k*} lambda_i and nu = n/(n - k*):

    S (1 - 1/b) / n <= kappa <= S / (n - k*)         (from sum_{i<=k*} L_i <= k*, sum_{i>k*} L_i <= S / kappa, and
                                                      lambda_{k*+1} <= S / (b n) by the definition of k*),
    L_i >= 1 / (1 + b nu) for i <= k*                 (lambda_{k*} > S_{k*-1} / (b n) >= S / (b n)),

so that, for b > 1 and k* < n,

    x_lo = (k*/n) / (1 + b nu)^2 + (n/R_{k*}) / (1/b + nu)^2  <=  x  <=  x_hi = k*/n + (n/R_{k*}) / (1 - 1/b)^2,
    lower = sigma^2 x_lo / (1 - x_lo)  <=  V  <=  upper = sigma^2 x_hi / (1 - x_hi)   (upper: inf when x_hi >= 1).

For b = 2 and k* << n: lower ~ sigma^2 (k*/n + n/R_{k*}) / 9 and upper ~ 4 sigma^2 (k*/n + n/R_{k*}).  For a target
with power v_i^2 in mode i, the bias E_0 sum_i v_i^2 (kappa / (lambda_i + kappa))^2 is bounded the same way
(kappa between its two bounds, 1 <= E_0 <= 1/(1 - x_hi)).

The spectrum is given in blocks of equal eigenvalues (a degree of spherical harmonics is one block) plus a tail
known by its sum, its sum of squares and an upper bound on its eigenvalues; blocks that are not above the bound
are merged into the tail, so that the explicit blocks are exactly the largest eigenvalues, in order.

Example:
    >>> from ntklab.kernels import benign_overfitting_terms
    >>> t = benign_overfitting_terms([1.0, 1e-3], 1000, multiplicity=[2, 10 ** 6], noise=1.0)
    >>> t.k_star, round(t.r_k_star), round(t.variance_form, 6)       # r_0 = 1002 < 2n; r_2 = R_2 = 1e6
    (2, 1000000, 0.003)
    >>> t.lower <= t.variance_form <= t.upper
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._errors import ConfigError

__all__ = ["BenignTerms", "benign_overfitting_terms", "effective_ranks"]


@dataclass(frozen=True)
class _Blocks:
    lam: np.ndarray  # explicit eigenvalues, decreasing
    mult: np.ndarray
    power: np.ndarray
    tail_mass: float
    tail_second: float
    tail_power: float

    @property
    def starts(self) -> np.ndarray:
        """k at the start of each block (the number of eigenvalues before it), and at the tail."""
        return np.concatenate([[0.0], np.cumsum(self.mult)])

    def sums(self) -> tuple[np.ndarray, np.ndarray]:
        """sum_{i>k} lambda_i and sum_{i>k} lambda_i^2 at each block start and at the tail."""
        s = self.tail_mass + np.concatenate([np.cumsum((self.mult * self.lam)[::-1])[::-1], [0.0]])
        q = self.tail_second + np.concatenate([np.cumsum((self.mult * self.lam ** 2)[::-1])[::-1], [0.0]])
        return s, q


def _blocks(eigenvalues, multiplicity, target_power, tail_mass, tail_second, tail_max, tail_power) -> _Blocks:
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    mult = np.ones_like(lam) if multiplicity is None else np.asarray(multiplicity, dtype=np.float64).ravel()
    power = np.zeros_like(lam) if target_power is None else np.asarray(target_power, dtype=np.float64).ravel()
    if not (lam.shape == mult.shape == power.shape) or not (np.isfinite(lam).all() and (lam >= 0).all()):
        raise ConfigError("eigenvalues", "finite eigenvalues >= 0, one multiplicity and target power per block")
    head = lam > tail_max
    tail_mass += float((mult * lam)[~head].sum())
    tail_second += float((mult * lam ** 2)[~head].sum())
    tail_power += float(power[~head].sum())
    order = np.argsort(-lam[head], kind="stable")
    return _Blocks(lam[head][order], mult[head][order], power[head][order], tail_mass, tail_second, tail_power)


def effective_ranks(eigenvalues, *, multiplicity=None, tail_mass: float = 0.0, tail_second_moment: float = 0.0,
                    tail_max: float = 0.0):
    """(k, r_k, R_k) at every block start (k = the number of eigenvalues before the block), NumPy arrays."""
    b = _blocks(eigenvalues, multiplicity, None, float(tail_mass), float(tail_second_moment), float(tail_max), 0.0)
    s, q = b.sums()
    k = b.starts[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return k, s[:-1] / b.lam, np.where(q[:-1] > 0, s[:-1] ** 2 / q[:-1], np.inf)


@dataclass(frozen=True)
class BenignTerms:
    """Bartlett et al.'s quantities at sample size n and the bounds of the module docstring (sigma^2 = noise).

    ``k_star`` is None when no k up to the explicit blocks has r_k >= b n (then every bound is NaN)."""

    n: int
    b: float
    noise: float
    r0: float
    k_star: int | None
    r_k_star: float
    R_k_star: float
    variance_form: float  # sigma^2 (k*/n + n/R_k*)
    lower: float  # sigma^2 x_lo / (1 - x_lo)
    upper: float  # sigma^2 x_hi / (1 - x_hi), inf when x_hi >= 1
    bias_lower: float
    bias_upper: float
    bias_form: float  # ||theta*||^2 ||Sigma|| max(sqrt(r0/n), r0/n) (BLLT's bias term without its constant)

    @property
    def benign_ratios(self) -> tuple[float, float]:
        """(k*/n, n/R_k*): both -> 0 is the condition for benign overfitting."""
        if self.k_star is None:
            return math.nan, math.nan
        return self.k_star / self.n, self.n / self.R_k_star


def _k_star(blocks: _Blocks, n: int, b: float, tail_max: float) -> tuple[int | None, float, float, float]:
    s, q = blocks.sums()
    nxt = np.append(blocks.lam, tail_max)  # lambda_{k+1} at each start; the tail's largest is at most tail_max
    for k, sk, qk, lk in zip(blocks.starts, s, q, nxt):
        if lk <= 0:  # no eigenvalue left: fewer than needed, r_k never reaches b n
            break
        if sk / lk >= b * n:  # inside a block r_k only falls (lambda_{k+1} fixed, S_k shrinking)
            return int(round(k)), float(sk / lk), float(sk ** 2 / qk), float(sk)
    return None, math.nan, math.nan, math.nan


def benign_overfitting_terms(eigenvalues, n: int, *, multiplicity=None, target_power=None, tail_mass: float = 0.0,
                             tail_second_moment: float = 0.0, tail_max: float = 0.0, tail_target_power: float = 0.0,
                             b: float = 2.0, noise: float = 1.0) -> BenignTerms:
    """k*, r_{k*}, R_{k*} and the bounds on the variance (and on the bias of ``target_power``) at n samples."""
    if not b > 1:
        raise ConfigError("b", f"got {b}", allowed="b > 1 (the constant in k* = min{k : r_k >= b n})")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError("n", f"got {n!r}", allowed="integers >= 1")
    if tail_mass > 0 and not tail_max > 0:
        raise ConfigError("tail_max", f"got {tail_max} with a tail of mass {tail_mass}",
                          allowed="an upper bound > 0 on the tail's eigenvalues")
    blocks = _blocks(eigenvalues, multiplicity, target_power, float(tail_mass), float(tail_second_moment),
                     float(tail_max), float(tail_target_power))
    trace = float((blocks.mult * blocks.lam).sum()) + blocks.tail_mass
    top = float(blocks.lam[0]) if blocks.lam.size else float(tail_max)
    r0 = trace / top if top > 0 else math.inf
    norm_sq = float((blocks.power[blocks.lam > 0] / blocks.lam[blocks.lam > 0]).sum())  # ||theta*||^2 (head)
    bias_form = norm_sq * top * max(math.sqrt(r0 / n), r0 / n)
    k, rk, Rk, s = _k_star(blocks, int(n), float(b), float(tail_max))
    nan = math.nan
    if k is None or k >= n:
        return BenignTerms(int(n), b, noise, r0, k, rk, Rk, nan, nan, nan, nan, nan, bias_form)
    nu = n / (n - k)
    x_lo = (k / n) / (1 + b * nu) ** 2 + (n / Rk) / (1 / b + nu) ** 2
    x_hi = k / n + (n / Rk) / (1 - 1 / b) ** 2
    upper = noise * x_hi / (1 - x_hi) if x_hi < 1 else math.inf
    kap_lo, kap_hi = s * (1 - 1 / b) / n, s / (n - k)
    power = np.append(blocks.power, blocks.tail_power)  # the tail's eigenvalues lie in [0, tail_max]
    lam_lo, lam_hi = np.append(blocks.lam, tail_max), np.append(blocks.lam, 0.0)
    bias_lo = float((power * (kap_lo / (lam_lo + kap_lo)) ** 2).sum())
    bias_hi = float((power * (kap_hi / (lam_hi + kap_hi)) ** 2).sum()) / (1 - x_hi) if x_hi < 1 else math.inf
    return BenignTerms(int(n), b, noise, r0, k, rk, Rk, noise * (k / n + n / Rk), noise * x_lo / (1 - x_lo),
                       float(upper), bias_lo, float(bias_hi), bias_form)
