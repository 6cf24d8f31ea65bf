r"""The claims of ``conditioning`` over its stored tables, each with its preconditions.

``spectra`` has one row per (dataset, activation, kernel, depth L): lambda_min, lambda_max, cond = lambda_max /
lambda_min (inf when lambda_min <= 0 in float64), the mean / min / max |.| of the normalised off-diagonal entries
rho_ij = K_ij / sqrt(K_ii K_jj); ``finite`` one row per (activation, width m, seed, depth) of a random network's
K-hat^(L), with rel_error = ||K-hat - K||_F / ||K||_F.

Preconditions: the activation and dataset were computed; a "decreasing" or "rising" claim has at least two depths
(or widths), a slope at least three widths; condition numbers and errors are finite; the depth a claim reads was
computed.  The finite-width claims are decided seed by seed (each seed's random networks: its own errors, its own
slope) and pass when every seed does.

Example:
    >>> import pandas as pd
    >>> from ntklab.experiments.conditioning.conditioning import ConditioningOptions
    >>> o = ConditioningOptions(fw_activations=["relu"], fw_widths=[64, 256, 1024], fw_seeds=2, fw_depth=2)
    >>> finite = pd.DataFrame([{"activation": "relu", "width": m, "seed": s, "depth": 2, "rel_error": m ** -0.5}
    ...                        for m in (64, 256, 1024) for s in (0, 1)])
    >>> [(c.verdict, c.support) for c in finite_width_claims(o, finite)[:2]]
    [('PASS', '2/2 seeds'), ('PASS', '2/2 seeds')]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..._fits import loglog_fit
from ...report import Claim, all_finite, claim, enough, ordered, precondition, reported, seed_support

__all__ = ["dataset_claims", "finite_width_claims", "depth_to_reach", "NORMALISED"]

NORMALISED = ("normalized_relu", "normalized_tanh", "centred_gelu")


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
    """Claims 1-3 and the NTK numbers on dataset ``ds`` (``nngp`` / ``ntk``: that dataset's rows)."""
    ntk_sub = ntk[ntk.activation == "normalized_relu"]
    return [_normalised_relu(o, nngp, ds, show), *_plain_relu(o, nngp, ds, show), _depth_order(o, nngp, mu, ds),
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


def _depth_order(o, nngp, mu, ds) -> Claim:
    """Claim 3: with the normalised activations ordered by decreasing mu, the depth to reach the target cond
    does not increase, and the largest mu reaches it strictly sooner than the smallest."""
    normed = [a for a in o.activations if a in NORMALISED and (nngp.activation == a).any()]
    reach = {a: depth_to_reach(nngp[nngp.activation == a], o.target_cond) for a in normed}
    order = sorted(normed, key=lambda a: -mu.get(a, np.nan))

    def ok() -> bool:
        return all(reach[a] <= reach[b] for a, b in zip(order, order[1:])) and reach[order[0]] < reach[order[-1]]

    return claim(f"{ds}: depth to reach cond {o.target_cond:g} is smaller for larger μ", ok,
                 lambda: "; ".join(f"{a}: μ={mu[a]:.3f}, L={reach[a]:g}" for a in order),
                 "L ∝ 1/μ (Agarwal et al.)",
                 requires=[enough(len(normed), 2, "normalised activations"),
                           all_finite([mu.get(a, np.nan) for a in normed], "μ"),
                           precondition(any(np.isfinite(v) for v in reach.values()),
                                        f"no activation reaches cond {o.target_cond:g} by L={o.max_depth}")])


def _errors(sub: pd.DataFrame, depth: int) -> pd.DataFrame:
    """rel_error at ``depth`` as a (width x seed) table."""
    at = sub[sub.depth == depth]
    return at.pivot_table(index="width", columns="seed", values="rel_error", aggfunc="first").sort_index()


def _slopes(err: pd.DataFrame) -> list[float]:
    return [loglog_fit(err.index, err[s].values).slope for s in err.columns]


def finite_width_claims(o, finite: pd.DataFrame) -> list[Claim]:
    """Claim 4 for every finite-width activation: K-hat -> K as m grows, at the rate m^{-1/2}, seed by seed."""
    claims = []
    for label in o.fw_activations:
        sub = finite[finite.activation == label]
        err = _errors(sub, o.fw_depth)
        mean = err.mean(axis=1)
        shown = ", ".join(f"m={m}: {v:.3g}" for m, v in mean.items())
        base = [_computed(sub, f"finite width {label}"), all_finite(err.to_numpy().ravel(), "relative errors")]
        slopes = _slopes(err)
        claims.append(claim(
            f"{o.fw_dataset}: {label}: finite-width K̂^(L={o.fw_depth}) → K^(L) as width grows",
            lambda err=err: seed_support(ordered(err[s].values, increasing=False) for s in err.columns).all,
            f"‖K̂ − K‖_F/‖K‖_F (mean of {err.shape[1]} seeds): {shown}", "decreasing in m (every seed)",
            requires=[*base, enough(len(err), 2, "widths")],
            support=seed_support(ordered(err[s].values, increasing=False) for s in err.columns)))
        claims.append(claim(
            f"{o.fw_dataset}: {label}: finite-width error at L={o.fw_depth} falls like m^-1/2",
            lambda slopes=slopes: all(-0.8 <= s <= -0.3 for s in slopes),
            lambda slopes=slopes, mean=mean: "log-log slope per seed: " + ", ".join(f"{s:.2f}" for s in slopes)
            + f"; of the seed mean: {loglog_fit(mean.index, mean.values).slope:.2f}",
            "slope in [−0.8, −0.3] (every seed)", requires=[*base, enough(len(err), 3, "widths")],
            support=seed_support(-0.8 <= s <= -0.3 for s in slopes)))
        shallow = min(5, o.fw_depth)
        e5 = _errors(sub, shallow).mean(axis=1)
        claims.append(reported(
            f"{o.fw_dataset}: {label}: finite-width error at L={shallow}",
            lambda e5=e5: ", ".join(f"m={m}: {v:.3g}" for m, v in e5.items())
            + f"; slope {loglog_fit(e5.index, e5.values).slope:.2f}", "slope ≈ −1/2",
            requires=[_computed(sub, f"finite width {label}"), all_finite(e5.values, "relative errors"),
                      enough(len(e5), 3, "widths")]))
    return claims
