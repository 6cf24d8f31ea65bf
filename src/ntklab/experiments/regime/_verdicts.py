r"""Exponents and claims of the regime check: log-log slopes against the width n, decided seed by seed.

Each claimed exponent e is fitted per seed (log value on log n over the seed's widths, :func:`ntklab._fits.loglog_fit`)
and a claim passes when every seed's exponent satisfies it (support "k/n seeds"); the measured column also
gives the exponent of the mean over seeds, which names the verdict.  The asymmetric sweep's node claims are
decided on an interval instead: a single node's displacement is an O(1) random variable (its own init and its
few downstream weights differ from width to width), so one seed's exponent over the widths scatters by about
+-0.2-0.4; they read the Student-t 95 % interval of the mean of the per-seed exponents (:func:`seed_interval`)
over ``asymmetric_seeds`` seeds.  Preconditions, declared per claim: the
parameterisation's runs are all there, finished and not diverged; the metric was recorded; every seed has a
positive finite value at >= 3 widths (a slope with an interval needs n - 2 >= 1 degrees of freedom; the
widths are distinct, so such a slope is finite); an interval over seeds needs >= 3 seeds.

The theory each exponent is read against (the kernel of an NTK-parameterised deep net at width n):
``CLASSICAL_BOUND`` = -1/2, the O(n^{-1/2}) bound on the kernel's change during training (Jacot et al. 2018;
Lee et al. 2019); ``SMOOTH_RATE`` = -1, its O(1/n) rate for smooth activations (Dyer & Gur-Ari 2019), which
ReLU's kinks (activation-pattern flips) slow; "lazy" means an exponent <= ``LAZY_MAX`` = -0.4.

Example:
    >>> import pandas as pd
    >>> from ntklab.experiments.regime._verdicts import fit_exponents
    >>> f = pd.DataFrame({"parameterization": "ntk", "metric": "drift_fro_rel", "layer": "", "seed": 0,
    ...                   "width": [64, 256, 1024], "value": [0.4, 0.2, 0.1]})
    >>> round(float(fit_exponents(f).exponent.iloc[0]), 6)
    -0.5
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..._fits import loglog_fit
from ...report import (Claim, Precondition, claim, enough, has_metric, precondition, reported, runs_usable,
                       seed_support)

__all__ = ["fit_exponents", "verdict", "regime_claims", "seed_interval", "TOLERANCE", "MIN_WIDTHS", "LAZY_MAX",
           "CLASSICAL_BOUND", "SMOOTH_RATE", "TOP_NODE_MIN"]

TOLERANCE = 0.15
MIN_WIDTHS = 3  # a slope and its interval need n - 2 >= 1 degrees of freedom
MIN_CI_SEEDS = 3  # a t interval over seeds with >= 2 degrees of freedom
LAZY_MAX = -0.4  # lazy: the kernel's relative drift falls at least like n^-0.4
CLASSICAL_BOUND = -0.5  # O(n^-1/2): Jacot et al. 2018, Lee et al. 2019
SMOOTH_RATE = -1.0  # O(1/n) for smooth activations: Dyer & Gur-Ari 2019
TOP_NODE_MIN = -0.25  # midway between O(1) (feature learning) and the lazy nodes' n^-1/2
FLAT_DRIFT = ("mup", "meanfield")  # feature learning: drift flat in n
COORD_EXPONENT = {"ntk": -0.5, "mup": 0.0, "meanfield": 0.0}  # per-coordinate updates (coord check)
_KEYS = ["parameterization", "metric", "layer"]


def seed_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-seed values with its Student-t interval (NaN ends for fewer than 2 finite values).

    Example:
        >>> lo_mid_hi = seed_interval([-0.1, 0.0, 0.1])
        >>> [round(v, 3) for v in lo_mid_hi]
        [-0.248, 0.0, 0.248]
    """
    from scipy import stats

    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return math.nan, float(v.mean()) if v.size else math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1)) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return float(v.mean()) - half, float(v.mean()), float(v.mean()) + half


