"""Errors that name the offending field and the values it may take, and the validators that raise them.

Every user-facing validation failure in ntklab raises :class:`ConfigError` (a ``ValueError``), so the command
line can print one line and exit with status 2 instead of a traceback.  :func:`check_choice` and
:func:`check_range` check a value in plain code; :func:`one_of` and :func:`within` build the same checks as
pydantic ``AfterValidator`` functions for the config models (where pydantic adds the field's dotted path).

Example:
    >>> from ntklab._errors import check_range
    >>> check_range("network.scaling.gamma", 3.0, 0, 1)
    Traceback (most recent call last):
    ...
    ntklab._errors.ConfigError: network.scaling.gamma: got 3.0 (allowed: [0, 1])
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

__all__ = ["ConfigError", "check_choice", "check_range", "one_of", "within", "check_gamma", "range_text"]


class ConfigError(ValueError):
    """A value of field ``field`` is not allowed; ``allowed`` says what would be."""

    def __init__(self, field: str, message: str, *, allowed: str | None = None):
        self.field = field
        self.allowed = allowed
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


def _choices_text(choices: Iterable) -> str:
    return ", ".join(repr(c) for c in choices)


def check_choice(field: str, value, choices) -> None:
    """Refuse ``value`` unless it is one of ``choices``."""
    if value not in choices:
        raise ConfigError(field, f"got {value!r}", allowed=_choices_text(choices))


def _out_of_range(value, lo, hi, lo_open, hi_open) -> bool:
    bad = value != value  # NaN
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    return bool(bad)


def range_text(lo=None, hi=None, *, lo_open=False, hi_open=False) -> str:
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    return f"{left}{'-inf' if lo is None else repr(lo)}, {'inf' if hi is None else repr(hi)}{right}"


def check_range(field: str, value, lo=None, hi=None, *, lo_open=False, hi_open=False) -> None:
    """Refuse ``value`` outside [lo, hi] (or the open variant); NaN is always refused."""
    if _out_of_range(value, lo, hi, lo_open, hi_open):
        raise ConfigError(field, f"got {value!r}", allowed=range_text(lo, hi, lo_open=lo_open, hi_open=hi_open))


def check_gamma(field: str, gamma: float) -> None:
    """γ of the node scaling λ_j = γ/m + (1 − γ) λ̃_j must lie in [0, 1]."""
    check_range(field, gamma, 0, 1)


def one_of(choices: Iterable | Callable[[], Iterable], *, each: bool = False) -> Callable[[Any], Any]:
    """A pydantic validator refusing values outside ``choices`` (a collection, or a callable giving one, read
    at validation time so that names registered later count); ``each=True`` checks every item of a list."""

    def validate(value):
        allowed = tuple(choices() if callable(choices) else choices)
        for v in (value if each else [value]):
            if v not in allowed:
                raise ValueError(f"got {v!r} (allowed: {_choices_text(allowed)})")
        return value

    return validate


def within(lo=None, hi=None, *, lo_open=False, hi_open=False, each: bool = False) -> Callable[[Any], Any]:
    """A pydantic validator refusing numbers outside [lo, hi] (or the open variant)."""

    def validate(value):
        for v in (value if each else [value]):
            if _out_of_range(v, lo, hi, lo_open, hi_open):
                raise ValueError(f"got {v!r} (allowed: {range_text(lo, hi, lo_open=lo_open, hi_open=hi_open)})")
        return value

    return validate
