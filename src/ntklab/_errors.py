"""Errors that name the offending field and the values it may take.

Every user-facing validation failure in ntklab raises :class:`ConfigError` (a ``ValueError``), so the CLI
can print one line and exit with status 2 instead of a traceback.
"""

from __future__ import annotations

__all__ = ["ConfigError", "check_choice", "check_range"]


class ConfigError(ValueError):
    """A value of field ``field`` is not allowed; ``allowed`` says what would be."""

    def __init__(self, field: str, message: str, *, allowed: str | None = None):
        self.field = field
        self.allowed = allowed
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


def check_choice(field: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(field, f"got {value!r}", allowed=", ".join(repr(c) for c in choices))


def check_range(field: str, value, lo=None, hi=None, *, lo_open=False, hi_open=False) -> None:
    """Refuse ``value`` outside [lo, hi] (or the open variant); NaN is always refused."""
    bad = value != value  # NaN
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else repr(lo)
        hi_s = "inf" if hi is None else repr(hi)
        raise ConfigError(field, f"got {value!r}", allowed=f"{left}{lo_s}, {hi_s}{right}")
