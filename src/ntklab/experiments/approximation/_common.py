r"""What both approximation presets share: the stored tables, the fitted rates and the preconditions of a claim.

The presets train stacks of nets with :mod:`ntklab.approximation` (not the run store), so a net's status lives
in the ``errors`` table: ``budget`` or ``converged`` when it finished, ``diverged`` when its loss blew up.  The
preconditions read from there:

- :func:`nets_usable`: the nets a claim reads are all there and none diverged (named when they did);
- :func:`enough_widths`: a slope over m rests on >= ``MIN_WIDTHS`` = 4 distinct widths with a positive finite
  error (issue 15: a rate over fewer widths is not resolved); the widths whose nets did not reach the lazy-window
  time are left out first (:mod:`._lazy_window`);
- :func:`trained`: GD cut every net's relative L2 error by a tenth at least, e_T / e_0 < 0.9 (a net that did
  not move keeps e_0 = 1 at every width, since f_0 = 0, and a slope over such nets describes the
  initialisation, not the trained nets the claim is about; a net GD moved but left in a poor configuration,
  such as a width-8 Gaussian stuck at e_T / e_0 = 0.53 after 10^4 steps, still counts as trained).

Example:
    >>> import pandas as pd
    >>> from ntklab.experiments.approximation._common import nets_usable
    >>> e = pd.DataFrame({"target": "jump", "m": [8, 16], "seed": 0, "status": ["budget", "diverged"]})
    >>> nets_usable(e, expected=2).text
    '1 nets diverged or unfinished (jump m=16 s0)'
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ..._io import write_table
from ...approximation import loglog_fit
from ...report import Precondition, enough, reported, runs_usable, trained_below

__all__ = ["save_tables", "load_tables", "fmt_fit", "rate_table", "nets_usable", "enough_widths", "trained",
           "net_problems", "ci_support", "with_status", "steps_needed",
           "MIN_WIDTHS",
           "TRAINED_RATIO"]

MIN_WIDTHS = 4
TRAINED_RATIO = 0.9  # e_T / e_0 a trained net must be below
FINISHED = ("budget", "converged", "unstable")  # finished runs (not diverged); only "converged" met the rule


def save_tables(frames: dict, out: Path) -> None:
    for name, df in frames.items():
        write_table(df, out / "tables" / f"{name}.parquet")


def load_tables(out: Path, names) -> dict:
    missing = [n for n in names if not (out / "tables" / f"{n}.parquet").exists()]
    if missing:
        raise FileNotFoundError(f"{out}: no stored tables {missing} (run the preset first)")
    return {n: pd.read_parquet(out / "tables" / f"{n}.parquet") for n in names}


def fmt_fit(r) -> str:
    return f"{r.slope:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"


def rate_table(e: pd.DataFrame, sp: pd.DataFrame | None, level: float, panel: list[str]) -> pd.DataFrame:
    """The network's log-log error rate per panel over all (width, seed) points, and the splines' beside it."""
    net = loglog_fit(e, y="error", by=panel, level=level).assign(method="network")
    if sp is None or sp.empty:
        return net
    spl = loglog_fit(sp, y="error", by=panel + ["method"], level=level)
    return pd.concat([net, spl], ignore_index=True)


def _net_name(r) -> str:
    case = getattr(r, "case", None) or r.target
    return f"{case} m={r.m} s{r.seed}"


def with_status(e: pd.DataFrame) -> pd.DataFrame:
    """``e`` with a ``status`` column: tables stored before the sphere sweep recorded one count a net as
    finished when its error is finite and as diverged otherwise."""
    if "status" in e:
        return e
    finite = np.isfinite(e.rel_error.astype(float))
    return e.assign(status=np.where(finite, "budget", "diverged"), steps_run=-1)


def nets_usable(e: pd.DataFrame, *, expected: int, what: str = "nets") -> Precondition:
    """All ``expected`` nets of ``e`` (rows of an ``errors`` table) are there and finished without diverging."""
    nets = [SimpleNamespace(name=_net_name(r), status="done" if r.status in FINISHED else r.status)
            for r in e.itertuples()]
    return runs_usable(nets, expected=expected, what=what)


def enough_widths(e: pd.DataFrame, column: str = "error", what: str = "widths") -> Precondition:
    ok = e[np.isfinite(e[column].astype(float)) & (e[column].astype(float) > 0)]
    return enough(int(ok.m.nunique()), MIN_WIDTHS, f"{what} with a positive finite {column}")


def trained(e: pd.DataFrame, curves: pd.DataFrame, keys: list[str], what: str) -> Precondition:
    """GD cut every net's relative error by a tenth: the worst e_T / e_0 (e_0 from the curves' step 0)."""
    first = curves[curves.step == 0].groupby(keys).rel_error.first().rename("e0")
    ratio = e.join(first, on=keys).pipe(lambda d: d.rel_error / d.e0)
    worst = float(ratio.max()) if len(ratio) and ratio.notna().all() else float("nan")
    return trained_below(worst, TRAINED_RATIO, f"{what}: relative error e_T/e_0 (worst net)")


def steps_needed(e: pd.DataFrame, panel: str, tol: float, steps: int):
    """The REPORTED claim of the steps each width needed under the stopping rule, and its table."""
    table = e.groupby([panel, "m"]).agg(converged=("status", lambda s: int((s == "converged").sum())),
                                        nets=("status", "size"), median_steps=("steps_run", "median"),
                                        rel_error=("rel_error", "mean")).reset_index()
    text = "; ".join(f"{c}: " + ", ".join(f"m={r.m} {r.converged}/{r.nets} in {r.median_steps:.0f}"
                                          for r in g.itertuples())
                     for c, g in table.groupby(panel, sort=False))
    return reported("steps each width needed (stopping rule)", text,
                    f"loss fell < {tol:g} over the last three quarters of the run, within {steps} steps "
                    "(median steps)"), table


def ci_support(fit, level: float) -> str:
    return f"{level:.0%} CI over {int(fit.n)} nets"


def net_problems(e: pd.DataFrame) -> list[str]:
    """One line per net that did not finish (diverged), for the command line's list of problems."""
    bad = e[~e.status.isin(FINISHED)]
    return [f"{r.status}: {_net_name(r)} after {r.steps_run} GD steps" for r in bad.itertuples()]
