r"""Presets: named paper recipes, and the catalogue that maps each name to ``"module:attr"``.

A preset has options (a pydantic model; ``--set key=value`` validates against it, ``--quick`` / ``--full``
select its small and paper-scale variants), ``execute(options, out, progress)`` (build configs, train, store)
and ``analyse(options, out) -> ExperimentResult`` (read the store back: figures, tables, claims), so
``ntklab report DIR`` redoes the analysis of a stored experiment without training again.

The catalogue is imported on first use: adding a recipe is one module (defining a :class:`Preset`) and one
line in :data:`CATALOGUE` (or a call to :func:`register_preset` from user code).

An experiment directory is bound to its ``experiment.json`` (preset and options): running another preset or
other options into it is refused (:class:`~ntklab.runs.RunConflict`) unless ``overwrite``, which runs the new
experiment in a staging directory beside it and swaps it in when finished.

Example:
    >>> from ntklab.experiments import get_preset, resolve_options
    >>> p = get_preset("asym-simulated")
    >>> resolve_options(p, quick=True, overrides=["lr=0.5"]).lr
    0.5
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pydantic import BaseModel

from .._errors import ConfigError
from .._io import atomic_write_json, make_dirs, replace_dir, staging_dir, write_table
from .._registry import Registry
from ..config import apply_overrides
from ..report import Claim, claims_frame
from ..runs import RunConflict, check_binding, provenance, read_status

__all__ = ["Preset", "PRESETS", "CATALOGUE", "register_preset", "get_preset", "ExperimentResult", "run_preset",
           "analyse_dir", "resolve_options", "run_problems", "read_experiment"]


@dataclass
class ExperimentResult:
    out: Path
    claims: list[Claim]
    figures: list[Path] = field(default_factory=list)
    tables: dict = field(default_factory=dict)  # name -> DataFrame
    problems: list[str] = field(default_factory=list)  # diverged / failed / unfinished runs, by name
    html: Path | None = None

    @property
    def all_passed(self) -> bool:
        """No claim is FAIL or INCONCLUSIVE."""
        return all(c.verdict in ("PASS", "REPORTED") for c in self.claims)


@dataclass
class Preset:
    name: str
    description: str
    options: type[BaseModel]
    execute: Callable[[BaseModel, Path, bool], None]  # (options, out, progress)
    analyse: Callable[[BaseModel, Path], ExperimentResult]
    paper: str = ""
    modes: dict[str, dict] = field(default_factory=dict)  # "quick"/"full" -> option overrides


CATALOGUE = {
    "asym-simulated": "ntklab.experiments.asym.simulated:PRESET",
    "asym-diabetes": "ntklab.experiments.asym.real:DIABETES",
    "asym-digits": "ntklab.experiments.asym.real:DIGITS",
    "asym-mnist1d": "ntklab.experiments.asym.real:MNIST1D",
    "asym-uci": "ntklab.experiments.asym.real:UCI",
    "regime": "ntklab.experiments.regime.regime:PRESET",
    "momentum": "ntklab.experiments.momentum.momentum:PRESET",
    "conditioning": "ntklab.experiments.conditioning.conditioning:PRESET",
    "deep-normalized": "ntklab.experiments.conditioning.deep_normalized:PRESET",
    "deep-learnability": "ntklab.experiments.conditioning.learnability:PRESET",
    "deep-benign-overfitting": "ntklab.experiments.conditioning.benign_overfitting:PRESET",
    "approximation-1d": "ntklab.experiments.approximation.approximation:APPROX_1D",
    "approximation-sphere": "ntklab.experiments.approximation.approximation:APPROX_SPHERE",
}

PRESETS = Registry("preset")
for _name, _entry in CATALOGUE.items():
    PRESETS.register(_name, _entry)


def register_preset(preset: Preset | str, entry: str | None = None) -> Preset | None:
    """Register a :class:`Preset` object, or ``register_preset(name, "module:attr")`` to import it on first use."""
    if isinstance(preset, Preset):
        PRESETS.register(preset.name, preset)
        return preset
    PRESETS.register(preset, entry)
    return None


def get_preset(name: str) -> Preset:
    return PRESETS.get(name)


def resolve_options(preset: Preset, *, quick: bool = False, full: bool = False, overrides=()) -> BaseModel:
    if quick and full:
        raise ConfigError("--quick/--full", "choose at most one")
    opts = preset.options()
    mode = "quick" if quick else "full" if full else None
    if mode is not None:
        if mode not in preset.modes:
            raise ConfigError(f"--{mode}", f"preset {preset.name!r} has no {mode} mode",
                              allowed=", ".join(f"--{m}" for m in preset.modes) or "none")
        opts = apply_overrides(opts, [f"{k}={json.dumps(v)}" for k, v in preset.modes[mode].items()])
    return apply_overrides(opts, list(overrides))


_MARKERS = ("status",)  # what a sweep unit keeps beside its experiment


def _staging(out: Path) -> Path:
    for old in out.parent.glob(f".{out.name}.staging-*"):
        shutil.rmtree(old, ignore_errors=True)
    return staging_dir(out)


def _bind(out: Path, record: dict) -> str:
    """``check_binding`` for an experiment directory.  A sweep unit's own markers do not count as foreign, and a
    directory holding nothing but its ``experiment.json`` (an experiment that failed before producing anything,
    e.g. on a bad option) is free to take other options."""
    if out.is_dir():
        content = [p for p in out.iterdir() if not p.name.startswith(".") and p.name not in _MARKERS]
        if not content or [p.name for p in content] == ["experiment.json"]:
            return "free"
    return check_binding(out, "experiment.json", record, what="an experiment", keys=("preset", "options"))


def run_preset(name: str, out: str | Path, *, quick=False, full=False, overrides=(), progress=True,
               options: BaseModel | None = None, overwrite: bool = False) -> ExperimentResult:
    """Execute preset ``name`` into ``out`` and analyse it.  A directory bound to the same options is resumed
    (finished runs reused); one bound to other options is refused unless ``overwrite``."""
    preset = get_preset(name)
    opts = options if options is not None else resolve_options(preset, quick=quick, full=full, overrides=overrides)
    out = Path(out)
    record = {"preset": preset.name, "options": opts.model_dump(mode="json")}
    try:
        _bind(out, record)
        target = out
    except RunConflict:
        if not overwrite:
            raise
        target = _staging(out)
    if overwrite and target == out and (out / "experiment.json").exists():
        target = _staging(out)
    make_dirs(target)
    atomic_write_json(target / "experiment.json", {**record, "provenance": provenance()})
    preset.execute(opts, target, progress)
    if target != out:
        replace_dir(target, out)
    return analyse_dir(out)


def read_experiment(out: str | Path) -> dict:
    meta_file = Path(out) / "experiment.json"
    if not meta_file.exists():
        raise ConfigError("DIR", f"{str(out)!r} holds no experiment.json (not an experiment directory)")
    try:
        return json.loads(meta_file.read_text())
    except ValueError:
        raise ConfigError("DIR", f"{str(meta_file)!r} is unreadable") from None


def run_problems(out: str | Path) -> list[str]:
    """One line per run below ``out`` that diverged, failed or did not finish, by name."""
    lines = []
    for cfg in sorted(Path(out).rglob("config.json")):
        st = read_status(cfg.parent)
        status = st.get("status")
        if status == "done":
            continue
        name = str(cfg.parent.relative_to(out))
        if status == "diverged":
            loss = st.get("loss")
            loss = f"{loss:.3g}" if isinstance(loss, (int, float)) else loss
            lines.append(f"diverged: {name} at step {st.get('step')} (loss {loss})")
        elif status == "failed":
            lines.append(f"failed: {name} ({st.get('error', 'no error recorded')})")
        else:
            lines.append(f"{status}: {name}")
    return lines


def analyse_dir(out: str | Path) -> ExperimentResult:
    """Redo the analysis of a stored experiment; writes ``claims.csv`` and each table as CSV."""
    out = Path(out)
    meta = read_experiment(out)
    preset = get_preset(meta.get("preset"))
    opts = preset.options.model_validate(meta["options"])
    result = preset.analyse(opts, out)
    result.problems = result.problems or run_problems(out)
    write_table(claims_frame(result.claims), out / "claims.csv")
    for tname, df in result.tables.items():
        write_table(df, out / f"{tname}.csv")
    return result
