r"""Reusable scratch buffers for the CPU kernels: no fresh pages to fault in on every call.

A CPU tensor of more than a few hundred KB is a fresh ``mmap`` each time it is allocated, and touching it costs a
page fault per 4 KiB page (about 0.3 ms per MB here): for a 100 x 2000 kernel that was half the run time.
:func:`scratch` hands out a view of a per-thread, per-name buffer that grows to the largest request seen, so a
repeated call touches memory that is already mapped.  Only intermediates use it, never a returned tensor, and
each call site has its own name, so two live buffers never alias.  Requests over ``MAX_BYTES`` (where the
faults are small next to the work) and non-CPU devices (their allocators cache already) get a fresh tensor.

Example:
    >>> import torch
    >>> from ntklab._scratch import scratch
    >>> a = scratch("example", (3, 4), torch.float32)
    >>> b = scratch("example", (2, 2), torch.float32)
    >>> a.data_ptr() == b.data_ptr()  # the same memory, reused
    True
"""

from __future__ import annotations

import math
import threading

import torch

__all__ = ["scratch", "MAX_BYTES"]

MAX_BYTES = 32 * 2**20
_LOCAL = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """An uninitialised contiguous tensor of ``shape``, reusing the thread's buffer called ``name``."""
    numel = math.prod(shape)
    if numel * dtype.itemsize > MAX_BYTES or (device != "cpu" and torch.device(device).type != "cpu"):
        return torch.empty(shape, dtype=dtype, device=device)
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None:
        bufs = _LOCAL.bufs = {}
    key = (name, dtype)
    buf = bufs.get(key)
    if buf is None or buf.numel() < numel:
        buf = bufs[key] = torch.empty(max(numel, 1), dtype=dtype, device="cpu")
    return buf[:numel].view(shape)
