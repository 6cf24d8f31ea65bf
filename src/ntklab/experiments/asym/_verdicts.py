r"""What the asymmetrical-scaling claims stand on: the runs they need, one value per (seed, configuration),
and per-seed decisions.

- :class:`RunSet`: the runs an analysis expects (one per config), loaded whatever their status, so that
  diverged, failed and missing runs are seen and named (``usable()`` is the precondition "all there,
  finished and not diverged");
- :class:`Grid`: one value per (seed, gamma) (or per (seed, width)) with the precondition that every
  expected cell was recorded and is finite (and positive, for a log-log slope);
- :func:`seed_claim`: PASS iff a predicate holds in every seed (seed s of every configuration shares its
  initial weights), with support "k/n seeds", INCONCLUSIVE when a precondition fails;
- :func:`gate`: the preconditions up to the first that fails, so a claim names the cause, not its echoes.

Generic preconditions written here (not in :mod:`ntklab.report`): :meth:`RunSet.recorded` (every expected
run is in the store, any status) and :meth:`Grid.check` (complete, finite, optionally positive).

Example:
    >>> import pandas as pd
    >>> from ntklab.experiments.asym._verdicts import grid_of, seed_claim
    >>> values = pd.DataFrame({"seed": [0, 0, 1, 1], "gamma": [1.0, 0.0, 1.0, 0.0], "value": [1.0, 2.0, 1.5, 1.2]})
    >>> g = grid_of(values, [0, 1], [1.0, 0.0], what="final risk")
    >>> c = seed_claim("γ=0 ends higher", [g.check], lambda: [r[0.0] > r[1.0] for r in g.rows()], "…")
    >>> c.verdict, c.support
    ('FAIL', '1/2 seeds')
    >>> grid_of(values[:3], [0, 1], [1.0, 0.0], what="final risk").check.text
    'final risk: no value for 1 of 4 runs (seed 1, γ=0)'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ...report import Claim, Precondition, claim, enough, precondition, runs_usable, seed_support
from ...runs import load_runs
from ._common import scaling_frame

__all__ = ["RunSet", "Grid", "grid_of", "last_values", "seed_claim", "gate", "finite_positive"]


def _scaling(cfg) -> tuple[float, float, int]:
    s = cfg.network.scaling
    return float(s.alpha), float(s.gamma), int(cfg.network.width)


@dataclass
class RunSet:
    """The expected runs (``configs``) and those found in the store (``runs``, any status)."""

    configs: list
    runs: list

    @classmethod
    def load(cls, root: str | Path, configs) -> "RunSet":
        configs = list(configs)
        return cls(configs, load_runs(root, configs, finished_only=False))

    def where(self, keep: Callable[[float, float, int], bool]) -> "RunSet":
        """The runs of the configs whose (alpha, gamma, width) satisfy ``keep``."""
        cfgs = [c for c in self.configs if keep(*_scaling(c))]
        names = {c.name for c in cfgs}
        return RunSet(cfgs, [r for r in self.runs if r.name in names])

    @property
    def seeds(self) -> list[int]:
        return sorted({int(c.seed) for c in self.configs})

    @property
    def gammas(self) -> list[float]:
        """The configurations' gammas, largest first."""
        return sorted({_scaling(c)[1] for c in self.configs}, reverse=True)

    @property
    def done(self) -> list:
        return [r for r in self.runs if r.status == "done"]

    @property
    def not_done(self) -> list:
        return [r for r in self.runs if r.status != "done"]

    def usable(self, what: str = "runs") -> Precondition:
        """Every expected run is there, finished and not diverged (else named)."""
        return runs_usable(self.runs, expected=len(self.configs), what=what)

    def recorded(self, what: str = "runs") -> Precondition:
        """Every expected run is in the store, whatever its status (for quantities of step 0)."""
        missing = len(self.configs) - len(self.runs)
        return precondition(self.configs and not missing,
                            f"{missing} of {len(self.configs)} {what} missing" if self.configs else f"no {what}")

    def frame(self, *, any_status: bool = False) -> pd.DataFrame:
        """The tidy metrics of the finished runs (``any_status``: of every run found)."""
        return scaling_frame(self.runs if any_status else self.done)


