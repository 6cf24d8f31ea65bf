"""Torch intra-op thread counts: one context manager for every place that sets them.

``torch_threads("auto")`` keeps torch's current thread count (every physical core by default; a sweep worker's
1) but lowers it to :func:`free_cores`: the CPUs this process may use, less the work other processes are running
on them right now (their busy share over 0.1 s, from ``/proc/stat``; the 1-minute load average where there is no
``/proc``).  On an idle machine that is every core; on a busy one it is 1, where a second thread mostly spins.  The thread count never changes a result: the stacked GD step gives bit-identical weights at 1 and
2 threads (``tests/test_threads.py``), so ``"auto"`` changes only the wall time.

Example:
    >>> import torch
    >>> from ntklab._threads import free_cores, torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    >>> 1 <= free_cores()
    True
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Literal

__all__ = ["torch_threads", "free_cores", "Threads"]

Threads = int | Literal["auto"]  # a thread count (0: leave torch's setting), or "auto": free_cores()

WINDOW = 0.1  # seconds over which the other processes' CPU use is sampled


def _cpu_times(cpus: set[int]) -> tuple[float, float] | None:
    """(idle, total) jiffies summed over ``cpus`` from ``/proc/stat`` (idle + iowait count as idle; steal as
    busy), or None where it cannot be read."""
    idle = total = 0.0
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                    vals = [float(v) for v in fields[:8]]
                    idle += vals[3] + vals[4]
                    total += sum(vals)
    except (OSError, ValueError, IndexError):
        return None
    return (idle, total) if total > 0 else None


def _busy_cpus(cpus: set[int], window: float = WINDOW) -> float:
    """How many of ``cpus`` other processes keep busy: their busy share over ``window`` seconds (this process
    sleeps meanwhile), else the 1-minute load average, else 0."""
    before = _cpu_times(cpus)
    if before is not None:
        time.sleep(window)
        after = _cpu_times(cpus)
        if after is not None and after[1] > before[1]:
            return len(cpus) * (1.0 - (after[0] - before[0]) / (after[1] - before[1]))
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # no load average on this platform: take the machine as idle
        return 0.0


def free_cores() -> int:
    """The CPUs in this process's affinity mask less those other processes keep busy (rounded), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        cpus = set(os.sched_getaffinity(0))
    else:
        cpus = set(range(os.cpu_count() or 1))
    return max(1, len(cpus) - int(round(_busy_cpus(cpus))))


@contextmanager
def torch_threads(n: Threads | None):
    """Run a block with ``n`` torch intra-op threads (``None`` or 0: unchanged; ``"auto"``: the current count,
    at most :func:`free_cores`), restoring the count afterwards."""
    import torch

    old = torch.get_num_threads()
    if n == "auto":
        n = min(old, free_cores())
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(old)
