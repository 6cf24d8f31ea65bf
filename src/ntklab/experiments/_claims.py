"""Claims: predicates over stored metrics that encode what a paper says, with the measured numbers.

A claim is PASS, FAIL, or SKIP (not evaluated in this mode, e.g. a ``--full``-only claim in a quick run).
``claims_frame`` gives a tidy DataFrame; ``render_claims`` prints it with rich.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

__all__ = ["Claim", "claims_frame", "render_claims", "claim"]


@dataclass
class Claim:
    name: str
    passed: bool | None  # None = skipped
    measured: str
    expected: str = ""

    @property
    def verdict(self) -> str:
        return "SKIP" if self.passed is None else ("PASS" if self.passed else "FAIL")


def claim(name: str, passed, measured: str, expected: str = "") -> Claim:
    return Claim(name, None if passed is None else bool(passed), measured, expected)


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    rows = [{**asdict(c), "verdict": c.verdict} for c in claims]
    return pd.DataFrame(rows, columns=["name", "verdict", "measured", "expected", "passed"])


def render_claims(claims: list[Claim], title: str = "claims", console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=title, show_lines=False)
    table.add_column("claim", overflow="fold")
    table.add_column("verdict")
    table.add_column("measured", overflow="fold")
    table.add_column("paper / expected", overflow="fold")
    colours = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}
    for c in claims:
        table.add_row(c.name, f"[{colours[c.verdict]}]{c.verdict}[/]", c.measured, c.expected)
    console.print(table)
