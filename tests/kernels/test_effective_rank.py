"""Bartlett et al.'s effective ranks, k* and the variance bounds against direct computations on known spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ntklab._errors import ConfigError
from ntklab.kernels import benign_overfitting_terms, effective_ranks, krr_prediction


def _direct(lam: np.ndarray, k: int) -> tuple[float, float]:
    """r_k and R_k of a sorted spectrum by their definitions (a loop over the eigenvalues, no cumulative sums)."""
    tail = [float(v) for v in lam[k:]]
    s = sum(tail)
    return s / tail[0], s * s / sum(v * v for v in tail)


def test_effective_ranks_of_a_power_law_match_the_definitions():
    lam = 1.0 / np.arange(1, 301) ** 2.0
    k, r, R = effective_ranks(lam[::-1])  # given in any order: sorted decreasingly inside
    assert k.tolist() == list(range(300))
    for j in (0, 1, 7, 50, 299):
        rk, Rk = _direct(lam, j)
        assert r[j] == pytest.approx(rk, rel=1e-12) and R[j] == pytest.approx(Rk, rel=1e-12)
    assert R[-1] == pytest.approx(1.0) and r[-1] == pytest.approx(1.0)  # one eigenvalue left


def test_blocks_with_multiplicities_equal_the_expanded_spectrum():
    lam, mult = np.array([0.5, 0.1, 0.01]), np.array([3, 10, 200])
    flat = np.repeat(lam, mult)
    k, r, R = effective_ranks(lam, multiplicity=mult)
    assert k.tolist() == [0, 3, 13]
    for j, kk in enumerate(k.astype(int)):
        rk, Rk = _direct(flat, kk)
        assert r[j] == pytest.approx(rk, rel=1e-12) and R[j] == pytest.approx(Rk, rel=1e-12)


def _k_star_brute(flat: np.ndarray, n: int, b: float) -> int:
    for k in range(flat.size):
        if flat[k:].sum() / flat[k] >= b * n:
            return k
    raise AssertionError("no k*")


@pytest.mark.parametrize("n", [5, 20, 80])
def test_k_star_and_its_ranks_match_a_scan_of_every_k(n):
    lam, mult = 2.0 ** -np.arange(12), 3 ** np.arange(12)  # growing blocks, decaying eigenvalues
    flat = np.repeat(lam, mult)
    t = benign_overfitting_terms(lam, n, multiplicity=mult, b=2.0, noise=1.0)
    k = _k_star_brute(flat, n, 2.0)
    rk, Rk = _direct(flat, k)
    assert t.k_star == k and t.r_k_star == pytest.approx(rk) and t.R_k_star == pytest.approx(Rk)
    assert t.r0 == pytest.approx(flat.sum() / flat[0])
    assert t.variance_form == pytest.approx(k / n + n / Rk)


def test_a_tail_summarised_by_its_sums_gives_the_same_k_star():
    """The tail known only by sum, sum of squares and a bound on its eigenvalues gives the explicit answer."""
    lam, mult = np.array([1.0, 0.05, 1e-4]), np.array([4, 40, 10 ** 5])
    for n, k_star in ((30, 4), (200, 44)):  # r_0 = 16, r_4 = 12 / 0.05 = 240, r_44 = 10 / 1e-4 = 1e5
        full = benign_overfitting_terms(lam, n, multiplicity=mult)
        head = benign_overfitting_terms(lam[:2], n, multiplicity=mult[:2], tail_mass=1e-4 * 1e5,
                                        tail_second_moment=1e-8 * 1e5, tail_max=1e-4)
        assert full.k_star == head.k_star == k_star
        assert head.R_k_star == pytest.approx(full.R_k_star) and head.upper == pytest.approx(full.upper)


@pytest.mark.parametrize("decay,n", [(1.2, 50), (1.5, 200), (2.0, 100), (0.0, 100)])
def test_the_deterministic_equivalent_lies_between_the_stated_bounds(decay, n):
    """The module derives lower <= sigma^2 (E_0 - 1) <= upper for the deterministic equivalent: check it against
    an independent solve of the eigenlearning equations on spectra with and without isotropic tails."""
    i = np.arange(1, 20001, dtype=float)
    lam = i ** -decay + (1e-4 if decay else 0.0)  # decay 0: isotropic
    power = np.zeros_like(lam)
    power[:5] = 0.2
    t = benign_overfitting_terms(lam, n, target_power=power, noise=1.0)
    de = krr_prediction(lam, n, target_power=power, noise=1.0)
    assert t.k_star is not None and t.k_star < n
    assert t.lower <= de.variance <= t.upper
    assert t.bias_lower <= de.bias <= t.bias_upper


def test_no_k_star_gives_nan_bounds_and_bad_inputs_are_refused():
    t = benign_overfitting_terms([1.0, 0.5], 100)  # r_k < 2 n everywhere
    assert t.k_star is None and math.isnan(t.lower) and math.isnan(t.benign_ratios[0])
    with pytest.raises(ConfigError):
        benign_overfitting_terms([1.0], 10, b=1.0)
    with pytest.raises(ConfigError):
        benign_overfitting_terms([1.0], 0)
    with pytest.raises(ConfigError):
        benign_overfitting_terms([1.0], 10, tail_mass=1.0)  # a tail without its bound
