r"""Claims and their verdicts: one type for presets and sweeps.

A claim is a predicate over stored results that encodes what a paper (or the standard theory) says, with the
measured numbers beside it.  Its verdict is one of

- ``PASS`` / ``FAIL``: every declared precondition held and the predicate was evaluated;
- ``INCONCLUSIVE``: a declared precondition failed (runs diverged or are missing, the training level was not
  reached, too few points for a slope, a metric was never recorded, a selection matched nothing); ``measured``
  says which precondition failed and the predicate is not evaluated;
- ``REPORTED``: numbers only, no verdict.

A missing metric or an empty selection is therefore never PASS.  A comparison across seeds gives its
``support`` ("3/3 seeds"): it is decided per seed (or with a stated interval), never on the mean alone.

Example:
    >>> from ntklab.report import claim, enough, summary_line
    >>> c1 = claim("slope ≈ −1/2", lambda: True, "−0.48", "[−0.6, −0.4]", requires=[enough(4, 4, "widths")])
    >>> c2 = claim("slope ≈ −1/2", lambda: 1 / 0, "", "", requires=[enough(2, 4, "widths")])
    >>> c1.verdict, c2.verdict, c2.measured
    ('PASS', 'INCONCLUSIVE', 'only 2 widths (needs 4)')
    >>> summary_line([c1, c2])
    '1 PASS, 0 FAIL, 1 INCONCLUSIVE'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["VERDICTS", "Claim", "Precondition", "Support", "claim", "reported", "inconclusive", "precondition",
           "enough", "has_metric", "all_finite", "runs_usable", "trained_below", "seed_support", "ordered",
           "claims_frame", "summary_line", "count_verdicts", "render_claims", "failing"]

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "REPORTED")
CLAIM_COLUMNS = ["name", "verdict", "measured", "expected", "support"]


@dataclass(frozen=True)
class Precondition:
    """``ok`` says whether it holds; ``text`` describes the failure (shown as the claim's ``measured``)."""

    ok: bool
    text: str


@dataclass(frozen=True)
class Support:
    """How many of ``n`` seeds (or runs) satisfied a per-seed predicate."""

    k: int
    n: int
    unit: str = "seeds"

    @property
    def all(self) -> bool:
        return self.n > 0 and self.k == self.n

    @property
    def text(self) -> str:
        return f"{self.k}/{self.n} {self.unit}"


@dataclass
class Claim:
    name: str
    verdict: str
    measured: str
    expected: str = ""
    support: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: got {self.verdict!r} (allowed: {', '.join(VERDICTS)})")

    @property
    def passed(self) -> bool | None:
        """True for PASS, False for FAIL, None otherwise."""
        return {"PASS": True, "FAIL": False}.get(self.verdict)


def precondition(ok, text: str) -> Precondition:
    """A :class:`Precondition` from a truth value and the text that describes its failure."""
    return Precondition(bool(ok), text)


def enough(n: int, k: int, what: str = "points") -> Precondition:
    """At least ``k`` of ``what`` (for a slope, an ordering, a comparison)."""
    return Precondition(n >= k, f"only {n} {what} (needs {k})")


def has_metric(frame: pd.DataFrame, metric: str, *, column: str = "metric") -> Precondition:
    """``metric`` was recorded in ``frame`` (a tidy frame with a ``metric`` column)."""
    ok = column in frame.columns and bool((frame[column] == metric).any())
    return Precondition(ok, f"metric {metric!r} was never recorded")


def all_finite(values, what: str) -> Precondition:
    """Every value of ``what`` is a finite number (and there is at least one)."""
    v = np.asarray(list(values) if not isinstance(values, (np.ndarray, pd.Series)) else values, float)
    ok = v.size > 0 and bool(np.isfinite(v).all())
    n_bad = int((~np.isfinite(v)).sum()) if v.size else 0
    return Precondition(ok, f"{what}: no values" if v.size == 0 else f"{what}: {n_bad} of {v.size} not finite")


def runs_usable(runs: Sequence, *, expected: int | None = None, what: str = "runs") -> Precondition:
    """The runs a claim needs are all there, finished and not diverged (named when they are not)."""
    bad = [getattr(r, "name", str(r)) for r in runs if getattr(r, "status", "done") != "done"]
    missing = 0 if expected is None else max(0, expected - len(runs))
    parts = []
    if missing:
        parts.append(f"{missing} of {expected} {what} missing")
    if bad:
        shown = ", ".join(bad[:4]) + (", ..." if len(bad) > 4 else "")
        parts.append(f"{len(bad)} {what} diverged or unfinished ({shown})")
    if not runs and not parts:
        parts.append(f"no {what}")
    return Precondition(not parts, "; ".join(parts))


def trained_below(value: float, level: float, what: str = "train risk") -> Precondition:
    """The training level a claim assumes was reached: ``value`` < ``level``."""
    ok = math.isfinite(value) and value < level
    return Precondition(ok, f"{what} {value:.3g} did not fall below {level:g}")


def seed_support(flags: Iterable[bool], unit: str = "seeds") -> Support:
    """Count the seeds (or runs) whose per-seed predicate held."""
    flags = [bool(f) for f in flags]
    return Support(sum(flags), len(flags), unit)


def ordered(values, *, increasing: bool) -> bool:
    """Strictly monotone, with at least two finite values (an empty or single value is not an ordering)."""
    v = np.asarray(values, float)
    if v.size < 2 or not np.isfinite(v).all():
        return False
    d = np.diff(v)
    return bool(np.all(d > 0) if increasing else np.all(d < 0))


def _value(x):
    return x() if callable(x) else x


def claim(name: str, passed, measured="", expected: str = "", *, requires: Iterable[Precondition] = (),
          support: Support | str = "") -> Claim:
    """PASS/FAIL from ``passed`` when every precondition in ``requires`` holds, else INCONCLUSIVE.

    ``passed`` and ``measured`` may be callables: they are evaluated only when the preconditions hold (so a
    claim on empty data never computes on it).  A non-boolean outcome (None, NaN) is INCONCLUSIVE.
    """
    failed = [p.text for p in requires if not p.ok]
    if failed:
        return Claim(name, "INCONCLUSIVE", "; ".join(failed), expected)
    outcome, text = _value(passed), str(_value(measured))
    sup = support.text if isinstance(support, Support) else support
    if outcome is None or (isinstance(outcome, float) and math.isnan(outcome)):
        return Claim(name, "INCONCLUSIVE", f"no outcome ({text})" if text else "no outcome", expected, sup)
    return Claim(name, "PASS" if bool(outcome) else "FAIL", text, expected, sup)


def reported(name: str, measured, expected: str = "", *, requires: Iterable[Precondition] = ()) -> Claim:
    """Numbers only (REPORTED); INCONCLUSIVE when a precondition of the numbers fails."""
    failed = [p.text for p in requires if not p.ok]
    if failed:
        return Claim(name, "INCONCLUSIVE", "; ".join(failed), expected)
    return Claim(name, "REPORTED", str(_value(measured)), expected)


def inconclusive(name: str, why: str, expected: str = "") -> Claim:
    """An INCONCLUSIVE claim whose ``measured`` says ``why`` it could not be decided."""
    return Claim(name, "INCONCLUSIVE", why, expected)


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    """One row per claim: name, verdict, measured, expected, support."""
    return pd.DataFrame([{c: getattr(cl, c) for c in CLAIM_COLUMNS} for cl in claims], columns=CLAIM_COLUMNS)


def count_verdicts(verdicts: Iterable[str]) -> dict[str, int]:
    """How many of each verdict (PASS, FAIL, INCONCLUSIVE, REPORTED) ``verdicts`` holds."""
    verdicts = list(verdicts)
    return {v: verdicts.count(v) for v in VERDICTS}


def summary_line(claims) -> str:
    """``N PASS, M FAIL, K INCONCLUSIVE`` for a list of claims or a claims frame."""
    verdicts = claims.verdict.tolist() if isinstance(claims, pd.DataFrame) else [c.verdict for c in claims]
    n = count_verdicts(verdicts)
    return f"{n['PASS']} PASS, {n['FAIL']} FAIL, {n['INCONCLUSIVE']} INCONCLUSIVE"


def failing(claims) -> bool:
    """True when any claim is FAIL or INCONCLUSIVE (what ``--check`` turns into exit status 1)."""
    verdicts = claims.verdict.tolist() if isinstance(claims, pd.DataFrame) else [c.verdict for c in claims]
    return any(v in ("FAIL", "INCONCLUSIVE") for v in verdicts)


MAX_PROBLEMS_SHOWN = 10
_COLOURS = {"PASS": "green", "FAIL": "red", "INCONCLUSIVE": "yellow", "REPORTED": "cyan"}


def render_claims(claims, title: str = "claims", console=None, problems: Sequence[str] = ()) -> None:
    """Print the claims table, the summary line and then any diverged or failed runs by name (rich)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    frame = claims if isinstance(claims, pd.DataFrame) else claims_frame(claims)
    console = console or Console()
    table = Table(title=title, show_lines=False)
    for col, head in (("name", "claim"), ("verdict", "verdict"), ("measured", "measured"),
                      ("support", "support"), ("expected", "paper / expected")):
        if col != "support" or (frame.get("support", pd.Series(dtype=str)).fillna("") != "").any():
            table.add_column(head, overflow="fold")
    show_support = len(table.columns) == 5
    for _, c in frame.iterrows():
        cells = [escape(str(c["name"])), f"[{_COLOURS.get(c.verdict, 'white')}]{c.verdict}[/]",
                 escape(str(c.measured))]
        if show_support:
            cells.append(escape(str(c.get("support", "") or "")))
        cells.append(escape(str(c.expected)))
        table.add_row(*cells)
    console.print(table)
    console.print(summary_line(frame), markup=False, highlight=False)
    problems = list(problems)
    for p in problems[:MAX_PROBLEMS_SHOWN]:
        console.print(p, markup=False, highlight=False)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        kinds = sorted({p.split(":", 1)[0] for p in problems[MAX_PROBLEMS_SHOWN:]})
        console.print(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more runs ({', '.join(kinds)}); every one is "
                      "listed in the report (ntklab report DIR)", markup=False, highlight=False)
