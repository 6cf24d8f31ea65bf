r"""The claims of the top-layer version over its frame (:func:`~ntklab.experiments.conditioning._top_layer.
top_layer_frame`: one row per run with variant, depth, seed, status, lr, cond = cond(K-hat^(L)), exact_cond =
cond(K^(L)), steps (measured, to the relative loss eps, on the probe grid), steps_predicted (the exact GD
trajectory's, on the same grid), steps_bound, probe_every, rate, rate_times_cond, max_log_deviation).

- normalised relu: the steps fall with depth (strictly, seed by seed): the main theorem's cond(K^(L)) -> 1 as a
  statement about training the top layer;
- plain relu: they do not fall: the deepest network needs at least the steps of the shallowest (K^(L) -> 11^T);
- every run follows GD on its quadratic: the measured loss matches the prediction from K-hat's spectrum at every
  probe (|ln(measured / predicted)| <= 0.01: float32 rounding moves it by ~1e-5; a step size off by 1% would
  shift the loss at eps by ~ln(1/eps) % = 7%), and its steps are within the condition-number bound
  ln(1/eps) / (-2 ln(1 - 1/kappa)) (rate rho >= -ln(1 - 1/kappa), so rho kappa >= 1).

Preconditions: the variant's runs are all stored, done, and reached eps within their budget; at least two depths.

Example:
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> o = SimpleNamespace(top_tolerance=1e-3)
    >>> top = pd.DataFrame([{"variant": "nrelu", "depth": L, "seed": 0, "run": f"r{L}", "status": "done",
    ...                      "lr": 0.1, "cond": c, "exact_cond": c, "steps": k, "steps_predicted": k,
    ...                      "steps_bound": 3.5 * c, "probe_every": 1, "rate": 0.1, "rate_times_cond": 2.0,
    ...                      "max_log_deviation": 1e-6} for L, c, k in ((1, 100.0, 200.0), (4, 10.0, 20.0))])
    >>> falls_claim(o, top).verdict, rate_claim(o, top).support
    ('PASS', '2/2 runs')
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pandas as pd

from ...report import Claim, claim, enough, precondition, reported, runs_usable, seed_support

__all__ = ["top_layer_claims", "falls_claim", "does_not_fall_claim", "rate_claim", "MAX_LOG_DEVIATION"]

MAX_LOG_DEVIATION = 0.01
_Stored = namedtuple("_Stored", "name status")


def _requires(sub: pd.DataFrame, what: str) -> list:
    stored = [_Stored(r.run, r.status) for r in sub.itertuples() if r.status != "missing"]
    unreached = sub[(sub.status == "done") & ~np.isfinite(sub.steps.to_numpy(float))].run.tolist()
    return [precondition(len(sub) > 0, f"{what} was not run"),
            runs_usable(stored, expected=len(sub), what="top-layer runs"),
            precondition(not unreached, f"{', '.join(unreached[:4])} did not reach the relative loss within its "
                                        "budget")]


def _per_seed(sub: pd.DataFrame) -> pd.DataFrame:
    return sub.pivot_table(index="seed", columns="depth", values="steps", aggfunc="first").sort_index(axis=1)


def _shown(sub: pd.DataFrame) -> str:
    g = sub.groupby("depth").agg(steps=("steps", "mean"), pred=("steps_predicted", "mean"), cond=("cond", "mean"),
                                 exact=("exact_cond", "first"))
    return ", ".join(f"L={d}: {r.steps:.4g} steps (predicted {r.pred:.4g}; cond K̂ {r.cond:.3g}, K {r.exact:.3g})"
                     for d, r in g.iterrows()) + " (means over seeds)"


def falls_claim(o, top: pd.DataFrame) -> Claim:
    sub = top[top.variant == "nrelu"]
    table = _per_seed(sub)
    support = seed_support(all(np.diff(r.to_numpy()) < 0) for _, r in table.iterrows())
    return claim(f"top layer: normalised relu: GD steps to relative loss {o.top_tolerance:g} fall with depth",
                 lambda: support.all, lambda: _shown(sub), "strictly decreasing in L (cond K^(L) → 1)",
                 requires=[*_requires(sub, "normalised relu"), enough(table.shape[1], 2, "depths")], support=support)


def does_not_fall_claim(o, top: pd.DataFrame) -> Claim:
    sub = top[top.variant == "relu"]
    table = _per_seed(sub)
    support = seed_support(r.iloc[-1] >= r.iloc[0] for _, r in table.iterrows())
    return claim(f"top layer: plain relu: GD steps to relative loss {o.top_tolerance:g} do not fall with depth",
                 lambda: support.all, lambda: _shown(sub),
                 "steps at the deepest L ≥ at the shallowest (K^(L) → 11ᵀ, cond grows)",
                 requires=[*_requires(sub, "plain relu"), enough(table.shape[1], 2, "depths")], support=support)


def _within_bound(r) -> bool:
    grid = r.probe_every * np.ceil(r.steps_bound / r.probe_every)
    return bool(r.max_log_deviation <= MAX_LOG_DEVIATION and r.steps <= grid)


def rate_claim(o, top: pd.DataFrame) -> Claim:
    support = seed_support((_within_bound(r) for r in top.itertuples()), unit="runs")
    return claim("top layer: GD rate is set by cond(K̂^(L)): every run follows the spectral prediction",
                 lambda: support.all,
                 lambda: f"max |ln(L_measured / L_predicted)| {top.max_log_deviation.max():.2g}; measured = predicted "
                         f"steps in {int((top.steps == top.steps_predicted).sum())}/{len(top)} runs; rate·cond "
                         f"{top.rate_times_cond.min():.2f}–{top.rate_times_cond.max():.2f}",
                 f"|ln ratio| ≤ {MAX_LOG_DEVIATION:g} at every probe, steps ≤ ln(1/ε)/(−2 ln(1 − 1/κ)) "
                 "(rate ≥ 1/κ)", requires=_requires(top, "the top-layer version"), support=support)


def _cond_reported(o, top: pd.DataFrame) -> Claim:
    def text() -> str:
        parts = []
        for v, sub in top.groupby("variant", sort=False):
            g = sub.groupby("depth").agg(cond=("cond", "mean"), exact=("exact_cond", "first"), lr=("lr", "mean"))
            parts.append(f"{v}: " + ", ".join(f"L={d}: {r.cond:.3g} vs {r.exact:.3g} (η {r.lr:.3g})"
                                              for d, r in g.iterrows()))
        return "; ".join(parts)

    return reported(f"top layer: cond(K̂^(L)) at width {o.top_width} vs cond(K^(L))", text,
                    "K̂ → K as width grows; η = 1/λ_max of the loss's Hessian",
                    requires=[precondition(len(top) > 0, "no top-layer run")])


def top_layer_claims(o, top: pd.DataFrame) -> list[Claim]:
    return [falls_claim(o, top), does_not_fall_claim(o, top), rate_claim(o, top), _cond_reported(o, top)]
