r"""Report of a sweep directory: every finished run in one DataFrame, metrics against the grid, claims, HTML.

``results.parquet`` holds the tidy rows ``step, metric, key, value`` of every finished unit with the columns
``unit``, ``seed``, ``status`` and one column per grid axis (a preset unit adds ``run``, its runs' directory
names).  For a config sweep each metric's final value is plotted against each grid axis, mean +- std over
seeds, one line per combination of the other axes; the sweep file's claims are checked on the mean over seeds
at every grid point.  A preset sweep shows each unit's claims (the preset's own) and figures.  Unfinished or
corrupt units are listed, never read as results.

Example:
    >>> import tempfile
    >>> from ntklab.sweeps import run_sweep, sweep_from_dict
    >>> from ntklab.sweeps import report_sweep
    >>> spec = sweep_from_dict({"base": {"config": {"training": {"steps": 4}, "network": {"width": 8},
    ...                                               "probes": {"every": 2}}},
    ...                         "grid": {"optimizer.lr": [0.5, 1.0]}, "seeds": 2,
    ...                         "claims": [{"name": "risk", "metric": "train_risk", "op": "<", "value": 100}]})
    >>> out = tempfile.mkdtemp(); _ = run_sweep(spec, out, progress=False)
    >>> rep = report_sweep(out)
    >>> rep.claims.verdict.tolist(), rep.html.name
    (['PASS'], 'report.html')
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .._io import write_table
from ..experiments import analyse_dir
from ..report import band_plot, claims_frame, html_page, save_figure
from ..runs import load_run, load_runs
from ._directory import read_sweep, sweep_table
from ._spec import SweepClaim, Unit
from ._unit import unit_dir

__all__ = ["SweepReport", "sweep_frame", "final_values", "report_sweep", "evaluate_claim", "plot_axes"]

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass
class SweepReport:
    out: Path
    frame: pd.DataFrame
    claims: pd.DataFrame
    figures: list[Path] = field(default_factory=list)
    html: Path | None = None
    states: pd.DataFrame | None = None
    problems: list[str] = field(default_factory=list)


def _unit_frame(u: Unit, path: Path) -> pd.DataFrame:
    runs = [load_run(path)] if u.kind == "run" else load_runs(path)
    frames = []
    for r in runs:
        m = r.metrics.copy()
        m["unit"], m["seed"], m["status"] = u.id, r.seed, r.status
        if u.kind == "preset":
            m["run"] = str(r.path.relative_to(path))
        for k, v in u.grid.items():
            m[k] = v if not isinstance(v, (list, dict)) else str(v)
        frames.append(m)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def sweep_frame(out: str | Path, units: list[Unit], states: pd.DataFrame) -> pd.DataFrame:
    """Tidy rows of every finished unit (state ``done``), with grid columns."""
    done = set(states.loc[states.state == "done", "id"])
    frames = [_unit_frame(u, unit_dir(out, u.id)) for u in units if u.id in done]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["step", "metric", "key", "value", "unit", "seed", "status"])


def final_values(frame: pd.DataFrame) -> pd.DataFrame:
    """The last recorded value of every scalar metric (key "") of every run."""
    rid = ["unit"] + (["run"] if "run" in frame.columns else [])
    sc = frame[frame.key == ""]
    last = sc.step == sc.groupby(rid + ["metric"]).step.transform("max")
    return sc[last].reset_index(drop=True)


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _matches(grid: dict, where: dict) -> bool:
    return all(k in grid and grid[k] == v for k, v in where.items())


def evaluate_claim(c: SweepClaim, frame: pd.DataFrame, axes: list[str], units: list[Unit] | None = None) -> dict:
    """Per run: the stat of ``c.metric`` compared with ``c.value``; PASS iff every selected run satisfies it.

    INCONCLUSIVE (never PASS) when the metric was never recorded, ``where`` names no axis or matches no unit,
    a selected unit is unfinished, or a selected run diverged.
    """
    expected = f"{c.stat}({c.metric}) {c.op} {c.value:g} in every run"
    row = {"name": c.name, "expected": expected, "support": ""}

    def inconclusive(why: str) -> dict:
        return {**row, "verdict": "INCONCLUSIVE", "measured": why}

    unknown = [k for k in c.where if k not in axes]
    if unknown:
        return inconclusive(f"where: {unknown[0]!r} is not a grid axis (axes: {', '.join(axes) or 'none'})")
    wanted = [u for u in (units or []) if _matches(u.grid, c.where)] if units is not None else None
    if wanted is not None and not wanted:
        return inconclusive(f"where {c.where} matches no unit of the sweep")
    sub = frame[(frame.metric == c.metric) & (frame.key == "")] if len(frame) else frame
    for k, v in c.where.items():
        sub = sub[sub[k] == v]
    if wanted is not None:
        missing = sorted({u.id for u in wanted} - set(sub["unit"]) if len(sub) else {u.id for u in wanted})
        recorded = set(frame["unit"]) if len(frame) else set()
        unfinished = [m for m in missing if m not in recorded]
        if unfinished:
            return inconclusive(f"{len(unfinished)} of {len(wanted)} selected units unfinished "
                                f"({', '.join(unfinished[:4])})")
    if sub.empty:
        known = sorted(set(frame.metric)) if len(frame) else []
        return inconclusive(f"metric {c.metric!r} was never recorded in the selected runs (recorded: "
                            f"{', '.join(known[:8]) or 'none'})")
    diverged = sorted(set(sub.loc[sub.status != "done", "unit"]))
    if diverged:
        return inconclusive(f"{len(diverged)} selected runs diverged ({', '.join(diverged[:4])})")
    by_run = sub.sort_values("step").groupby("unit")
    stat = {"final": by_run.value.last(), "min": by_run.value.min(), "max": by_run.value.max()}[c.stat]
    per_run = sub.drop_duplicates("unit").set_index("unit")[axes].assign(v=stat)
    ok = _OPS[c.op](per_run.v, c.value)
    groups = per_run.groupby(axes, dropna=False).v if axes else per_run.assign(_all=0).groupby("_all").v
    shown = []
    for k, g in list(groups)[:12]:
        where = ", ".join(f"{_short(a)}={x}" for a, x in zip(axes, k if isinstance(k, tuple) else (k,)))
        spread = f" ({g.min():.4g}–{g.max():.4g})" if len(g) > 1 else ""
        shown.append(f"{where + ': ' if axes else ''}{g.mean():.4g}{spread}")
    return {**row, "verdict": "PASS" if bool(ok.all()) else "FAIL", "measured": "; ".join(shown),
            "support": f"{int(ok.sum())}/{len(ok)} runs"}


def plot_axes(spec: dict) -> list[str]:
    """One plotting axis per grid key and per zip group (its first key: the group varies together)."""
    return list(spec.get("grid", {})) + [next(iter(g)) for g in spec.get("zip", [])]


def _metric_figures(finals: pd.DataFrame, axes: list[str], out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    for metric in sorted(finals.metric.unique()):
        sub = finals[finals.metric == metric]
        fig, axs = plt.subplots(1, len(axes), figsize=(4.6 * len(axes), 3.4), squeeze=False)
        for ax, axis in zip(axs[0], axes):
            others = [a for a in axes if a != axis]
            lab = sub[others].astype(str).apply(
                lambda r: ", ".join(f"{_short(a)}={v}" for a, v in zip(others, r)), axis=1) if others else "all"
            band_plot(sub.assign(label=lab), x=axis, ax=ax, xlabel=axis, ylabel=f"final {metric}",
                      title=f"{metric} vs {_short(axis)}")
            for line in ax.get_lines():
                line.set_marker("o")
        paths.append(save_figure(fig, out / "figures" / f"sweep_{metric}.png"))
    return paths


def _curve_figures(frame: pd.DataFrame, out: Path) -> list[Path]:
    sc = frame[frame.key == ""]
    return [save_figure(band_plot(sc[sc.metric == m].assign(label="all"), ylabel=m, title=m),
                        out / "figures" / f"sweep_{m}.png") for m in sorted(sc.metric.unique())]


def report_sweep(out: str | Path) -> SweepReport:
    """Gather, plot, check claims and write ``results.parquet``, ``claims.csv`` and ``report.html``."""
    out = Path(out)
    meta, units = read_sweep(out)
    spec = meta["sweep"]
    axes = list(units[0].grid) if units else []
    states = sweep_table(units, out)
    frame = sweep_frame(out, units, states)
    write_table(frame, out / "results.parquet")
    figures: list[Path] = []
    claims = pd.DataFrame(columns=["name", "verdict", "measured", "expected", "support"])
    captions: list[tuple[str, Path]] = []
    if not frame.empty and spec["base"].get("preset") is None:
        finals = final_values(frame)
        figures = _metric_figures(finals, plot_axes(spec), out) if axes else _curve_figures(frame, out)
        captions = [(f"{p.stem.removeprefix('sweep_')}: final value vs grid (mean ± std over seeds)", p)
                    for p in figures]
        claims = pd.DataFrame([evaluate_claim(SweepClaim(**c), frame, axes, units) for c in spec.get("claims", [])],
                              columns=claims.columns)
    elif spec["base"].get("preset") is None and spec.get("claims"):
        claims = pd.DataFrame([evaluate_claim(SweepClaim(**c), frame, axes, units) for c in spec["claims"]],
                              columns=claims.columns)
    elif not frame.empty:
        claims, captions = _preset_units(out, units, states)
        figures = [p for _, p in captions]
    write_table(claims, out / "claims.csv")
    n_done = int((states.state == "done").sum())
    summary = (f"{len(units)} units ({n_done} finished, {len(units) - n_done} not counted); "
               f"grid axes: {', '.join(axes) or 'none'}; {frame.groupby('unit').ngroups if len(frame) else 0} "
               f"units in results.parquet ({len(frame)} rows).")
    configs = {"sweep file": spec, **{f"unit {u.id} ({', '.join(f'{_short(k)}={v}' for k, v in u.grid.items())}"
                                      f"{'' if u.seed is None else f', seed={u.seed}'})": u.payload
                                      for u in units[:60]}}
    versions = {"sweep": meta.get("provenance", {}), **_run_versions(out, units)}
    problems = [f"{st}: unit {uid}" for uid, st in zip(states.id, states.state) if st != "done"]
    problems += _diverged_runs(frame)
    html_page(f"ntklab sweep: {spec['name']}", summary=summary, claims=claims, figures=captions,
              tables={"units": states}, configs=configs, versions=versions, path=out / "report.html",
              problems=problems)
    return SweepReport(out, frame, claims, figures, out / "report.html", states, problems)


def _diverged_runs(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    rid = ["unit"] + (["run"] if "run" in frame.columns else [])
    bad = frame[frame.status != "done"].drop_duplicates(rid)
    return [f"{st}: {'/'.join(str(r[c]) for c in rid)}" for st, (_, r) in zip(bad.status, bad.iterrows())]


def _preset_units(out: Path, units: list[Unit], states: pd.DataFrame):
    done = set(states.loc[states.state == "done", "id"])
    rows, captions = [], []
    for u in units:
        if u.id not in done:
            continue
        res = analyse_dir(unit_dir(out, u.id))
        grid = {k: str(v) for k, v in u.grid.items()}
        for _, c in claims_frame(res.claims).iterrows():
            rows.append({"unit": u.id, **grid, **c.to_dict()})
        if not res.claims:
            rows.append({"unit": u.id, **grid, "name": "(no claims)", "verdict": "INCONCLUSIVE",
                         "measured": "the preset gave no claims", "expected": "", "support": ""})
        tag = ", ".join(f"{_short(k)}={v}" for k, v in grid.items()) or u.id
        captions += [(f"{tag}: {p.stem}", p) for p in res.figures]
    return pd.DataFrame(rows), captions


def _run_versions(out: Path, units: list[Unit]) -> dict:
    """The distinct (git commit, package versions) the finished runs were made with."""
    import json

    seen: dict[str, dict] = {}
    for u in units:
        for cfg in sorted(unit_dir(out, u.id).rglob("config.json"))[:50]:
            try:
                prov = json.loads(cfg.read_text()).get("provenance", {})
            except (OSError, ValueError):
                continue
            key = json.dumps([prov.get("git_commit"), prov.get("versions")], sort_keys=True)
            seen.setdefault(key, {"git_commit": prov.get("git_commit"), "versions": prov.get("versions")})
    return {f"runs ({i + 1})": v for i, v in enumerate(seen.values())}
