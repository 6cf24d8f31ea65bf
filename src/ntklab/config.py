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

from ._device import valid_device_name
from ._errors import ConfigError, one_of, within
from .data import DATASETS
from .nets import ACTIVATIONS, NETWORKS, PARAMETERIZATIONS, SCALING_KINDS, canonical_parameterization
from .optim import OPTIMIZERS

__all__ = [
    "RunConfig", "DataConfig", "NetworkConfig", "ScalingConfig", "OptimizerConfig", "TrainingConfig",
    "ProbeConfig", "load_config", "apply_overrides", "validate_config", "config_from_dict",
]


class _Strict(BaseModel):
    # no NaN/inf anywhere; the string under each field is its description (help(), the docs' field table)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)


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
DeviceName = Annotated[str, AfterValidator(valid_device_name)]


class ScalingConfig(_Strict):
    """Asymmetrical node scaling (Caron et al. 2023): λ_j = γ/m + (1 − γ) λ̃_j, Σ_j λ_j = 1, each hidden node's
    output multiplied by sqrt(λ_j) (:func:`ntklab.node_scaling`)."""

    kind: ScalingKind = "ntk"
    """λ̃: ``ntk`` (every λ_j = 1/m, γ ignored), ``zipf`` (λ̃_j ∝ j^(−1/α)) or a random sampler (``horseshoe``,
    ``inverse_gamma``, ``beta``, ``gbfry``, ``stable``)."""
    gamma: Gamma = 1.0
    """γ ∈ [0, 1], the weight of the uniform part: γ = 1 is the NTK scaling, γ < 1 learns features."""
    alpha: Alpha = 0.5
    """α ∈ (0, 1): the Zipf / stable tail exponent."""
    zipf_offset: bool = False
    """The authors' code's Zipf index offset (j + 1 instead of j)."""
    params: dict[str, float] = Field(default_factory=dict)
    """Sampler parameters (``shape``/``scale`` for inverse_gamma, ``eta`` for beta, ``tau``/``mu`` for gbfry)."""


class NetworkConfig(_Strict):
    """The network: its kind (a registered builder), width, depth, activation and parameterisation."""

    kind: NetworkKind = "shallow"
    """A registered network (``ntklab.nets.NETWORKS``): ``shallow`` (:class:`ntklab.ScaledShallowNet`), ``mlp``
    (:class:`ntklab.MLP`), ``torch_mlp`` (a plain He-initialised MLP, optionally with BatchNorm)."""
    width: int = Field(2000, ge=1)
    """m, the number of nodes in every hidden layer."""
    depth: int = Field(1, ge=1)
    """L, the number of hidden layers (``shallow``: 1)."""
    activation: ActivationName = "relu"
    """σ, by name (``ntklab.nets.ACTIVATIONS``)."""
    bias: bool = False
    """Hidden-layer biases (the authors' networks have none)."""
    trainable: list[Literal["W", "u", "b"]] = Field(default_factory=lambda: ["W"])
    """Which families train: ``W`` hidden weights, ``u`` the readout, ``b`` hidden biases (the paper: W only)."""
    weight_std: float = Field(math.sqrt(2.0), ge=0)
    """The hidden weights' initial standard deviation (w_j ~ N(0, weight_std² I))."""
    bias_std: float = Field(1.0, ge=0)
    """The hidden biases' initial standard deviation."""
    parameterization: ParameterizationName = "ntk"
    """``ntk``, ``standard``, ``mup`` or ``meanfield`` (``mlp``; ``muP``, ``μP``, ``SP`` are accepted)."""
    scaling: ScalingConfig = Field(default_factory=ScalingConfig)
    """The node scaling λ of every hidden layer."""
    batch_norm: bool = False
    """BatchNorm1d after every hidden linear layer (``torch_mlp`` only)."""

    @model_validator(mode="after")
    def _bias(self):
        if "b" in self.trainable and not self.bias:
            raise ValueError("trainable contains 'b' but bias is false (allowed: set bias=true)")
        if not self.trainable:
            raise ValueError("trainable is empty (allowed: a non-empty subset of W, u, b)")
        return self


class DataConfig(_Strict):
    """The data: a registered source and its options (:func:`ntklab.load_dataset`)."""

    name: DatasetName = "sphere_sin"
    """A registered dataset (``ntklab.data.DATASETS``): ``sphere_sin``, ``diabetes``, ``digits``, ``mnist1d``,
    ``concrete``, ``csv``, ``npz``, the UCI names, ..."""
    options: dict[str, Any] = Field(default_factory=dict)
    """The source's keyword options, e.g. ``{n_train: 100, d: 50}`` or ``{path: data.csv, target: y}``."""


