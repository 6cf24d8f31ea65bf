r"""Sweep files: a base (run config or preset), a grid, zipped axes and seeds -> units with stable ids.

A sweep file (YAML or TOML) reads::

    name: width-gamma                 # default: the file's stem
    base: {config: {...}}             # an inline run config (or its fields directly: base: {network: ...}),
                                      # or a path to one (relative to the sweep file),
                                      # or {preset: asym-simulated, mode: quick}
    set: ["training.steps=200"]       # overrides applied to the base
    grid:                             # Cartesian product over these dotted keys
      network.width: [250, 500, 1000]
    zip:                              # each group varies its keys together (equal-length lists)
      - {network.scaling.gamma: [1.0, 0.5, 0.0], network.scaling.alpha: [0.5, 0.7, 0.4]}
    seeds: 3                          # or a list [0, 1, 2]; config sweeps only
    claims:                           # optional, config sweeps: a per-run statistic against a value
      - {name: "risk small", metric: train_risk, op: "<", value: 0.05, where: {network.width: 1000}}
                                      # PASS iff every selected run satisfies it (support "k/n runs");
                                      # INCONCLUSIVE on a metric never recorded, an empty selection, or
                                      # unfinished / diverged runs

Expansion gives one *unit* per point of grid x zip x seeds.  A config unit is one training run
(its id is :func:`ntklab.runs.run_id` of the canonical config: a hash, so the same run always lands in the same
directory and a re-run skips it when finished); a preset unit is one preset experiment with those options.
Every grid point is validated before anything runs: a bad one raises ``ConfigError`` naming the key.

Example:
    >>> from ntklab.sweeps import sweep_from_dict, expand_sweep
    >>> spec = sweep_from_dict({"name": "w", "base": {"config": {"training": {"steps": 5}}},
    ...                         "grid": {"network.width": [10, 20]}, "seeds": 2})
    >>> [(u.grid["network.width"], u.seed) for u in expand_sweep(spec)]
    [(10, 0), (10, 1), (20, 0), (20, 1)]
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._errors import ConfigError
from ..config import RunConfig, apply_overrides, config_from_dict, load_config
from ..experiments import get_preset, resolve_options, split_device
from ..runs import run_id

__all__ = ["SweepSpec", "SweepClaim", "Unit", "load_sweep", "sweep_from_dict", "expand_sweep"]


class SweepClaim(BaseModel):
    """A claim over a config sweep: ``stat(metric) op value`` in every selected run (``where``: grid values);
    INCONCLUSIVE on a metric never recorded, an empty selection, unfinished or diverged runs."""

    model_config = ConfigDict(extra="forbid")
    name: str
    metric: str
    op: Literal["<", "<=", ">", ">="]
    value: float
    stat: Literal["final", "min", "max"] = "final"
    where: dict[str, Any] = Field(default_factory=dict)


class SweepBase(BaseModel):
    """What every unit starts from: an inline run config, a path to one, or a preset (with a mode).

    The fields of a run config may also be written straight under ``base`` (``base: {network: {width: 500}}``):
    that is read as ``base: {config: {network: {width: 500}}}``.
    """

    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any] | str | None = None
    preset: str | None = None
    mode: Literal["quick", "full"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _inline_config(cls, data):
        if isinstance(data, dict) and data and not set(data) & {"config", "preset", "mode"}:
            if set(data) <= set(RunConfig.model_fields):
                return {"config": data}
        return data

    @model_validator(mode="after")
    def _one(self):
        if (self.config is None) == (self.preset is None):
            raise ValueError("give exactly one of config or preset (allowed: config, preset)")
        if self.mode is not None and self.preset is None:
            raise ValueError("mode applies to a preset base only")
        return self


class SweepSpec(BaseModel):
    """A sweep file, validated: name, base (run config or preset), overrides, grid, zipped axes, seeds, claims
    (the format is this module's docstring)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("sweep", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    out: str | None = None
    base: SweepBase = Field(default_factory=lambda: SweepBase(config={}))
    set: list[str] = Field(default_factory=list)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: list[dict[str, list[Any]]] = Field(default_factory=list)
    seeds: int | list[int] | None = None
    claims: list[SweepClaim] = Field(default_factory=list)
    root: str = "."  # where relative paths in the file resolve (set by load_sweep)

    @field_validator("grid")
    @classmethod
    def _grid(cls, v):
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"axis {k!r} has no values (allowed: a non-empty list)")
        return v

    @field_validator("zip")
    @classmethod
    def _zip(cls, v):
        for i, group in enumerate(v):
            lengths = {len(vals) for vals in group.values()}
            if not group or len(lengths) != 1 or 0 in lengths:
                raise ValueError(f"group {i}: lists must be non-empty and of equal length (got lengths "
                                 f"{sorted(len(x) for x in group.values())})")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if isinstance(v, int) and not 1 <= v <= 100_000:
            raise ValueError(f"got {v} (allowed: a count in [1, 100000] or a list of seeds)")
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("seed list must be non-empty without repeats")
        return v

    @model_validator(mode="after")
    def _axes(self):
        keys = list(self.grid) + [k for g in self.zip for k in g]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"axis {dup[0]!r} appears twice in grid/zip (allowed: each key once)")
        if self.base.preset is not None and (self.seeds is not None or self.claims):
            raise ValueError("seeds and claims apply to config sweeps (a preset sets its own seeds and claims)")
        if "seed" in keys and self.seeds is not None:
            raise ValueError("'seed' is both an axis and seeds (allowed: one of them)")
        return self

    @property
    def axes(self) -> list[str]:
        return list(self.grid) + [k for g in self.zip for k in g]

    def seed_list(self) -> list[int]:
        if self.seeds is None:
            return []
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


