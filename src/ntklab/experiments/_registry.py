r"""Presets: named paper recipes, and the catalogue that maps each name to ``"module:attr"``.

A preset has options (a pydantic model; ``--set key=value`` validates against it, ``--quick`` / ``--full``
select its small and paper-scale variants), ``execute(options, out, progress)`` (build configs, train, store)
and ``analyse(options, out) -> ExperimentResult`` (read the store back: figures, tables, claims), so
``ntklab report DIR`` redoes the analysis of a stored experiment without training again.

The catalogue is imported on first use: adding a recipe is one module (defining a :class:`Preset`) and one
entry in :data:`ntklab.experiments._catalogue.CATALOGUE` (or a call to :func:`register_preset` from user code).

Every preset also takes ``device`` (``--set device=cuda``): where its runs compute.  It is recorded in
``experiment.json`` but is not one of the preset's options, so an experiment started on a GPU resumes on a CPU.

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

from .._device import current_device, resolve_device, using_device
from .._errors import ConfigError
from .._io import atomic_write_json, make_dirs, replace_dir, staging_dir, write_table
from .._registry import Registry
from ..config import apply_overrides
from ..report import Claim, claims_frame
from ..runs import RunConflict, check_binding, provenance, read_status
from ._catalogue import CATALOGUE

__all__ = ["Preset", "PRESETS", "CATALOGUE", "register_preset", "get_preset", "ExperimentResult", "run_preset",
           "analyse_dir", "resolve_options", "run_problems", "read_experiment", "split_device"]


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


PRESETS = Registry("preset")
for _name, _item in CATALOGUE.items():
    PRESETS.register(_name, _item.entry)


def register_preset(preset: Preset | str, entry: str | None = None) -> Preset | None:
    """Register a :class:`Preset` object, or ``register_preset(name, "module:attr")`` to import it on first use."""
    if isinstance(preset, Preset):
        PRESETS.register(preset.name, preset)
        return preset
    PRESETS.register(preset, entry)
    return None


def get_preset(name: str) -> Preset:
    """The :class:`Preset` registered as ``name`` (imported on first use); an unknown name raises
    :class:`~ntklab.ConfigError` listing the registered ones."""
    return PRESETS.get(name)


def resolve_options(preset: Preset, *, quick: bool = False, full: bool = False, overrides=()) -> BaseModel:
    """A preset's options: its defaults, then the ``--quick`` or ``--full`` overrides, then ``overrides``
    (``key=value`` strings, as ``--set``), validated."""
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


def split_device(overrides) -> tuple[str | None, list[str]]:
    """``(device, the other overrides)`` from ``--set`` strings: ``device=cuda`` is every preset's option."""
    device, rest = None, []
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if sep and key.strip() == "device":
            device = value.strip().strip("'\"")
            resolve_device(device)
        else:
            rest.append(item)
    return device, rest


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
               options: BaseModel | None = None, overwrite: bool = False,
               device: str | None = None) -> ExperimentResult:
    """Execute preset ``name`` into ``out`` and analyse it.  A directory bound to the same options is resumed
    (finished runs reused); one bound to other options is refused unless ``overwrite``.  ``device`` (or
    ``device=...`` among ``overrides``) is where the preset's runs compute."""
    preset = get_preset(name)
    set_device, overrides = split_device(overrides)
    device = device if device is not None else set_device if set_device is not None else current_device()
    if device is not None:
        resolve_device(device)
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
    atomic_write_json(target / "experiment.json", {**record, "device": device or "cpu", "provenance": provenance()})
    with using_device(device):
        preset.execute(opts, target, progress)
    if target != out:
        replace_dir(target, out)
    return analyse_dir(out)


def read_experiment(out: str | Path) -> dict:
    """The ``experiment.json`` record (preset, options, provenance) of experiment directory ``out``."""
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
