r"""The claims of ``deep-normalized`` over its per-run frame (one row per planned run, see
:func:`~ntklab.experiments.conditioning.deep_normalized.run_frame`): columns dataset, depth, variant, seed, run,
status (done / diverged / failed / interrupted / running / missing), train_loss, test_acc, grad_norm_0, diverged.

At the claim depth, normalised relu's final train loss L_nrelu is compared with relu + BatchNorm's (L_nrelu <= 2
L_bn) and with plain relu's (L_nrelu <= L_relu / 2), seed by seed (seed s of every variant: the same data order,
each its own init); a claim passes when every seed does.  Preconditions: the three variants and the depth were run,
every one of their runs is stored, finished and not diverged (else INCONCLUSIVE, the runs named), and the final
losses of the finished runs are finite (the eval-mode loss can overflow where the training loss did not).

Example:
    >>> import pandas as pd
    >>> rows = [{"dataset": "d", "depth": 4, "variant": v, "seed": s, "run": f"{v}-s{s}", "status": "done",
    ...          "train_loss": loss * (1 + s), "test_acc": 0.5, "grad_norm_0": 1.0, "diverged": False}
    ...         for v, loss in (("nrelu", 0.2), ("relu+bn", 0.3), ("relu", 1.0)) for s in (0, 1)]
    >>> within, below = depth_claims("d", pd.DataFrame(rows), 4, depths=[4], variants=["relu", "relu+bn", "nrelu"],
    ...                              seeds=2)
    >>> within.verdict, within.support, below.verdict
    ('PASS', '2/2 seeds', 'PASS')
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pandas as pd

from ...report import Claim, all_finite, claim, precondition, reported, runs_usable, seed_support

__all__ = ["depth_claims", "accuracy_by_depth_claim", "summarise", "COMPARED"]

COMPARED = ("nrelu", "relu+bn", "relu")
_Stored = namedtuple("_Stored", "name status")


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, depth and variant: mean and std over seeds of the finished runs, diverged and stored counts."""
    return (frame.groupby(["dataset", "depth", "variant"])
            .agg(train_loss=("train_loss", "mean"), train_loss_std=("train_loss", "std"),
                 test_acc=("test_acc", "mean"), test_acc_std=("test_acc", "std"),
                 grad_norm_0=("grad_norm_0", "mean"), diverged=("diverged", "sum"),
                 runs=("status", lambda s: int((s != "missing").sum())))
            .reset_index())


def _preconditions(sel: pd.DataFrame, depth: int, *, depths, variants, seeds: int) -> list:
    missing = [v for v in COMPARED if v not in variants]
    stored = [_Stored(r.run, r.status) for r in sel.itertuples() if r.status != "missing"]
    return [precondition(not missing, f"variants {', '.join(missing)} not run in this mode"),
            precondition(depth in depths, f"depth {depth} not run (depths {list(depths)})"),
            runs_usable(stored, expected=len(COMPARED) * seeds),
            all_finite(sel.train_loss[sel.status == "done"], "final train loss of the finished runs")]


def depth_claims(name: str, frame: pd.DataFrame, depth: int, *, depths, variants, seeds: int) -> list[Claim]:
    """The two comparisons at ``depth`` on dataset ``name`` (``frame``: that dataset's runs)."""
    sel = frame[(frame.depth == depth) & frame.variant.isin(COMPARED)]
    requires = _preconditions(sel, depth, depths=depths, variants=variants, seeds=seeds)
    loss = sel.pivot_table(index="seed", columns="variant", values="train_loss", aggfunc="first", dropna=False)
    loss = loss.reindex(columns=list(COMPARED))
    stats = sel.groupby("variant").agg(loss=("train_loss", "mean"), grad=("grad_norm_0", "mean"))

    def show(v: str) -> str:
        return f"{v} {stats.loss.get(v, np.nan):.4g} (‖∇L‖ at init {stats.grad.get(v, np.nan):.3g})"

    def compare(other: str, factor: float, title: str, expected: str) -> Claim:
        ratio = loss["nrelu"] / loss[other]
        support = seed_support(ratio <= factor)
        per_seed = ", ".join(f"{r:.3g}" for r in ratio)
        return claim(f"{name}: depth {depth}: normalised relu's train loss {title}", lambda: support.all,
                     lambda: f"{show('nrelu')} vs {show(other)} (means over seeds); ratio per seed: {per_seed}",
                     expected, requires=requires, support=support)

    return [compare("relu+bn", 2.0, "within 2× of relu + BatchNorm", "ratio ≤ 2"),
            compare("relu", 0.5, "clearly below plain relu", "ratio ≤ 0.5")]


def accuracy_by_depth_claim(name: str, frame: pd.DataFrame) -> Claim:
    """REPORTED: mean test accuracy over the finished seeds, by depth and variant (diverged runs counted)."""
    done = frame[frame.status == "done"]
    acc = done.groupby(["depth", "variant"]).test_acc.mean()
    diverged = frame[frame.diverged].groupby(["depth", "variant"]).size()

    def cell(d, v) -> str:
        text = f"{v} {acc[(d, v)]:.3f}" if (d, v) in acc.index else f"{v} –"
        return text + (f" ({diverged[(d, v)]} diverged)" if (d, v) in diverged.index else "")

    depths = sorted(frame.depth.unique())
    variants = sorted(frame.variant.unique())
    return reported(f"{name}: test accuracy by depth",
                    lambda: "; ".join(f"L={d}: " + ", ".join(cell(d, v) for v in variants) for d in depths),
                    "normalised relu ≈ BatchNorm",
                    requires=[precondition(len(done) > 0, "no finished run")])