class OptimizerConfig(_Strict):
    """The optimiser: a registered name and its hyper-parameters."""

    name: OptimizerName = "gd"
    """``gd``/``sgd``, ``momentum``, ``nesterov``, ``heavy_ball``, ``nag``, ``nag_sc``, ``adam``, ``adamw``, or a
    registered one (``ntklab.optim.OPTIMIZERS``)."""
    lr: float = Field(1.0, gt=0)
    """η, the step size (times each layer's parameterisation multiplier)."""
    momentum: float = Field(0.0, ge=0, lt=1)
    """β for ``momentum``, ``nesterov``, ``heavy_ball`` and ``nag_sc`` (``nag`` uses β_k = (k − 1)/(k + 2))."""
    nesterov: bool = False
    """Nesterov's variant of ``momentum``."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam's (β₁, β₂)."""
    weight_decay: float = Field(0.0, ge=0)
    """L2 weight decay."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Further keyword options for a registered optimiser."""

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
    """How long and on what loss."""

    steps: int = Field(10_000, ge=0)
    """The number of optimiser steps."""
    loss: Literal["mse", "cross_entropy"] = "mse"
    """``mse`` = (1/(nK)) Σ_i Σ_k (f_k(x_i) − y_ik)² (the authors'), or ``cross_entropy``."""
    batch_size: int | None = Field(None, ge=1)
    """Rows per step (drawn without replacement each step); None: full batch (GD)."""
    divergence_threshold: float = Field(1e12, gt=0)
    """A run whose loss exceeds this (or is not finite) stops with status ``diverged``."""


class ProbeConfig(_Strict):
    """What is measured, and how often (:mod:`ntklab.dynamics._probes`)."""

    every: int = Field(500, ge=1)
    """Measure every this many steps (and at the last step)."""
    ntk: bool = True
    """Measure the empirical NTK Θ̂_t: λ_min, λ_max, cond and the drift ‖Θ̂_t − Θ̂_0‖."""
    ntk_points: int | None = Field(None, ge=1)
    """Compute Θ̂_t on the first this many training points (None: all)."""
    ntk_output: int | Literal["mean"] = 0
    """For K outputs: the output whose NTK is probed, or ``mean`` (the trace over outputs / K)."""
    top_nodes: int = Field(5, ge=0)
    """Record the displacement ‖w_j(t) − w_j(0)‖ of this many largest-λ nodes as rows."""
    checkpoint_every: int | None = Field(None, ge=1)
    """Checkpoint every this many steps, so a killed run resumes (bitwise) from the last one."""
    grad_norm: bool = False
    """Record ‖∇L‖ over the trainable parameters on the first training batch (``grad_norm``)."""


class RunConfig(_Strict):
    """One run, completely: data, network (with its parameterisation and node scaling), optimiser, training
    length, probes, seed and dtype.  Its canonical JSON's hash is the run's identity in the store.

    Validated on construction; from files and dicts use :func:`load_config` / :func:`config_from_dict`, which
    refuse a bad value with one :class:`~ntklab.ConfigError` naming the dotted field (``network.width``) and the
    allowed values.  ``apply_overrides(cfg, ["network.width=500"])`` is what ``--set`` does.

    Example:
        >>> import ntklab
        >>> cfg = ntklab.RunConfig(network={"width": 500, "scaling": {"kind": "zipf", "gamma": 0.5}})
        >>> cfg.network.scaling.gamma, cfg.optimizer.name
        (0.5, 'gd')
    """

    name: str = "run"
    """A label: the run directory's name is ``<name>-<config hash>`` inside a preset or ``train_many(out=...)``."""
    seed: int = Field(0, ge=0, le=2**32 - 1)
    """Initialises the network (and node scaling draws, minibatch order); must fit 32 bits."""
    dtype: Literal["float32", "float64"] = "float32"
    """Parameters and data (the kernels probed in the same dtype)."""
    device: DeviceName = "cpu"
    """Where the run computes: ``cpu``, ``cuda`` or ``cuda:N``.  The network is initialised on the CPU
    (the same weights on every device) and moved there with the data, optimiser state and probes; checkpoints
    and results are stored on the CPU, so a run resumes on another device.  Not part of the run's identity."""
    data: DataConfig = Field(default_factory=DataConfig)
    """The data source."""
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """The network."""
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    """The optimiser."""
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    """Steps, loss, batch size, divergence threshold."""
    probes: ProbeConfig = Field(default_factory=ProbeConfig)
    """What is measured and when; checkpoints."""


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
    """Read a run config from a YAML or JSON file and validate it; a bad value raises one
    :class:`~ntklab.ConfigError` naming the dotted field and the allowed values."""
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
