r"""The claims of ``deep-benign-overfitting`` over its frame (one row per fit, the theory of its (d, depth, n)
beside it: see :mod:`.benign_overfitting` and :mod:`._benign_theory`).

All risks are in units of sigma^2: excess = bias + variance (exact in expectation over the noise), so the test risk
is sigma^2 (1 + excess / sigma^2).  The theory columns are those of the infinite-width kernel, so the rows of the
width sweep with a finite width take no part in the comparisons with it.  Each claim is decided per data seed, or
per fit for the bounds (``k/n fits``), and states its support; a claim with nothing to decide is INCONCLUSIVE.

Example:
    >>> import pandas as pd
    >>> from ntklab.experiments.conditioning._benign_claims import exact_claim
    >>> exact_claim(pd.DataFrame({"train_residual": [1e-14, 3e-12], "cond": [10.0, 1e4], "n": [100, 400]})).verdict
    'PASS'
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...report import Claim, all_finite, claim, enough, precondition, reported, seed_support

__all__ = ["benign_claims", "exact_claim", "BENIGN_LEVEL", "TEMPERED_LEVEL", "DE_TOL"]

EPS = float(np.finfo(np.float64).eps)
BENIGN_LEVEL = 0.15  # "approaches sigma^2": excess / sigma^2 at the largest n
TEMPERED_LEVEL = 0.5  # "does not": excess / sigma^2 at every n
CONDITION_LEVEL = 0.5  # k*/n, n/R_k* at most this (conditions in their regime) or k*/n at least this (they fail)
DE_TOL = 0.1  # |variance / deterministic equivalent - 1|: the equivalent's error is O(n^{-1/2}), ~6% at n = 250


def exact_claim(frame: pd.DataFrame) -> Claim:
    """Claim 1: every fit interpolates its labels to float64 precision, fit by fit.

    A backward-stable symmetric solve in float64 leaves a relative residual ||K alpha - y|| / ||y|| of order
    eps cond(K) (eps = 2.2e-16), with rounding errors of the n-term products adding like sqrt(n) (the usual
    probabilistic rounding-error estimate, Higham & Mary 2019): the tolerance of each fit is sqrt(n) eps
    max(cond(K), 1).  A float32 solve (eps = 1.2e-7) or a ridge that is not 0 leaves residuals orders of magnitude
    above it, so the claim can fail."""
    res, cond = frame.train_residual, frame.cond
    scale = np.sqrt(frame.n) * EPS * np.maximum(cond, 1.0)
    inside = seed_support(res <= scale, unit="fits")
    return claim("minimum-norm interpolation is exact (float64)", lambda: inside.all,
                 lambda: f"max ||Kα − y|| / ||y|| over {len(frame)} fits: {res.max():.2g} (largest residual / "
                         f"(√n·ε·cond K): {(res / scale).max():.2g}); cond(K) "
                         f"{cond.min():.3g}..{cond.max():.3g}; median residual {res.median():.2g}",
                 f"≤ √n·ε·cond(K) in every fit (float64, ε = {EPS:.2g}: a backward-stable solve "
                 "leaves about ε·cond(K))",
                 requires=[enough(len(frame), 1, "fits"), all_finite(res, "train residuals"),
                           all_finite(cond, "condition numbers")], support=inside)


def _seed_series(sel: pd.DataFrame, index: str, col: str) -> pd.DataFrame:
    return sel.pivot_table(index=index, columns="seed", values=col, aggfunc="first").sort_index()


def _fmt(series: pd.Series, key: str, digits: int = 3) -> str:
    return ", ".join(f"{key}={k}: {v:.{digits}g}" for k, v in series.items())


def _family(o, frame: pd.DataFrame, family: str):
    """The n sweep of one family: excess / sigma^2 per (n, seed), the theory per n, k* (inf where it lies beyond the
    explicit eigenvalues) and the preconditions every family claim shares."""
    sel = frame[(frame.sweep == "n") & (frame.family == family)]
    ex = _seed_series(sel, "n", "excess") / o.noise
    theory = sel.groupby("n").first()
    k = theory.k_star.where(theory.k_star >= 0, np.inf)  # -1: k* beyond the 4 n_max explicit eigenvalues
    requires = [enough(len(ex), 2, "sample sizes"), all_finite(ex.to_numpy().ravel(), "excess risks")]
    shown = ", ".join(f"n={n}: {'> ' + str(4 * max(o.n_train)) if v == math.inf else int(v)}" for n, v in k.items())
    text = (f"excess / σ² (mean over seeds): {_fmt(ex.mean(axis=1), 'n')}; k*: {shown}; deterministic equivalent: "
            f"{_fmt((theory.de_variance + theory.de_bias) / o.noise, 'n')}")
    return ex, theory, k, requires, text


def _deep_family(o, frame: pd.DataFrame) -> Claim:
    ex, theory, k, requires, text = _family(o, frame, "deep")
    met = bool(len(k)) and bool(((k / theory.index <= CONDITION_LEVEL) & (theory.n_over_R <= CONDITION_LEVEL)).all())
    requires.append(precondition(met, f"Bartlett et al.'s conditions not in their regime: k*/n or n/R_k* > "
                                      f"{CONDITION_LEVEL:g} at some n"))
    falling = seed_support(bool(np.all(np.diff(ex[s].to_numpy()) < 0)) and ex[s].iloc[-1] <= BENIGN_LEVEL
                           for s in ex.columns)
    return claim(f"d={o.high_d}, depth growing with n: the test risk approaches σ² (benign)", lambda: falling.all,
                 lambda: f"{text}; depth L(n): {_fmt(theory.depth, 'n')}; k*/n: {_fmt(k / theory.index, 'n')}; "
                         f"n/R_k*: {_fmt(theory.n_over_R, 'n')}",
                 f"excess / σ² falling with n to ≤ {BENIGN_LEVEL:g}, every seed (precondition: k*/n and n/R_k* "
                 f"≤ {CONDITION_LEVEL:g} at every n, the finite-n form of Bartlett et al.'s conditions)",
                 requires=requires, support=falling)


def _shallow_family(o, frame: pd.DataFrame) -> Claim:
    ex, theory, k, requires, text = _family(o, frame, "shallow")
    fail = bool(len(k)) and bool((k / theory.index >= CONDITION_LEVEL).all())
    requires.append(precondition(fail, f"the conditions do not fail: k*/n < {CONDITION_LEVEL:g} at some n"))
    stays = seed_support(bool((ex[s] >= TEMPERED_LEVEL).all()) for s in ex.columns)
    return claim(f"d={o.low_d}, depth 1: the test risk does not approach σ² (conditions fail)", lambda: stays.all,
                 lambda: text, f"excess / σ² ≥ {TEMPERED_LEVEL:g} at every n, every seed (precondition: k*/n ≥ "
                               f"{CONDITION_LEVEL:g} at every n, so k*/n → 0 fails)",
                 requires=requires, support=stays)


def _bounds_claim(o, frame: pd.DataFrame, what: str) -> Claim:
    """The measured variance (or excess) between the lower and upper expressions, fit by fit."""
    sel = frame[frame.width == 0]
    if what == "variance":
        value, lo, hi = sel.variance, sel.variance_lower, sel.variance_upper
    else:
        value, lo, hi = sel.excess, sel.variance_lower + sel.bias_lower, sel.variance_upper + sel.bias_upper
    applies = np.isfinite(lo) & np.isfinite(hi)
    inside = seed_support(((lo <= value) & (value <= hi))[applies], unit="fits")
    ratio_lo, ratio_hi = (value / lo)[applies], (hi / value)[applies]

    def measured() -> str:
        return (f"{inside.text} inside; measured / lower: {ratio_lo.min():.3g}..{ratio_lo.max():.3g}, upper / "
                f"measured: {ratio_hi.min():.3g}..{ratio_hi.max():.3g}; bounds not applicable (k* ≥ n or "
                f"x_hi ≥ 1) in {int((~applies).sum())} of {len(sel)} fits")

    constants = (f"b = {o.b:g}; lower σ² x_lo/(1 − x_lo), x_lo = (k*/n)/(1 + bν)² + (n/R_k*)/(1/b + ν)²; upper σ² "
                 f"x_hi/(1 − x_hi), x_hi = k*/n + (n/R_k*)/(1 − 1/b)², ν = n/(n − k*)")
    if what != "variance":
        constants += "; bias between Σ v² (κ/(λ + κ))² at κ = S(1 − 1/b)/n and at κ = S/(n − k*) over (1 − x_hi)"
    return claim(f"the measured {what} sits between the bounds (the standard form, Bartlett, Long, Lugosi & "
                 f"Tsigler 2020, Thm 4/6)", lambda: inside.all, measured, constants,
                 requires=[enough(int(applies.sum()), 1, "fits where the bounds apply"),
                           all_finite(value[applies], what)], support=inside)


def _equivalent_claim(o, frame: pd.DataFrame) -> Claim:
    sel = frame[(frame.width == 0) & (frame.d == o.high_d)]
    ratio = sel.variance / sel.de_variance
    close = seed_support((ratio - 1).abs() <= DE_TOL, unit="fits")
    return claim(f"d={o.high_d}: the variance is the deterministic equivalent's", lambda: close.all,
                 lambda: f"measured / predicted: {ratio.min():.3f}..{ratio.max():.3f} over {len(sel)} fits",
                 f"within {DE_TOL:.0%} in every fit (the equivalent's error is O(n^-1/2))",
                 requires=[enough(len(sel), 1, "fits"), all_finite(ratio, "variance ratios")], support=close)


def _depth_claim(o, frame: pd.DataFrame) -> Claim:
    sel = frame[(frame.sweep == "depth") & (frame.d == o.high_d)]
    var = _seed_series(sel, "depth", "variance") / o.noise
    bias = _seed_series(sel, "depth", "bias")
    theory = sel.groupby("depth").first()
    falls = seed_support(var[s].iloc[-1] <= 0.1 * var[s].iloc[0] for s in var.columns)
    shown = [L for L in (1, 2, 4, 6, 8, 10, 12, 16) if L in var.index]

    def measured() -> str:
        return (f"n={o.depth_n}, variance / σ² (bias): " + ", ".join(f"L={L}: {var.loc[L].mean():.3g} "
                f"({bias.loc[L].mean():.3g})" for L in shown) + "; k*/n + n/R_k*: "
                + ", ".join(f"L={L}: {theory.k_over_n[L] + theory.n_over_R[L]:.3g}" for L in shown))

    return claim(f"d={o.high_d}: depth makes the interpolant's variance vanish (K^(L) → I)", lambda: falls.all,
                 measured, "variance at the deepest L ≤ 1/10 of that at L = 1, every seed; the bias rises as the "
                           "signal's eigenvalue a₁^(2L)/d falls below κ", support=falls,
                 requires=[enough(len(var), 2, "depths"), all_finite(var.to_numpy().ravel(), "variances")])


def _width_claim(o, frame: pd.DataFrame) -> Claim:
    sel = frame[frame.sweep == "width"]
    ex = _seed_series(sel, "width", "excess") / o.noise
    finite = ex.drop(index=0, errors="ignore")
    limit = ex.loc[0] if 0 in ex.index else pd.Series(dtype=float)
    gap = (finite - limit).abs()
    approaches = seed_support(bool(np.all(np.diff(gap[s].to_numpy()) < 0)) for s in gap.columns)
    return claim(f"random deep features (L={o.width_depth}, n={o.width_n}): the excess risk approaches the "
                 "infinite-width kernel's as the width grows", lambda: approaches.all,
                 lambda: f"excess / σ² (mean over seeds): {_fmt(finite.mean(axis=1), 'm')}; infinite width: "
                         f"{limit.mean():.3g}", "|excess(m) − excess(∞)| decreasing in m, every seed",
                 requires=[enough(len(finite), 2, "widths"), precondition(len(limit) > 0, "no infinite-width fit"),
                           all_finite(gap.to_numpy().ravel(), "excess risks")], support=approaches)


def _draw_claim(o, frame: pd.DataFrame) -> Claim:
    sel = frame[(frame.sweep == "n")]
    risk = sel.groupby(["family", "n"]).test_risk_draw.mean() / o.noise
    exact = 1 + sel.groupby(["family", "n"]).excess.mean() / o.noise
    return reported("test risk / σ² on noisy test labels (one noise draw) beside 1 + excess / σ²",
                    lambda: "; ".join(f"{f} n={n}: {risk[(f, n)]:.3f} ({exact[(f, n)]:.3f})" for f, n in risk.index),
                    f"one draw of the training and the test noise: it fluctuates around the exact expectation, by "
                    f"sqrt(2/{o.n_test}) from the test noise alone and more where a few directions of K⁻¹ carry the "
                    "variance (the shallow family)",
                    requires=[enough(len(sel), 1, "fits")])


def benign_claims(o, frame: pd.DataFrame) -> list[Claim]:
    return [exact_claim(frame), _deep_family(o, frame), _shallow_family(o, frame),
            _bounds_claim(o, frame, "variance"), _bounds_claim(o, frame, "excess risk"), _equivalent_claim(o, frame),
            _depth_claim(o, frame), _width_claim(o, frame), _draw_claim(o, frame)]
