r"""The claims of ``conditioning`` over its stored tables, each with its preconditions.

``spectra`` has one row per (dataset, activation, kernel, depth L): lambda_min, lambda_max, cond = lambda_max /
lambda_min (inf when lambda_min <= 0 in float64), the mean / min / max |.| of the normalised off-diagonal entries
rho_ij = K_ij / sqrt(K_ii K_jj); ``finite`` one row per (activation, width m, seed, net, depth) of a random
network's K-hat^(L), with rel_error = ||K-hat - K||_F / ||K||_F and the exact kernel's ``exact_cond``.

The depth claims.  Agarwal et al.'s depth bound is L = O((1/mu) log(n / (delta eps))): (3) for two activations
whose mu differ by at least ``RESOLVABLE_MU_RATIO`` = 1.5x, the larger mu reaches the target condition number at a
smaller depth.  Closer pairs are not compared: at equal mu the depth also depends on the rest of the Hermite
spectrum (how fast near-duplicate points, rho near 1, separate), which moved L mu by up to 1.4x between activations
in our measurements (centred gelu, mu = 0.277, and normalised relu, mu = 0.267, reach cond 2 at L = 19 and 18 on 40
digits: a claim "smaller for larger mu" on that pair tests the higher coefficients, not mu).  (4) The 1/mu law:
L mu is constant within a factor 2 over the activations that reach the target, which needs their mu to span at
least 4x (a constant depth or a 1/mu^2 law would then spread L mu by >= 4x).

The finite-width claims, seed by seed at every depth of ``fw_depths``, on the root-mean-square error
e(m) = sqrt(mean over the seed's networks of rel_error^2) (the CLT quantity, ~ C(L) m^{-1/2}): (5) K-hat -> K:
e falls from the narrowest to the widest width and is <= ``fw_max_error`` at the widest; (6) the log-log slope of
e over the widths with e <= ``fw_max_error`` (K-hat close to K, where the m^{-1/2} term dominates) lies in
[-0.8, -0.3], with at least 3 such widths (else INCONCLUSIVE, the excluded widths named).  The band: the RMS of r
networks' errors scatters by about 1 / sqrt(2 r k) in log for k effective degrees of freedom of K-hat - K; for
plain relu, whose error is dominated by one fluctuating scale (k ~ 1), that is 0.25 at r = 8, a slope standard
error of ~0.11 over widths 256-4096, so +-0.3 is ~2.5 standard errors.

Example:
    >>> import pandas as pd
    >>> from ntklab.experiments.conditioning.conditioning import ConditioningOptions
    >>> o = ConditioningOptions(fw_activations=["relu"], fw_widths=[64, 256, 1024], fw_seeds=2, fw_depths=[2])
    >>> finite = pd.DataFrame([{"activation": "relu", "width": m, "seed": s, "net": 0, "depth": 2,
    ...                         "rel_error": 2 * m ** -0.5, "cond": 10.0, "exact_cond": 9.0}
    ...                        for m in (64, 256, 1024) for s in (0, 1)])
    >>> [(c.verdict, c.support) for c in finite_width_claims(o, finite)[:2]]
    [('PASS', '2/2 seeds'), ('PASS', '2/2 seeds')]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..._fits import loglog_fit
from ...report import Claim, all_finite, claim, enough, precondition, reported, seed_support

__all__ = ["dataset_claims", "finite_width_claims", "depth_to_reach", "rms_errors", "NORMALISED",
           "RESOLVABLE_MU_RATIO", "SLOPE_BAND"]

NORMALISED = ("normalized_relu", "normalized_tanh", "normalized_sin", "centred_gelu", "normalized_abrelu")
RESOLVABLE_MU_RATIO = 1.5
SLOPE_BAND = (-0.8, -0.3)


def depth_to_reach(sub: pd.DataFrame, target: float) -> float:
    """The smallest depth L with cond(K^(L)) <= target (inf when none does)."""
    hit = sub[sub.cond <= target]
    return float(hit.depth.min()) if len(hit) else float("inf")


def _fmt_depths(sub: pd.DataFrame, depths, col="cond") -> str:
    s = sub.set_index("depth")[col]
    return ", ".join(f"L={d}: {s[d]:.4g}" for d in depths if d in s.index)


def _computed(sub: pd.DataFrame, what: str):
    return precondition(len(sub) > 0, f"{what} was not computed")


def dataset_claims(o, nngp: pd.DataFrame, ntk: pd.DataFrame, mu: pd.Series, ds: str, show) -> list[Claim]:
    """Claims 1-4 and the NTK numbers on dataset ``ds`` (``nngp`` / ``ntk``: that dataset's rows)."""
    ntk_sub = ntk[ntk.activation == "normalized_relu"]
    normed = [a for a in o.activations if a in NORMALISED and (nngp.activation == a).any()]
    reach = {a: depth_to_reach(nngp[nngp.activation == a], o.target_cond) for a in normed}
    return [_normalised_relu(o, nngp, ds, show), *_plain_relu(o, nngp, ds, show),
            _depth_order(o, reach, mu, ds), _inverse_mu_law(o, reach, mu, ds),
            reported(f"{ds}: normalised relu: cond(Θ^(L)) of the NTK", lambda: _fmt_depths(ntk_sub, show),
                     "the NTK version of the result", requires=[_computed(ntk_sub, f"{ds} / normalized_relu NTK")])]


def _normalised_relu(o, nngp, ds, show) -> Claim:
    sub = nngp[nngp.activation == "normalized_relu"].sort_values("depth")
    cond = sub.cond.to_numpy()
    at = sub.set_index("depth").cond.get(o.check_depth, float("nan"))
    decreasing = bool(np.all(np.diff(cond) <= 1e-9 * cond[1:]))  # non-increasing to rounding: cond -> 1 exactly
    requires = [_computed(sub, f"{ds} / normalized_relu"), enough(len(sub), 2, "depths"),
                precondition(o.check_depth in set(sub.depth), f"L={o.check_depth} not computed (max_depth "
                                                              f"{o.max_depth})"),
                all_finite(cond, "cond(K^(L))")]
    return claim(f"{ds}: normalised relu: cond(K^(L)) decreases with depth, < 1.2 at L={o.check_depth}",
                 lambda: decreasing and at < 1.2, lambda: f"{_fmt_depths(sub, show)}; monotone: {decreasing}",
                 "papers.md (sphere): 1989, 380, 33.5, 4.1, 1.11, 1.005 at L=1,2,5,10,20,30", requires=requires)


def _plain_relu(o, nngp, ds, show) -> list[Claim]:
    sub = nngp[nngp.activation == "relu"].sort_values("depth")
    off_mean = sub.offdiag_mean.to_numpy()
    rising = bool(np.all(np.diff(off_mean) > 0))
    off_min = float(sub.offdiag_min.iloc[-1]) if len(sub) else float("nan")
    present = _computed(sub, f"{ds} / relu")
    return [
        claim(f"{ds}: plain relu: cond(K^(L)) > 100 at every depth ≤ {o.max_depth}", lambda: sub.cond.min() > 100,
              lambda: f"min over depths {sub.cond.min():.4g}; {_fmt_depths(sub, show)}", "papers.md: 5.8e3 – 1.3e4",
              requires=[present, all_finite(sub.cond, "cond(K^(L))")]),
        claim(f"{ds}: plain relu: normalised off-diagonal entries tend to 1 (K → 11ᵀ)",
              lambda: rising and off_min > 0.9,
              lambda: f"mean ρ_ij: {_fmt_depths(sub, show, 'offdiag_mean')}; min ρ_ij at L={o.max_depth}: "
                      f"{off_min:.4f}; mean rising: {rising}", "mean increasing, min > 0.9 at the deepest L",
              requires=[present, enough(len(sub), 2, "depths"), all_finite(off_mean, "mean ρ_ij")]),
    ]


def _mu_pairs(reach: dict, mu: pd.Series):
    """(resolvable pairs (larger mu first) that at least one reaches, their unreached pairs, close pairs)."""
    names = sorted(reach, key=lambda a: -mu[a])
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    far = [(a, b) for a, b in pairs if mu[a] >= RESOLVABLE_MU_RATIO * mu[b]]
    decided = [(a, b) for a, b in far if np.isfinite(reach[a]) or np.isfinite(reach[b])]
    close = [(a, b) for a, b in pairs if mu[a] < RESOLVABLE_MU_RATIO * mu[b]]
    return decided, [p for p in far if p not in decided], close


def _depth_order(o, reach: dict, mu: pd.Series, ds: str) -> Claim:
    """Claim 3: for every pair whose mu differ by >= 1.5x, the larger mu reaches the target cond strictly sooner."""
    ok_mu = all(np.isfinite(mu.get(a, np.nan)) for a in reach)
    decided, undecided, close = _mu_pairs(reach, mu) if ok_mu else ([], [], [])
    wrong = [(a, b) for a, b in decided if not reach[a] < reach[b]]

    def measured() -> str:
        text = "; ".join(f"{a}: μ={mu[a]:.3f}, L={reach[a]:g}" for a in sorted(reach, key=lambda a: -mu[a]))
        text += f"; {len(decided) - len(wrong)}/{len(decided)} pairs ordered"
        if wrong:
            text += " (out of order: " + ", ".join(f"{a} vs {b}" for a, b in wrong) + ")"
        if close:
            text += "; not compared (μ within 1.5×): " + ", ".join(f"{a}/{b} ({mu[a] / mu[b]:.2f}×)"
                                                                  for a, b in close)
        if undecided:
            text += f"; neither reaches cond {o.target_cond:g} by L={o.max_depth}: " + ", ".join(
                f"{a}/{b}" for a, b in undecided)
        return text

    return claim(f"{ds}: depth to reach cond {o.target_cond:g} is smaller for larger μ (μ at least "
                 f"{RESOLVABLE_MU_RATIO:g}× apart)", lambda: not wrong, measured,
                 "Agarwal et al.: depth O((1/μ) log(n/(δε))) suffices",
                 requires=[enough(len(reach), 2, "normalised activations"),
                           all_finite([mu.get(a, np.nan) for a in reach], "μ"),
                           enough(len(decided), 1, f"pairs of activations with μ {RESOLVABLE_MU_RATIO:g}× apart, "
                                                   f"one reaching cond {o.target_cond:g} by L={o.max_depth},")])


def _inverse_mu_law(o, reach: dict, mu: pd.Series, ds: str) -> Claim:
    """Claim 4: L mu constant within 2x over the activations reaching the target, their mu spanning >= 4x."""
    reached = [a for a in reach if np.isfinite(reach[a]) and np.isfinite(mu.get(a, np.nan))]
    product = {a: reach[a] * mu[a] for a in reached}
    span = max(mu[a] for a in reached) / min(mu[a] for a in reached) if reached else float("nan")

    def spread() -> float:
        return max(product.values()) / min(product.values())

    return claim(f"{ds}: depth to reach cond {o.target_cond:g} scales like 1/μ (L·μ within 2×)",
                 lambda: spread() <= 2.0,
                 lambda: ", ".join(f"{a}: L·μ = {reach[a]:g}·{mu[a]:.3f} = {product[a]:.2f}"
                                   for a in sorted(reached, key=lambda a: mu[a]))
                 + f"; spread {spread():.2f}× over μ spanning {span:.1f}×",
                 "max/min of L·μ ≤ 2 (a constant L or L ∝ 1/μ² would spread it by the μ span)",
                 requires=[enough(len(reached), 3, f"activations reaching cond {o.target_cond:g} by "
                                                   f"L={o.max_depth}"),
                           precondition(len(reached) < 3 or span >= 4.0,
                                        f"μ of the activations reaching cond {o.target_cond:g} spans only "
                                        f"{span:.2g}× (needs 4×)")])


# --- finite width -----------------------------------------------------------------------------------------------

def rms_errors(finite: pd.DataFrame) -> pd.DataFrame:
    """Per (activation, depth, width, seed): e = sqrt(mean over the networks of rel_error^2), the number of
    networks, and the mean cond of K-hat beside the exact kernel's."""
    if finite.empty:
        return pd.DataFrame(columns=["activation", "depth", "width", "seed", "rms_error", "nets", "cond",
                                     "exact_cond"])
    g = finite.assign(sq=finite.rel_error ** 2).groupby(["activation", "depth", "width", "seed"])
    out = g.agg(ms=("sq", "mean"), nets=("sq", "size"), cond=("cond", "mean"), exact_cond=("exact_cond", "first"))
    out["rms_error"] = np.sqrt(out.pop("ms"))
    return out.reset_index()


def _depth_table(err: pd.DataFrame, depth: int) -> pd.DataFrame:
    """e at ``depth`` as a (width x seed) table."""
    at = err[err.depth == depth]
    return at.pivot_table(index="width", columns="seed", values="rms_error", aggfunc="first").sort_index()


def _converges(table: pd.DataFrame, seed, limit: float) -> bool:
    e = table[seed].to_numpy()
    return bool(len(e) >= 2 and np.isfinite(e).all() and e[-1] < e[0] and e[-1] <= limit)


def _close_widths(table: pd.DataFrame, seed, limit: float) -> pd.Series:
    e = table[seed]
    return e[e <= limit]


def finite_width_claims(o, finite: pd.DataFrame) -> list[Claim]:
    """Claims 5-6 for every finite-width activation, and the finite-width cond beside the exact one."""
    err = rms_errors(finite)
    claims = []
    for label in o.fw_activations:
        sub = err[err.activation == label]
        tables = {L: _depth_table(sub, L) for L in o.fw_depths}
        seeds = sorted(sub.seed.unique())
        base = [_computed(sub, f"finite width {label}"), all_finite(sub.rms_error, "RMS errors"),
                precondition(all(L in set(sub.depth) for L in o.fw_depths),
                             f"depths {o.fw_depths} not all computed")]
        claims.append(_converges_claim(o, label, tables, seeds, base))
        claims.append(_slope_claim(o, label, tables, seeds, base))
        claims.append(_cond_reported(o, label, sub))
    return claims


def _converges_claim(o, label, tables, seeds, base) -> Claim:
    flags = [all(_converges(t, s, o.fw_max_error) for t in tables.values()) for s in seeds]
    support = seed_support(flags)

    def measured() -> str:
        return "; ".join(f"L={L}: " + ", ".join(f"m={m}: {v:.3g}" for m, v in t.mean(axis=1).items())
                         for L, t in tables.items()) + f" (RMS over {o.fw_nets} networks, mean of {len(seeds)} seeds)"

    return claim(f"{o.fw_dataset}: {label}: finite-width K̂^(L) → K^(L) as width grows (L = "
                 f"{', '.join(map(str, o.fw_depths))})", lambda: support.all, measured,
                 f"e(widest) < e(narrowest) and ≤ {o.fw_max_error:g} at every depth (every seed)",
                 requires=[*base, enough(len(o.fw_widths), 2, "widths")], support=support)


def _fit(table: pd.DataFrame, seed, limit: float):
    """The log-log fit of one seed's e(m) over the widths with e <= limit (n < 3: too few for a slope)."""
    e = _close_widths(table, seed, limit)
    return loglog_fit(e.index.to_numpy(), e.to_numpy(), min_points=3)


def _slope_claim(o, label, tables, seeds, base) -> Claim:
    lo, hi = SLOPE_BAND
    fits = {(L, s): _fit(t, s, o.fw_max_error) for L, t in tables.items() for s in seeds}
    short = sorted({L for (L, s), f in fits.items() if f.n < 3})
    support = seed_support(all(lo <= fits[(L, s)].slope <= hi for L in tables) for s in seeds)

    def measured() -> str:
        parts = []
        for L, t in tables.items():
            kept = _close_widths(t, seeds[0], o.fw_max_error).index
            dropped = [str(m) for m in t.index if m not in kept]
            parts.append(f"L={L}: slope per seed " + ", ".join(f"{fits[(L, s)].slope:.2f}" for s in seeds)
                         + f" (m = {kept.min()}–{kept.max()}"
                         + (f"; {', '.join(dropped)} excluded: e > {o.fw_max_error:g})" if dropped else ")"))
        return "; ".join(parts)

    why = "; ".join(f"L={L}: only {min(fits[(L, s)].n for s in seeds)} widths with e ≤ {o.fw_max_error:g} "
                    f"(needs 3)" for L in short)
    return claim(f"{o.fw_dataset}: {label}: finite-width error falls like m^-1/2 where K̂ is close to K",
                 lambda: support.all, measured,
                 f"log-log slope in [{lo:g}, {hi:g}] at every depth (every seed)",
                 requires=[*base, precondition(not short, why)], support=support)


def _cond_reported(o, label, sub) -> Claim:
    deepest = max(o.fw_depths)
    at = sub[sub.depth == deepest].groupby("width").agg(cond=("cond", "mean"), exact=("exact_cond", "first"))
    return reported(f"{o.fw_dataset}: {label}: cond(K̂^(L={deepest})) at finite width",
                    lambda: f"cond(K) = {at.exact.iloc[0]:.4g}; mean cond(K̂): "
                            + ", ".join(f"m={m}: {c:.4g}" for m, c in at.cond.items()),
                    "→ cond(K) as m → ∞ (K̂ − K small in norm does not make the condition numbers close: "
                    "λ_min(K̂) needs m ≫ n)",
                    requires=[_computed(at, f"finite width {label} at L={deepest}")])
