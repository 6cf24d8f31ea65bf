r"""Named registries: a name maps to an object, or to ``"module:attr"`` imported on first use.

Datasets, networks, optimisers and presets all live in one of these.  A registry is a read-only mapping
(``name in REG``, ``sorted(REG)``, ``REG[name]``); :meth:`Registry.get` refuses an unknown name with a
:class:`~ntklab.ConfigError` naming the field and the registered names.  Registering a name again replaces it.

Example:
    >>> from ntklab._registry import Registry
    >>> reg = Registry("data.name")
    >>> reg.register("sqrt", "math:sqrt")          # imported when first asked for
    >>> reg.get("sqrt")(16.0)
    4.0
    >>> reg.get("cube")
    Traceback (most recent call last):
    ...
    ntklab._errors.ConfigError: data.name: got 'cube' (allowed: 'sqrt')
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Iterator

from ._errors import ConfigError

__all__ = ["Registry"]


class Registry(Mapping):
    """name -> object; an entry given as ``"package.module:attr"`` is imported the first time it is read."""

    def __init__(self, field: str):
        self.field = field
        self._entries: dict[str, Any] = {}

    def register(self, name: str, entry: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(self.field, f"a registered name must be a non-empty string, got {name!r}")
        self._entries[name] = entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def _resolve(self, name: str):
        entry = self._entries[name]
        if isinstance(entry, str) and ":" in entry:
            module, _, attr = entry.partition(":")
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self._entries[name] = entry = obj
        return entry

    def check(self, name) -> None:
        """Raise :class:`ConfigError` unless ``name`` is registered."""
        if name not in self._entries:
            raise ConfigError(self.field, f"got {name!r}", allowed=", ".join(repr(n) for n in self._entries))

    def get(self, name, default=None):  # noqa: D401  (Mapping.get semantics would hide typos: refuse instead)
        self.check(name)
        return self._resolve(name)

    def __getitem__(self, name: str):
        if name not in self._entries:
            raise KeyError(name)
        return self._resolve(name)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.field!r}: {', '.join(self._entries)})"