def last_values(frame: pd.DataFrame, metric: str, *, step: int | None = None, top_node: bool = False
                ) -> pd.DataFrame:
    """One row per run (run, seed, gamma, width, value): ``metric`` at its last recorded step (or at ``step``);
    ``top_node``: the first recorded key (the probes record the top-lambda nodes first)."""
    sub = frame[frame.metric == metric]
    sub = sub[sub.step == (sub.groupby("run").step.transform("max") if step is None else step)]
    if top_node:
        sub = sub[sub.key == sub.groupby("run").key.transform("first")]
    cols = [c for c in ("run", "seed", "gamma", "width", "value") if c in sub.columns]
    return sub.drop_duplicates("run")[cols]


@dataclass
class Grid:
    """``table``: one value per (seed, column), rows = seeds, columns in the claim's order; ``check``: complete."""

    table: pd.DataFrame
    check: Precondition

    def rows(self) -> list[pd.Series]:
        return [row for _, row in self.table.iterrows()]

    def mean(self) -> pd.Series:
        """Mean over seeds of each column."""
        return self.table.mean(axis=0)


def _cell(along: str, seed, col) -> str:
    return f"seed {seed}, {'γ' if along == 'gamma' else 'm'}={col:g}"


def grid_of(values: pd.DataFrame, seeds: Sequence, columns: Sequence, *, what: str, along: str = "gamma",
            positive: bool = False) -> Grid:
    """The (seed x ``along``) table of ``values`` (columns seed, ``along``, value) over the expected cells; its
    check fails when a cell has no value, or a value that is not finite (or not positive, with ``positive``)."""
    idx = pd.MultiIndex.from_product([list(seeds), list(columns)], names=["seed", along])
    if not len(idx):
        return Grid(pd.DataFrame(index=list(seeds), columns=list(columns), dtype=float),
                    precondition(False, f"{what}: no runs expected"))
    got = values.drop_duplicates(["seed", along]).set_index(["seed", along]).value
    table = got.reindex(idx).unstack(along).reindex(index=list(seeds), columns=list(columns))
    missing = [_cell(along, s, c) for (s, c), ok in zip(idx, idx.isin(got.index)) if not ok]
    n = len(idx)
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        return Grid(table, precondition(False, f"{what}: no value for {len(missing)} of {n} runs ({shown})"))
    v = table.to_numpy(float)
    bad = ~np.isfinite(v) | ((v <= 0) if positive else False)
    text = f"{what}: {int(bad.sum())} of {n} values not {'positive and finite' if positive else 'finite'}"
    return Grid(table, precondition(not bad.any(), text))


def gate(*preconditions: Precondition | Iterable[Precondition]) -> list[Precondition]:
    """The preconditions in order, up to and including the first that fails."""
    out = []
    for p in preconditions:
        for q in ([p] if isinstance(p, Precondition) else p):
            out.append(q)
            if not q.ok:
                return out
    return out


def seed_claim(name: str, requires: Iterable[Precondition], flags: Callable[[], list[bool]], measured,
               expected: str = "", *, unit: str = "seeds") -> Claim:
    """PASS iff ``flags()`` (one bool per seed) are all true, with support "k/n seeds"; INCONCLUSIVE when a
    precondition fails (``flags`` and ``measured`` are then not evaluated)."""
    pre = gate(*requires)
    if not all(p.ok for p in pre):
        return claim(name, None, "", expected, requires=pre)
    sup = seed_support(flags(), unit)
    return claim(name, sup.all, measured, expected, requires=[enough(sup.n, 1, unit)], support=sup)


def finite_positive(value: float | None, what: str) -> Precondition:
    ok = value is not None and math.isfinite(value) and value > 0
    return precondition(ok, f"{what} = {value!r} is not a positive finite number")
