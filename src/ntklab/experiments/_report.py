"""The HTML report of a preset experiment directory: the analysis redone, then one self-contained page.

Example:
    >>> from ntklab.experiments import report_experiment
    >>> report_experiment("/nonexistent")
    Traceback (most recent call last):
    ...
    ntklab._errors.ConfigError: DIR: '/nonexistent' holds no experiment.json (not an experiment directory)
"""

from __future__ import annotations

from pathlib import Path

from ..report import claims_frame, html_page
from ._registry import ExperimentResult, analyse_dir, read_experiment

__all__ = ["report_experiment"]


def report_experiment(out: str | Path) -> ExperimentResult:
    """Redo a preset experiment's analysis and write its ``report.html``; the ExperimentResult."""
    out = Path(out)
    meta = read_experiment(out)
    result = analyse_dir(out)
    html_page(f"ntklab experiment: {meta['preset']}", summary=f"preset {meta['preset']} in {out}",
              claims=claims_frame(result.claims), figures=[(p.stem, p) for p in result.figures],
              tables=result.tables, configs={"options": meta.get("options", {})},
              versions=meta.get("provenance", {}), path=out / "report.html", problems=result.problems)
    result.html = out / "report.html"
    return result