def fit_exponents(frame: pd.DataFrame, *, per_seed: bool = False) -> pd.DataFrame:
    """Least-squares slope of log(value) against log(width) per parameterisation, metric and layer: of the mean
    over seeds, or (``per_seed``) of each seed's own values.  ``widths`` counts the points the fit used."""
    keys = _KEYS + (["seed"] if per_seed else [])
    cols = keys + ["exponent", "ci_low", "ci_high", "widths"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    mean = frame.groupby(keys + ["width"]).value.mean().reset_index()
    rows = []
    for key, g in mean.groupby(keys, sort=False):
        fit = loglog_fit(g.width, g.value)
        rows.append({**dict(zip(keys, key)), "exponent": fit.slope, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
                     "widths": fit.n})
    return pd.DataFrame(rows, columns=cols)


def verdict(drift_exponent: float) -> str:
    """One line from the fitted drift exponent e: lazy (e <= -0.4), feature learning (|e| <= 0.15), else."""
    e = drift_exponent
    if not np.isfinite(e):
        return "no verdict (no exponent)"
    if e <= LAZY_MAX:
        return f"lazy: drift ∝ width^{e:.2f}"
    if abs(e) <= TOLERANCE:
        return f"feature learning: drift flat in width (exponent {e:.2f})"
    return f"{'unstable: drift grows' if e > 0 else 'in between: drift shrinks slowly'} (∝ width^{e:.2f})"


def kind_seeds(o, kind: str) -> int:
    """Seeds of ``kind``'s width sweep: ``asymmetric_seeds`` (if set) for the asymmetric one, else ``seeds``."""
    return (getattr(o, "asymmetric_seeds", None) or o.seeds) if kind == "asymmetric" else o.seeds


class _Sweep:
    """What the claims read: the tidy measurements, the fitted exponents and the runs of every (kind, n, seed)."""

    def __init__(self, frame: pd.DataFrame, runs: dict, o):
        self.frame, self.runs, self.o = frame, runs, o
        self.mean = fit_exponents(frame)
        self.seeds = fit_exponents(frame, per_seed=True)

    def usable(self, kind: str) -> Precondition:
        sel = [r for (k, _, _), r in self.runs.items() if k == kind]
        return runs_usable([r for r in sel if r is not None], expected=len(sel), what=f"{kind} runs")

    def recorded(self, kind: str, metric: str) -> Precondition:
        f = self.frame
        return has_metric(f[f.parameterization == kind] if len(f) else f, metric)

    def exponent(self, kind: str, metric: str, layer: str | None = None) -> float:
        sel = _select(self.mean, kind, metric, layer)
        return float(sel.exponent.iloc[0]) if len(sel) else float("nan")

    def per_seed(self, kind: str, metric: str, layer: str | None = None) -> pd.DataFrame:
        return _select(self.seeds, kind, metric, layer).sort_values("seed")

    def requires(self, kind: str, metric: str, fits: list[pd.DataFrame]) -> list[Precondition]:
        """The runs are usable, ``metric`` was recorded and (then) every seed's exponent in each of ``fits``
        (per-seed rows) rests on at least MIN_WIDTHS widths, so that it is a finite slope."""
        pre = [self.usable(kind), self.recorded(kind, metric)]
        if pre[-1].ok:
            seeds = kind_seeds(self.o, kind)
            fewest = min((int(f.widths.min()) if len(f) == seeds else 0) for f in fits)
            pre.append(enough(fewest, MIN_WIDTHS, f"widths with a positive finite {metric} (fewest over seeds)"))
        return pre

    def series(self, kind: str, metric: str) -> str:
        f = self.frame
        if f.empty:
            return "no measurements"
        g = f[(f.parameterization == kind) & (f.metric == metric)].groupby("width").value.mean()
        return ", ".join(f"n={n}: {v:.3g}" for n, v in g.items())


def _select(ex: pd.DataFrame, kind: str, metric: str, layer: str | None) -> pd.DataFrame:
    sel = ex[(ex.parameterization == kind) & (ex.metric == metric)]
    return sel if layer is None else sel[sel.layer == layer]


def _seeds_text(sel: pd.DataFrame) -> str:
    return "" if len(sel) < 2 else "; per seed " + ", ".join(f"{e:.2f}" for e in sel.exponent)


def _exponent_claim(sw: _Sweep, kind: str, metric: str, name: str, ok, measured: str, expected: str) -> Claim:
    sel = sw.per_seed(kind, metric)
    flags = [bool(ok(e)) for e in sel.exponent]
    return claim(name, lambda: all(flags), measured + _seeds_text(sel), expected,
                 requires=sw.requires(kind, metric, [sel]), support=seed_support(flags))


def _drift_claim(sw: _Sweep, kind: str, measured: str) -> Claim:
    if kind == "ntk":
        e = sw.exponent(kind, "drift_fro_rel")
        refs = (f"; against the classical bound {CLASSICAL_BOUND:g} ({e - CLASSICAL_BOUND:+.2f}) and the "
                f"smooth-activation rate {SMOOTH_RATE:g} ({e - SMOOTH_RATE:+.2f})")
        return _exponent_claim(sw, kind, "drift_fro_rel",
                               f"ntk: lazy: the kernel's relative drift falls with width (exponent ≤ {LAZY_MAX:g}, "
                               "every seed)", lambda x: x <= LAZY_MAX, measured + refs,
                               f"exponent ≤ {LAZY_MAX:g}; theory: O(n^−1/2) bound (Jacot et al. 2018, Lee et al. "
                               "2019), O(1/n) for smooth activations (Dyer & Gur-Ari 2019), ReLU's kinks add a "
                               "slower part")
    return _exponent_claim(sw, kind, "drift_fro_rel",
                           f"{kind}: feature learning: the kernel's relative drift is flat in width "
                           f"(|exponent| ≤ {TOLERANCE}, every seed)", lambda x: abs(x) <= TOLERANCE, measured,
                           f"exponent 0 ± {TOLERANCE} (the kernel moves O(1) at every width: Yang & Hu 2021)")


def _interval_claim(sw: _Sweep, metric: str, name: str, ok, expected: str) -> Claim:
    """A claim on the asymmetric sweep's ``metric`` exponent decided on the 95 % t interval (lo, hi) over seeds."""
    kind = "asymmetric"
    sel = sw.per_seed(kind, metric)
    lo, mid, hi = seed_interval(sel.exponent)
    pre = sw.requires(kind, metric, [sel])
    if all(p.ok for p in pre):
        pre.append(enough(len(sel), MIN_CI_SEEDS, "seeds (an interval over seeds)"))
    return claim(name, lambda: ok(lo, hi),
                 lambda: f"{sw.series(kind, metric)}; exponent {mid:.2f}, 95% CI [{lo:.2f}, {hi:.2f}]"
                         + _seeds_text(sel), expected, requires=pre, support=f"95% CI over {len(sel)} seeds")


def _asymmetric_claims(sw: _Sweep) -> list[Claim]:
    """The top-lambda node moves O(1) (its exponent's interval lies above -1/4), the bulk like n^-1/2."""
    o = sw.o
    top = _interval_claim(sw, "top_node_displacement",
                          f"asymmetric (γ={o.gamma:g}, α={o.alpha:g}): top-λ node's movement does not shrink with "
                          f"width (95% CI over seeds of its exponent above {TOP_NODE_MIN:g})",
                          lambda lo, hi: lo > TOP_NODE_MIN,
                          f"O(1) in n (Caron et al. 2023: the top nodes learn features), not the lazy nodes' n^−1/2: "
                          f"the CI lies above the midpoint {TOP_NODE_MIN:g}")
    bulk = _interval_claim(sw, "median_node_displacement",
                           f"asymmetric: the median node's movement shrinks like n^−1/2 (95% CI over seeds of its "
                           f"exponent within {CLASSICAL_BOUND:g} ± {TOLERANCE})",
                           lambda lo, hi: CLASSICAL_BOUND - TOLERANCE <= lo and hi <= CLASSICAL_BOUND + TOLERANCE,
                           "λ_j ≈ γ/n for all but the top nodes: lazy, O(n^−1/2) (Caron et al. 2023)")
    return [top, bulk]


def _kind_claims(sw: _Sweep, kind: str) -> list[Claim]:
    o = sw.o
    e, gap = sw.exponent(kind, "drift_fro_rel"), sw.exponent(kind, "linearization_gap_rel")
    measured = f"{sw.series(kind, 'drift_fro_rel')}; exponent {e:.2f} (linearisation gap exponent {gap:.2f})"
    if kind == "ntk" or kind in FLAT_DRIFT:
        return [_drift_claim(sw, kind, measured)]
    drift = sw.per_seed(kind, "drift_fro_rel")
    numbers = sw.requires(kind, "drift_fro_rel", [drift])
    if kind != "asymmetric":
        return [reported(f"{kind}: {verdict(e)}", measured + _seeds_text(drift),
                         f"lr {'∝ 1/width' if o.standard_lr == 'inverse_width' else 'constant'}", requires=numbers)]
    return _asymmetric_claims(sw) + [reported(f"asymmetric: {verdict(e)}", measured + _seeds_text(drift),
                                              "γ < 1 moves the kernel", requires=numbers)]


def _coord_claims(sw: _Sweep) -> list[Claim]:
    out = []
    hidden = [f"x{l + 1}" for l in range(sw.o.depth)]
    for k, want in COORD_EXPONENT.items():
        if k not in sw.o.parameterization:
            continue
        per = [sw.per_seed(k, "coord_delta", layer) for layer in hidden]
        flags = [all(abs(e - want) <= TOLERANCE for e in col)
                 for col in zip(*(p.exponent for p in per))]
        mean = {layer: sw.exponent(k, "coord_delta", layer) for layer in hidden}
        what = "shrink ∝ n^-1/2" if want else "stay O(1)"
        out.append(claim(f"{k}: coord check, hidden-layer updates {what}", lambda f=flags: all(f),
                         ", ".join(f"{layer}: {e:.2f}" for layer, e in mean.items()),
                         f"exponent {want:g} ± {TOLERANCE}", requires=sw.requires(k, "coord_delta", per),
                         support=seed_support(flags)))
    return out


def _divergence_claim(sw: _Sweep) -> list[Claim]:
    claimed = [k for k in sw.o.parameterization if k != "standard"]
    if not claimed:
        return []
    sel = {key: r for key, r in sw.runs.items() if key[0] in claimed}
    missing = [f"{k}-n{n}-s{s}" for (k, n, s), r in sel.items() if r is None]
    pending = [f"{r.name}: {r.status}" for r in sel.values()
               if r is not None and r.status not in ("done", "diverged", "failed")]
    bad = [f"{r.name}: {r.status}" for r in sel.values() if r is not None and r.status in ("diverged", "failed")]
    shown = missing[:4] + pending[:4]
    ended = precondition(not missing and not pending,
                         f"{len(missing)} runs missing, {len(pending)} unfinished ({', '.join(shown)})")
    return [claim("no run of a claimed parameterisation diverged or failed", not bad,
                  "; ".join(bad) or f"{len(sel)} runs done", "all done", requires=[ended])]


def regime_claims(frame: pd.DataFrame, runs: dict, o) -> list[Claim]:
    """Every claim of the regime check from the measurements and the runs keyed by (kind, width, seed)."""
    sw = _Sweep(frame, runs, o)
    out = [c for k in o.parameterization for c in _kind_claims(sw, k)]
    return out + _coord_claims(sw) + _divergence_claim(sw)
