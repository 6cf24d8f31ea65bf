r"""Exponents and claims of the regime check: log-log slopes against the width n, decided seed by seed.

Each claimed exponent e is fitted per seed (log value on log n over the seed's widths, :func:`ntklab._fits.loglog_fit`)
and a claim passes when every seed's exponent satisfies it (support "k/n seeds"); the measured column also
gives the exponent of the mean over seeds, which names the verdict.  Preconditions, declared per claim: the
parameterisation's runs are all there, finished and not diverged; the metric was recorded; every seed has a
positive finite value at >= 3 widths (a slope with an interval needs n - 2 >= 1 degrees of freedom; the
widths are distinct, so such a slope is finite).

Example:
    >>> import pandas as pd
    >>> from ntklab.experiments.regime._verdicts import fit_exponents
    >>> f = pd.DataFrame({"parameterization": "ntk", "metric": "drift_fro_rel", "layer": "", "seed": 0,
    ...                   "width": [64, 256, 1024], "value": [0.4, 0.2, 0.1]})
    >>> round(float(fit_exponents(f).exponent.iloc[0]), 6)
    -0.5
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..._fits import loglog_fit
from ...report import (Claim, Precondition, claim, enough, has_metric, precondition, reported, runs_usable,
                       seed_support)

__all__ = ["fit_exponents", "verdict", "regime_claims", "TOLERANCE", "MIN_WIDTHS"]

TOLERANCE = 0.15
MIN_WIDTHS = 3  # a slope and its interval need n - 2 >= 1 degrees of freedom
EXPECTED_DRIFT = {"ntk": -0.5, "mup": 0.0, "meanfield": 0.0}
_KEYS = ["parameterization", "metric", "layer"]


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
    """One line from the fitted drift exponent e: lazy (e < -0.35), feature learning (|e| <= 0.15), else."""
    e = drift_exponent
    if not np.isfinite(e):
        return "no verdict (no exponent)"
    if e < -0.35:
        return f"lazy: drift ∝ width^{e:.2f}"
    if abs(e) <= TOLERANCE:
        return f"feature learning: drift flat in width (exponent {e:.2f})"
    return f"{'unstable: drift grows' if e > 0 else 'in between: drift shrinks slowly'} (∝ width^{e:.2f})"


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
        return _select(self.seeds, kind, metric, layer)

    def requires(self, kind: str, metric: str, fits: list[pd.DataFrame]) -> list[Precondition]:
        """The runs are usable, ``metric`` was recorded and (then) every seed's exponent in each of ``fits``
        (per-seed rows) rests on at least MIN_WIDTHS widths, so that it is a finite slope."""
        pre = [self.usable(kind), self.recorded(kind, metric)]
        if pre[-1].ok:
            fewest = min((int(f.widths.min()) if len(f) == self.o.seeds else 0) for f in fits)
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


def _kind_claims(sw: _Sweep, kind: str) -> list[Claim]:
    o = sw.o
    e, gap = sw.exponent(kind, "drift_fro_rel"), sw.exponent(kind, "linearization_gap_rel")
    measured = f"{sw.series(kind, 'drift_fro_rel')}; exponent {e:.2f} (linearisation gap exponent {gap:.2f})"
    if kind in EXPECTED_DRIFT:
        want = EXPECTED_DRIFT[kind]
        return [_exponent_claim(sw, kind, "drift_fro_rel", f"{kind}: {verdict(e)}",
                                lambda x: abs(x - want) <= TOLERANCE, measured,
                                f"drift exponent {want:g} ± {TOLERANCE}")]
    drift = sw.per_seed(kind, "drift_fro_rel")
    numbers = sw.requires(kind, "drift_fro_rel", [drift])
    if kind != "asymmetric":
        return [reported(f"{kind}: {verdict(e)}", measured + _seeds_text(drift),
                         f"lr {'∝ 1/width' if o.standard_lr == 'inverse_width' else 'constant'}", requires=numbers)]
    t = sw.exponent(kind, "top_node_displacement")
    top = _exponent_claim(sw, kind, "top_node_displacement",
                          f"asymmetric (γ={o.gamma:g}, α={o.alpha:g}): top-λ node's movement does not shrink "
                          f"with width", lambda x: x > -TOLERANCE,
                          f"{sw.series(kind, 'top_node_displacement')}; exponent {t:.2f}",
                          f"exponent > -{TOLERANCE} (O(1) in n)")
    return [top, reported(f"asymmetric: {verdict(e)}", measured + _seeds_text(drift), "γ < 1 moves the kernel",
                          requires=numbers)]


def _coord_claims(sw: _Sweep) -> list[Claim]:
    out = []
    hidden = [f"x{l + 1}" for l in range(sw.o.depth)]
    for k, want in EXPECTED_DRIFT.items():
        if k not in sw.o.parameterization:
            continue
        per = [sw.per_seed(k, "coord_delta", layer) for layer in hidden]
        flags = [all(abs(e - want) <= TOLERANCE for e in col)
                 for col in zip(*(p.sort_values("seed").exponent for p in per))]
        mean = {layer: sw.exponent(k, "coord_delta", layer) for layer in hidden}
        what = "shrink ∝ n^-1/2" if want else "stay O(1)"
        out.append(claim(f"{k}: coord check, hidden-layer updates {what}", lambda: all(flags),
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
