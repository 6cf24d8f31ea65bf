r"""Orderings decided with a stated interval: the paired gaps between adjacent configurations, over units (seeds
or initialisations) that share their initial weights across the configurations.

For configurations c_1, ..., c_J in the claim's order and units u = 1..n, the gap of the pair (c_i, c_{i+1}) is
the paired difference D_u = v(u, c_{i+1}) - v(u, c_i) (``increasing``; else v(u, c_i) - v(u, c_{i+1})), positive
when the pair is in the claimed order; its
mean and the two-sided ``LEVEL`` = 90 % Student-t interval mean ± t_{0.95, n-1} s / sqrt(n) (each end one-sided
95 %).  An ordering claim is

- PASS iff every adjacent gap's interval lies above 0 (the sign of every gap is resolved by the units);
- FAIL iff some gap's interval lies below 0 (a resolved reversal);
- INCONCLUSIVE otherwise, naming the unresolved pairs: the units' scatter exceeds that gap, so more units (or a
  longer budget, where the gap grows in time) are needed to decide it.

A per-unit rule (PASS iff the order holds in every unit) is right for a quantity whose order is deterministic
per initialisation; this one is for quantities whose order the paper states for the mean over runs and whose
spread over units is comparable with the gap (the paper's own +-1 std bands overlap), e.g. lambda_min(Theta_0)
of gamma = 1 and 0.5 on concrete (its order holds in 90 % of shared-weight draws at m = 2000).

Example:
    >>> import pandas as pd
    >>> from ntklab.experiments.asym._intervals import paired_gaps, interval_verdict
    >>> t = pd.DataFrame({1.0: [1.0, 1.1, 0.9, 1.0], 0.0: [2.0, 2.3, 1.8, 2.1]})
    >>> gaps = paired_gaps(t)
    >>> [(g.a, g.b, round(g.mean, 3)) for g in gaps]
    [(1.0, 0.0, 1.05)]
    >>> interval_verdict(gaps)
    True
    >>> interval_verdict(paired_gaps(pd.DataFrame({1.0: [1.0, 2.0], 0.0: [2.0, 1.5]}))) is None
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ...report import Claim, Precondition, claim, enough

__all__ = ["LEVEL", "Gap", "mean_interval", "paired_gaps", "interval_verdict", "interval_claim", "gaps_text"]

LEVEL = 0.90


@dataclass(frozen=True)
class Gap:
    """The paired gap of (a, b) in the claimed direction over ``n`` units: its mean and ``LEVEL`` interval."""

    a: float
    b: float
    mean: float
    low: float
    high: float
    n: int

    @property
    def resolved(self) -> bool:
        return self.low > 0 or self.high < 0


def mean_interval(d, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the mean of the values ``d`` and its two-sided Student-t interval (NaN bounds with fewer
    than two values)."""
    from scipy import stats

    d = pd.Series(d, dtype=float).to_numpy()
    n = int(d.size)
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def paired_gaps(table: pd.DataFrame, *, increasing: bool = True, level: float = LEVEL,
                pairs: list[tuple] | None = None) -> list[Gap]:
    """The paired gaps of ``table`` (rows = units, columns = configurations in the claim's order): for each pair
    (a, b) (default: adjacent columns) ``table[b] - table[a]`` (negated unless ``increasing``) with its Student-t
    interval (NaN bounds with fewer than two units)."""
    cols = list(table.columns)
    out = []
    for a, b in (pairs if pairs is not None else list(zip(cols, cols[1:]))):
        d = (table[b] - table[a]).to_numpy(float) * (1.0 if increasing else -1.0)
        out.append(Gap(a, b, *mean_interval(d, level), int(d.size)))
    return out


def interval_verdict(gaps: list[Gap]) -> bool | None:
    """True when every gap is resolved positive, False when some gap is resolved negative, else None."""
    if any(g.high < 0 for g in gaps):
        return False
    if gaps and all(g.low > 0 for g in gaps):
        return True
    return None


def gaps_text(gaps: list[Gap], name: str = "γ", fmt: str = ".3g") -> str:
    return "; ".join(f"{name}={g.a:g}→{g.b:g}: {g.mean:{fmt}} [{g.low:{fmt}}, {g.high:{fmt}}]" for g in gaps)


def interval_claim(name: str, requires: list[Precondition], table, measured, expected: str = "", *,
                   increasing: bool = True, unit: str = "seeds", min_units: int = 2,
                   pairs: list[tuple] | None = None) -> Claim:
    """An ordering claim decided by :func:`interval_verdict` on the paired gaps of ``table()`` (a callable, evaluated
    only when every precondition holds; rows = units, columns in the claim's order); ``measured`` (str or
    callable) is followed by the gaps (in the claimed direction) and their intervals; ``pairs``: the pairs
    compared (default: adjacent columns).  Unresolved gaps make it INCONCLUSIVE, naming them."""
    failed = [p for p in requires if not p.ok]
    if failed:
        return claim(name, None, "", expected, requires=failed[:1])
    t = table()
    gaps = paired_gaps(t, increasing=increasing, pairs=pairs)
    head = measured() if callable(measured) else str(measured)
    text = f"{head}; paired gaps, mean [{100 * LEVEL:g}% interval]: {gaps_text(gaps)}"
    support = f"{len(t)} {unit}, {100 * LEVEL:g}% t-interval"
    verdict = interval_verdict(gaps)
    enough_units = enough(len(t), min_units, unit)
    if verdict is None and enough_units.ok:
        open_pairs = ", ".join(f"γ={g.a:g}/{g.b:g}" for g in gaps if not g.resolved)
        return Claim(name, "INCONCLUSIVE", f"{text}; not resolved by {len(t)} {unit} (the spread over {unit} exceeds "
                     f"the gap): {open_pairs}", expected, support)
    return claim(name, verdict, text, expected, requires=[enough_units], support=support)