@dataclass
class Unit:
    """One unit of work: a training run (kind "run") or a preset experiment (kind "preset")."""

    id: str
    kind: str
    grid: dict[str, Any]
    seed: int | None
    payload: dict  # run: the run config; preset: {"preset": name, "options": {...}}
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Unit:
        return cls(**d)


def sweep_from_dict(data: dict, *, root: str | Path = ".") -> SweepSpec:
    """Validate a sweep given as a dict (the parsed file); relative paths resolve against ``root``."""
    if not isinstance(data, dict):
        raise ConfigError("sweep", "must be a mapping of fields", allowed=", ".join(SweepSpec.model_fields))
    return config_from_dict({**data, "root": str(root)}, SweepSpec)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a YAML (.yaml/.yml) or TOML (.toml) sweep file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("sweep", f"file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001  (any parser error is a bad file)
        raise ConfigError("sweep", f"cannot parse {str(path)!r}: {str(exc).splitlines()[0]}") from None
    data = dict(data) if isinstance(data, dict) else data
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return sweep_from_dict(data, root=path.parent)


def _points(spec: SweepSpec) -> list[dict[str, Any]]:
    axes = [[(k, v) for v in vals] for k, vals in spec.grid.items()]
    axes += [[tuple(zip(g, vals)) for vals in zip(*g.values())] for g in spec.zip]
    points = []
    for combo in itertools.product(*axes):
        pt: dict[str, Any] = {}
        for item in combo:
            pt.update(item if isinstance(item, tuple) and item and isinstance(item[0], tuple) else [item])
        points.append(pt)
    return points


def _override(key: str, value) -> str:
    return f"{key}={json.dumps(value)}"


def _base_config(spec: SweepSpec):
    cfg = spec.base.config
    if isinstance(cfg, str):
        p = Path(cfg) if Path(cfg).is_absolute() else Path(spec.root) / cfg
        base = load_config(p)
    else:
        base = config_from_dict(cfg or {}, RunConfig)
    base = apply_overrides(base, spec.set)
    return apply_overrides(base, [f"name={json.dumps(spec.name)}"])


def _config_units(spec: SweepSpec) -> list[Unit]:
    base = _base_config(spec)
    units = []
    seeds = spec.seed_list() or [None]
    for pt in _points(spec):
        for seed in seeds:
            sets = [_override(k, v) for k, v in pt.items()] + ([] if seed is None else [f"seed={seed}"])
            try:
                cfg = apply_overrides(base, sets)
            except ConfigError as exc:
                raise ConfigError(exc.field, f"{str(exc).split(': ', 1)[-1]} [grid point {pt}]") from None
            d = cfg.model_dump(mode="json")
            units.append(Unit(id=run_id(d), kind="run", grid=pt, seed=cfg.seed, payload=d))
    return units


def _preset_units(spec: SweepSpec) -> list[Unit]:
    preset = get_preset(spec.base.preset)
    device, sets = split_device(spec.set)  # every preset's device: not one of its options
    base = resolve_options(preset, quick=spec.base.mode == "quick", full=spec.base.mode == "full",
                           overrides=sets)
    units = []
    for pt in _points(spec):
        try:
            opts = apply_overrides(base, [_override(k, v) for k, v in pt.items()])
        except ConfigError as exc:
            raise ConfigError(exc.field, f"{str(exc).split(': ', 1)[-1]} [grid point {pt}]") from None
        payload = {"preset": preset.name, "options": opts.model_dump(mode="json"),
                   **({"device": device} if device is not None else {})}
        units.append(Unit(id=run_id(payload), kind="preset", grid=pt, seed=None, payload=payload))
    return units


def expand_sweep(spec: SweepSpec) -> list[Unit]:
    """Every unit of the sweep, validated, in grid order (seeds innermost); duplicates are refused."""
    units = _preset_units(spec) if spec.base.preset is not None else _config_units(spec)
    seen: dict[str, Unit] = {}
    for u in units:
        if u.id in seen:
            raise ConfigError("grid", f"points {seen[u.id].grid} and {u.grid} give the same run "
                              "(an axis does not change the config)")
        seen[u.id] = u
    return units
