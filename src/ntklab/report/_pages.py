"""``ntklab report DIR``: a sweep directory (``sweep.json``) or a preset experiment (``experiment.json``) ->
figures, claims and one self-contained ``report.html``.

Example:
    >>> from ntklab.report import report_dir
    >>> report_dir("/nonexistent")
    Traceback (most recent call last):
    ...
    ntklab._errors.ConfigError: DIR: '/nonexistent' holds neither sweep.json nor experiment.json (allowed: a directory written by `ntklab sweep` or `ntklab run`)
"""

from __future__ import annotations

import json
from pathlib import Path

from .._errors import ConfigError
from ._html import html_page

__all__ = ["report_dir", "report_experiment"]


def report_experiment(out: str | Path):
    """Redo a preset experiment's analysis and write its ``report.html``; the ExperimentResult."""
    from ..experiments._claims import claims_frame
    from ..experiments._registry import analyse_dir

    out = Path(out)
    result = analyse_dir(out)
    meta = json.loads((out / "experiment.json").read_text())
    html_page(f"ntklab experiment: {meta['preset']}", summary=f"preset {meta['preset']} in {out}",
              claims=claims_frame(result.claims), figures=[(p.stem, p) for p in result.figures],
              tables=result.tables, configs={"options": meta.get("options", {})},
              versions=meta.get("provenance", {}), path=out / "report.html")
    result.html = out / "report.html"
    return result


def report_dir(directory: str | Path):
    """Dispatch on what ``directory`` holds; returns a SweepReport or an ExperimentResult (with ``.html``)."""
    d = Path(directory)
    if (d / "sweep.json").is_file():
        from ._sweep_report import report_sweep

        return report_sweep(d)
    if (d / "experiment.json").is_file():
        return report_experiment(d)
    raise ConfigError("DIR", f"{str(d)!r} holds neither sweep.json nor experiment.json",
                      allowed="a directory written by `ntklab sweep` or `ntklab run`")
