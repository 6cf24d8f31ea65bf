"""Presets: named paper recipes.  Each has ``execute`` (train and store under an output directory) and
``analyse`` (read that directory back: figures, tables and claims), so ``ntklab report DIR`` can redo
the analysis of a stored experiment without training again.

A preset's options are a pydantic model; ``--set key=value`` overrides validate against it, and
``--quick`` / ``--full`` select the preset's small and paper-scale variants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pydantic import BaseModel

from .._errors import ConfigError, check_choice
from ..config import apply_overrides
from ..runs._atomic import atomic_write_json
from ..runs._provenance import provenance
from ._claims import Claim, claims_frame

__all__ = ["Preset", "PRESETS", "register_preset", "get_preset", "ExperimentResult", "run_preset",
           "analyse_dir"]


@dataclass
class ExperimentResult:
    out: Path
    claims: list[Claim]
    figures: list[Path] = field(default_factory=list)
    tables: dict = field(default_factory=dict)  # name -> DataFrame

    @property
    def all_passed(self) -> bool:
        return all(c.passed is not False for c in self.claims)


@dataclass
class Preset:
    name: str
    description: str
    options: type[BaseModel]
    execute: Callable[[BaseModel, Path, bool], None]  # (options, out, progress)
    analyse: Callable[[BaseModel, Path], ExperimentResult]
    paper: str = ""
    modes: dict[str, dict] = field(default_factory=dict)  # "quick"/"full" -> option overrides


PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> Preset:
    from . import _load_all  # noqa: F401  (registers the built-in presets)

    check_choice("preset", name, tuple(sorted(PRESETS)))
    return PRESETS[name]


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


def run_preset(name: str, out: str | Path, *, quick=False, full=False, overrides=(), progress=True,
               options: BaseModel | None = None) -> ExperimentResult:
    preset = get_preset(name)
    opts = options if options is not None else resolve_options(preset, quick=quick, full=full, overrides=overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "experiment.json", {"preset": name, "options": opts.model_dump(mode="json"),
                                                "provenance": provenance()})
    preset.execute(opts, out, progress)
    return analyse_dir(out)


def analyse_dir(out: str | Path) -> ExperimentResult:
    out = Path(out)
    meta_file = out / "experiment.json"
    if not meta_file.exists():
        raise ConfigError("DIR", f"{str(out)!r} holds no experiment.json (not an experiment directory)")
    meta = json.loads(meta_file.read_text())
    preset = get_preset(meta["preset"])
    opts = preset.options.model_validate(meta["options"])
    result = preset.analyse(opts, out)
    frame = claims_frame(result.claims)
    frame.to_csv(out / "claims.csv", index=False)
    for tname, df in result.tables.items():
        df.to_csv(out / f"{tname}.csv", index=False)
    return result
