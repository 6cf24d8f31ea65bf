"""Named data sources: ``load_dataset(name, **options)``.

A source is a function returning a :class:`Dataset`; register new ones with :func:`register_dataset`.
Options are validated by the source itself (a bad one raises ``ConfigError`` naming ``data.<field>``).
"""

from __future__ import annotations

import inspect
from typing import Callable

from .._errors import ConfigError, check_choice
from ._dataset import Dataset
from ._sphere import sphere_sin

__all__ = ["DATASETS", "load_dataset", "register_dataset"]

DATASETS: dict[str, Callable[..., Dataset]] = {"sphere_sin": sphere_sin}


def register_dataset(name: str, fn: Callable[..., Dataset]) -> None:
    DATASETS[name] = fn


def load_dataset(name: str, **options) -> Dataset:
    check_choice("data.name", name, tuple(DATASETS))
    fn = DATASETS[name]
    sig = inspect.signature(fn)
    if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        known = [k for k, p in sig.parameters.items() if p.kind == p.KEYWORD_ONLY]
        for k in options:
            if k not in sig.parameters:
                raise ConfigError(f"data.{k}", f"unknown option for dataset {name!r}", allowed=", ".join(known))
    return fn(**options)
