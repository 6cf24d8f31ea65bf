r"""Each variant at its best learning rate: the selection rule of ``deep-normalized``.

Every (dataset, depth, variant) is trained at each learning rate of a small log-spaced grid, with the same seeds.
A learning rate qualifies when every one of its seeds finished (status done) with a finite final train loss; its
score is the mean over the seeds of log(train loss), and the best learning rate is the qualifying one of lowest
score (a geometric mean: one lucky seed cannot carry it).  The comparison is then made seed by seed at the chosen
learning rates, so the selection and the verdict use the same runs, as a tuned baseline would be judged.

A choice on the edge of the grid (its smallest or largest value) means a better learning rate may lie outside it:
the claims that read such a choice are INCONCLUSIVE (``at_edge``), not decided on a grid too narrow.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame([{"dataset": "d", "depth": 4, "variant": "relu", "lr": lr, "seed": s,
    ...                        "status": "done", "train_loss": loss}
    ...                       for lr, loss in ((0.01, 0.5), (0.03, 0.2), (0.1, 0.4)) for s in (0, 1)])
    >>> best = select_lr(frame)
    >>> float(best.lr_best.iloc[0]), bool(best.at_edge.iloc[0])
    (0.03, False)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["select_lr", "at_best_lr", "GROUP"]

GROUP = ["dataset", "depth", "variant"]


def _score(runs: pd.DataFrame) -> float:
    """Mean log final train loss over the seeds, inf unless every seed is done with a finite loss."""
    loss = runs.train_loss.to_numpy(float)
    if len(runs) == 0 or not (runs.status == "done").all() or not np.isfinite(loss).all() or (loss <= 0).any():
        return float("inf")
    return float(np.log(loss).mean())


def select_lr(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, depth, variant): ``lr_best`` (NaN when no learning rate qualifies), its ``score``, whether it
    is on the grid's edge, the grid, and how many runs diverged over the grid."""
    rows = []
    for key, group in frame.groupby(GROUP, sort=True):
        grid = sorted(group.lr.unique())
        scores = {lr: _score(group[group.lr == lr]) for lr in grid}
        finite = {lr: s for lr, s in scores.items() if np.isfinite(s)}
        best = min(finite, key=finite.get) if finite else float("nan")
        rows.append({**dict(zip(GROUP, key)), "lr_best": best, "score": finite.get(best, float("inf")),
                     "at_edge": bool(finite) and (len(grid) < 3 or best in (grid[0], grid[-1])),
                     "grid": ", ".join(f"{lr:g}" for lr in grid), "qualifying": len(finite),
                     "diverged": int((group.status == "diverged").sum())})
    return pd.DataFrame(rows, columns=[*GROUP, "lr_best", "score", "at_edge", "grid", "qualifying", "diverged"])


def at_best_lr(frame: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` at each group's chosen learning rate (a group with none keeps no row)."""
    chosen = selection.dropna(subset=["lr_best"])[[*GROUP, "lr_best"]]
    merged = frame.merge(chosen, on=GROUP, how="inner")
    return merged[np.isclose(merged.lr, merged.lr_best, rtol=1e-12, atol=0)].drop(columns="lr_best")
