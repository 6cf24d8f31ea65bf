"""Validated run configuration.

A :class:`RunConfig` describes one run completely: data, network (with its parameterisation), optimiser,
training length, probes and seed.  Loading validates it; an invalid value is refused with a
:class:`~ntklab.ConfigError` naming the dotted field and the allowed values.

Example:
    >>> from ntklab.config import RunConfig, apply_overrides
    >>> cfg = apply_overrides(RunConfig(), ["network.width=500", "network.scaling.gamma=0.5"])
    >>> cfg.network.width, cfg.network.scaling.gamma
    (500, 0.5)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from typing_extensions import Annotated

from ._errors import ConfigError, one_of, within
from .data import DATASETS
from .nets import ACTIVATIONS, NETWORKS, PARAMETERIZATIONS, SCALING_KINDS, canonical_parameterization
from .optim import OPTIMIZERS

__all__ = [
    "RunConfig", "DataConfig", "NetworkConfig", "ScalingConfig", "OptimizerConfig", "TrainingConfig",
    "ProbeConfig", "load_config", "apply_overrides", "validate_config", "config_from_dict",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)  # no NaN/inf anywhere


# names are checked against the registries when a config is validated, so registered additions count
DatasetName = Annotated[str, AfterValidator(one_of(lambda: DATASETS))]
NetworkKind = Annotated[str, AfterValidator(one_of(lambda: NETWORKS))]
ActivationName = Annotated[str, AfterValidator(one_of(lambda: ACTIVATIONS))]
ParameterizationName = Annotated[str, BeforeValidator(canonical_parameterization),
                                 AfterValidator(one_of(lambda: PARAMETERIZATIONS))]  # muP, μP, SP... accepted
OptimizerName = Annotated[str, AfterValidator(one_of(lambda: OPTIMIZERS))]
ScalingKind = Annotated[str, AfterValidator(one_of(lambda: SCALING_KINDS))]
Gamma = Annotated[float, AfterValidator(within(0, 1))]  # λ_j = γ/m + (1 − γ) λ̃_j
Alpha = Annotated[float, AfterValidator(within(0, 1, lo_open=True, hi_open=True))]


class ScalingConfig(_Strict):
    """lambda_j = gamma/m + (1-gamma) lambda~_j (see :func:`ntklab.node_scaling`)."""

    kind: ScalingKind = "ntk"
    gamma: Gamma = 1.0
    alpha: Alpha = 0.5
    zipf_offset: bool = False
    params: dict[str, float] = Field(default_factory=dict)


class NetworkConfig(_Strict):
    kind: NetworkKind = "shallow"
    width: int = Field(2000, ge=1)
    depth: int = Field(1, ge=1)
    activation: ActivationName = "relu"
    bias: bool = False
    trainable: list[Literal["W", "u", "b"]] = Field(default_factory=lambda: ["W"])
    weight_std: float = Field(math.sqrt(2.0), ge=0)
    bias_std: float = Field(1.0, ge=0)
    parameterization: ParameterizationName = "ntk"
    scaling: ScalingConfig = Field(default_factory=ScalingConfig)
    batch_norm: bool = False  # BatchNorm1d after every hidden linear layer (network.kind=torch_mlp only)

    @model_validator(mode="after")
    def _bias(self):
        if "b" in self.trainable and not self.bias:
            raise ValueError("trainable contains 'b' but bias is false (allowed: set bias=true)")
        if not self.trainable:
            raise ValueError("trainable is empty (allowed: a non-empty subset of W, u, b)")
        return self


class DataConfig(_Strict):
    name: DatasetName = "sphere_sin"
    options: dict[str, Any] = Field(default_factory=dict)


class OptimizerConfig(_Strict):
    name: OptimizerName = "gd"
    lr: float = Field(1.0, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("betas")
    @classmethod
    def _betas(cls, v):
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"got {v} (allowed: two numbers in [0, 1))")
        return v

    @field_validator("lr")
    @classmethod
    def _finite(cls, v):
        if not math.isfinite(v):
            raise ValueError(f"got {v} (allowed: a finite number > 0)")
        return v


class TrainingConfig(_Strict):
    steps: int = Field(10_000, ge=0)
    loss: Literal["mse", "cross_entropy"] = "mse"
    batch_size: int | None = Field(None, ge=1)
    divergence_threshold: float = Field(1e12, gt=0)


class ProbeConfig(_Strict):
    every: int = Field(500, ge=1)
    ntk: bool = True
    ntk_points: int | None = Field(None, ge=1)
    ntk_output: int | Literal["mean"] = 0
    top_nodes: int = Field(5, ge=0)
    checkpoint_every: int | None = Field(None, ge=1)
    grad_norm: bool = False  # ||grad L|| over the trainable parameters on one training batch (see dynamics._probes)


class RunConfig(_Strict):
    name: str = "run"
    seed: int = Field(0, ge=0, le=2**32 - 1)  # the loop derives generator seeds from it (must fit 64 bits)
    dtype: Literal["float32", "float64"] = "float32"
    data: DataConfig = Field(default_factory=DataConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    probes: ProbeConfig = Field(default_factory=ProbeConfig)


def _format_validation_error(err: ValidationError, model: type[BaseModel]) -> ConfigError:
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"] if not isinstance(p, int) or True)
    msg = e["msg"].removeprefix("Value error, ")
    allowed = None
    if e["type"] == "extra_forbidden":
        parent: Any = model
        for part in e["loc"][:-1]:
            field = parent.model_fields.get(str(part)) if isinstance(parent, type) else None
            parent = field.annotation if field is not None else None
        if isinstance(parent, type) and issubclass(parent, BaseModel):
            allowed = ", ".join(parent.model_fields)
        msg = "unknown field"
    if "input" in e and e["type"] not in ("extra_forbidden", "value_error") and "got" not in msg:
        msg += f" (got {e['input']!r})"
    return ConfigError(loc or "config", msg, allowed=allowed)


def config_from_dict(data: dict, model: type[BaseModel] = RunConfig):
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise _format_validation_error(err, model) from None


def validate_config(cfg: RunConfig) -> RunConfig:
    return config_from_dict(cfg.model_dump(), type(cfg))


def load_config(path: str | Path, model: type[BaseModel] = RunConfig):
    path = Path(path)
    if not path.exists():
        raise ConfigError("config", f"file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError("config", f"cannot parse {str(path)!r}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ConfigError("config", f"{str(path)!r} must hold a mapping of fields")
    return config_from_dict(data, model)


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError("--set", f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError("--set", f"empty key in {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def set_dotted(data: dict, keys: list[str], value: Any) -> None:
    cur = data
    for i, k in enumerate(keys[:-1]):
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            if nxt is not None or k not in cur:
                raise ConfigError(".".join(keys[: i + 1]), "unknown field", allowed=", ".join(map(str, cur)))
            nxt = {}
            cur[k] = nxt
        cur = nxt
    if keys[-1] not in cur and not _open_mapping(keys):
        raise ConfigError(".".join(keys), "unknown field", allowed=", ".join(map(str, cur)))
    cur[keys[-1]] = value


def _open_mapping(keys: list[str]) -> bool:
    """Free-form mappings (options, params) accept new keys."""
    return len(keys) >= 2 and keys[-2] in ("options", "params")


def apply_overrides(cfg: BaseModel, overrides: list[str]) -> BaseModel:
    """``--set a.b=value`` overrides (values parsed as YAML), re-validated."""
    data = cfg.model_dump()
    for text in overrides:
        keys, value = parse_override(text)
        set_dotted(data, keys, value)
    return config_from_dict(data, type(cfg))
