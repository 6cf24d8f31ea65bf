"""Torch intra-op thread counts: one context manager for every place that sets them.

Example:
    >>> import torch
    >>> from ntklab._threads import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
"""

from __future__ import annotations

from contextlib import contextmanager

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(n: int | None):
    """Run a block with ``n`` torch intra-op threads (``None`` or 0: unchanged), restoring the count afterwards."""
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(old)
