r"""A run directory is bound to the hash of its canonical config; an experiment directory to its options.

The canonical form of a config is its JSON with sorted keys (every field, defaults included, less the
execution fields of :data:`EXECUTION_FIELDS`: the ``device`` says where a run computes, not what), and its hash
(:func:`config_hash`, 12 hex digits of SHA-256) is the run's identity.  :func:`check_binding` is what the store
asks before it touches a directory:

- empty or missing: free;
- the same config: the caller skips a finished run, resumes an interrupted one;
- another config: :class:`RunConflict`, one line naming the directory and the first field that differs (in
  sorted, depth-first order), unless the caller replaces it (``overwrite``).

Example:
    >>> from ntklab.runs import first_difference
    >>> first_difference({"network": {"width": 500, "depth": 1}}, {"network": {"width": 1000, "depth": 1}})
    ('network.width', 500, 1000)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .._errors import ConfigError

__all__ = ["config_hash", "run_id", "first_difference", "RunConflict", "check_binding", "read_json",
           "MISSING", "EXECUTION_FIELDS", "identity_view"]

MISSING = "<missing>"
EXECUTION_FIELDS = ("device",)


def identity_view(config: dict) -> dict:
    """``config`` less its top-level execution fields (:data:`EXECUTION_FIELDS`)."""
    if not isinstance(config, dict) or not any(k in config for k in EXECUTION_FIELDS):
        return config
    return {k: v for k, v in config.items() if k not in EXECUTION_FIELDS}


def config_hash(config: dict) -> str:
    """A stable id: SHA-256 of the canonical JSON of ``config`` (sorted keys, no execution fields), first 12 hex
    digits."""
    canon = json.dumps(identity_view(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode()).hexdigest()[:12]


run_id = config_hash


def first_difference(a: Any, b: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first dotted field where ``a`` and ``b`` differ (``(field, a's value, b's value)``), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            key = f"{prefix}.{k}" if prefix else str(k)
            if k not in a or k not in b:
                return key, a.get(k, MISSING), b.get(k, MISSING)
            diff = first_difference(a[k], b[k], key)
            if diff is not None:
                return diff
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff = first_difference(x, y, f"{prefix}[{i}]")
            if diff is not None:
                return diff
        return None
    same = json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    return None if same else (prefix or "config", a, b)


class RunConflict(ConfigError):
    """A directory already holds a run (or experiment) of another config."""

    def __init__(self, path: Path, what: str, diff: tuple[str, Any, Any] | None):
        self.path = Path(path)
        if diff is None:
            detail = "its record is unreadable"
        else:
            key, there, here = diff
            detail = f"{key}: {_short(there)} there, {_short(here)} here"
        super().__init__("--out", f"{str(path)!r} holds {what} of another config ({detail}); pass --overwrite "
                                  "to replace it, or choose another --out")


def _short(v: Any) -> str:
    text = json.dumps(v, default=str) if not isinstance(v, str) or v == MISSING else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_binding(path: str | Path, record: str, wanted: dict, *, what: str,
                  keys: tuple[str, ...] = ("config",)) -> str:
    """Where directory ``path`` stands for ``wanted``, compared with the ``keys`` of its ``record`` file (one
    key: that entry; several: a dict of them):

    ``"free"`` (nothing there), ``"same"`` (bound to ``wanted``); raises :class:`RunConflict` otherwise.
    A directory holding other (non-hidden) files but no record is refused too: it is not ours to fill.
    """
    path = Path(path)
    meta_file = path / record
    if not meta_file.exists():
        if path.is_dir() and any(not p.name.startswith(".") for p in path.iterdir()):
            raise ConfigError("--out", f"{str(path)!r} is not empty and holds no {record} (not a directory "
                                       "ntklab wrote); choose another --out")
        return "free"
    meta = read_json(meta_file)
    if meta is None:
        raise RunConflict(path, what, None)
    stored = meta.get(keys[0]) if len(keys) == 1 else {k: meta.get(k) for k in keys}
    if not isinstance(stored, dict):
        raise RunConflict(path, what, None)
    if config_hash(stored) == config_hash(wanted):
        return "same"
    raise RunConflict(path, what, first_difference(identity_view(stored), identity_view(wanted)))
