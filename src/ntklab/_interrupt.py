r"""Ctrl-C at a step boundary: the first SIGINT asks the running loop to stop cleanly, a second one aborts.

Inside :func:`graceful_interrupts` a first Ctrl-C only sets a flag; the training loop looks at
:func:`stop_requested` after each step, checkpoints every live run at that step boundary and raises
:class:`KeyboardInterrupt`, so a rerun of the same command resumes exactly where it stopped.  A second Ctrl-C
raises at once.  Outside the main thread the handler cannot be installed and Ctrl-C keeps Python's default.

Example:
    >>> from ntklab._interrupt import graceful_interrupts, stop_requested
    >>> with graceful_interrupts():
    ...     stop_requested()
    False
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

__all__ = ["graceful_interrupts", "stop_requested", "request_stop"]

_STATE = {"requested": False, "depth": 0}


def stop_requested() -> bool:
    """True once a Ctrl-C arrived inside :func:`graceful_interrupts` (until the outermost block exits)."""
    return _STATE["requested"]


def request_stop() -> None:
    """Ask the running loop to stop at the next step boundary (what the first Ctrl-C does)."""
    _STATE["requested"] = True


def _handler(signum, frame):  # noqa: ARG001
    if _STATE["requested"]:
        raise KeyboardInterrupt
    request_stop()


@contextmanager
def graceful_interrupts():
    """Install the two-stage SIGINT handler for the block (nested blocks share it)."""
    main = threading.current_thread() is threading.main_thread()
    previous = None
    if main and _STATE["depth"] == 0:
        previous = signal.signal(signal.SIGINT, _handler)
    _STATE["depth"] += 1
    try:
        yield
    finally:
        _STATE["depth"] -= 1
        if _STATE["depth"] == 0:
            _STATE["requested"] = False
            if main and previous is not None:
                signal.signal(signal.SIGINT, previous)
