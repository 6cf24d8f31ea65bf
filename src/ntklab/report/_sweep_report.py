r"""Report of a sweep directory: every finished run in one DataFrame, metrics against the grid, claims, HTML.

``results.parquet`` holds the tidy rows ``step, metric, key, value`` of every finished unit with the columns
``unit``, ``seed``, ``status`` and one column per grid axis (a preset unit adds ``run``, its runs' directory
names).  For a config sweep each metric's final value is plotted against each grid axis, mean +- std over
seeds, one line per combination of the other axes; the sweep file's claims are checked on the mean over seeds
at every grid point.  A preset sweep shows each unit's claims (the preset's own) and figures.  Unfinished or
corrupt units are listed, never read as results.

Example:
    >>> import tempfile
    >>> from ntklab.runs import run_sweep, sweep_from_dict
    >>> from ntklab.report import report_sweep
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

import io
import operator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..experiments._claims import claims_frame
from ..experiments._shared import load_runs
from ..runs._store import load_run
from ..runs._sweep import SweepClaim, Unit
from ..runs._sweep_dir import read_sweep, sweep_table
from ..runs._unit import unit_dir
from ._figures import band_plot, save_figure
from ._html import html_page

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


def evaluate_claim(c: SweepClaim, frame: pd.DataFrame, axes: list[str]) -> dict:
    """Per grid point (axes matching ``where``): mean over seeds of the per-run stat; PASS iff all satisfy."""
    sub = frame[(frame.metric == c.metric) & (frame.key == "")]
    for k, v in c.where.items():
        sub = sub[sub[k] == v] if k in sub.columns else sub.iloc[0:0]
    if sub.empty:
        return {"name": c.name, "verdict": "SKIP", "measured": "no matching runs",
                "expected": f"{c.stat}({c.metric}) {c.op} {c.value:g}", "passed": None}
    by_run = sub.sort_values("step").groupby("unit")
    stat = {"final": by_run.value.last(), "min": by_run.value.min(), "max": by_run.value.max()}[c.stat]
    per_run = sub.drop_duplicates("unit").set_index("unit")[axes].assign(v=stat)
    means = per_run.groupby(axes, dropna=False).v.mean() if axes else pd.Series({(): per_run.v.mean()})
    ok = bool(_OPS[c.op](means, c.value).all())
    shown = [f"{', '.join(f'{_short(a)}={x}' for a, x in zip(axes, k if isinstance(k, tuple) else (k,)))}"
             f"{': ' if axes else ''}{v:.4g}" for k, v in means.items()][:12]
    return {"name": c.name, "verdict": "PASS" if ok else "FAIL", "measured": "; ".join(shown),
            "expected": f"{c.stat}({c.metric}) {c.op} {c.value:g} at every grid point", "passed": ok}


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


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    from ..runs._atomic import atomic_write_bytes

    buf = io.BytesIO()
    frame.astype({c: str for c in frame.columns if frame[c].dtype == object}).to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def report_sweep(out: str | Path) -> SweepReport:
    """Gather, plot, check claims and write ``results.parquet``, ``claims.csv`` and ``report.html``."""
    out = Path(out)
    meta, units = read_sweep(out)
    spec = meta["sweep"]
    axes = list(units[0].grid) if units else []
    states = sweep_table(units, out)
    frame = sweep_frame(out, units, states)
    _write_parquet(frame, out / "results.parquet")
    figures: list[Path] = []
    claims = pd.DataFrame(columns=["name", "verdict", "measured", "expected", "passed"])
    captions: list[tuple[str, Path]] = []
    if not frame.empty and spec["base"].get("preset") is None:
        finals = final_values(frame)
        figures = _metric_figures(finals, plot_axes(spec), out) if axes else _curve_figures(frame, out)
        captions = [(f"{p.stem.removeprefix('sweep_')}: final value vs grid (mean ± std over seeds)", p)
                    for p in figures]
        claims = pd.DataFrame([evaluate_claim(SweepClaim(**c), frame, axes) for c in spec.get("claims", [])],
                              columns=claims.columns)
    elif not frame.empty:
        claims, captions = _preset_units(out, units, states)
        figures = [p for _, p in captions]
    claims.drop(columns=["passed"]).to_csv(out / "claims.csv", index=False)
    n_done = int((states.state == "done").sum())
    summary = (f"{len(units)} units ({n_done} finished, {len(units) - n_done} not counted); "
               f"grid axes: {', '.join(axes) or 'none'}; {frame.groupby('unit').ngroups if len(frame) else 0} "
               f"units in results.parquet ({len(frame)} rows).")
    configs = {"sweep file": spec, **{f"unit {u.id} ({', '.join(f'{_short(k)}={v}' for k, v in u.grid.items())}"
                                      f"{'' if u.seed is None else f', seed={u.seed}'})": u.payload
                                      for u in units[:60]}}
    versions = {"sweep": meta.get("provenance", {}), **_run_versions(out, units)}
    page = html_page(f"ntklab sweep: {spec['name']}", summary=summary, claims=claims, figures=captions,
                     tables={"units": states}, configs=configs, versions=versions, path=out / "report.html")
    del page
    return SweepReport(out, frame, claims, figures, out / "report.html", states)


def _preset_units(out: Path, units: list[Unit], states: pd.DataFrame):
    from ..experiments._registry import analyse_dir

    done = set(states.loc[states.state == "done", "id"])
    rows, captions = [], []
    for u in units:
        if u.id not in done:
            continue
        res = analyse_dir(unit_dir(out, u.id))
        grid = {k: str(v) for k, v in u.grid.items()}
        for _, c in claims_frame(res.claims).iterrows():
            rows.append({"unit": u.id, **grid, **c.to_dict()})
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
