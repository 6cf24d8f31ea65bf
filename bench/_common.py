"""Shared helpers of the benchmarks: thread settings, timing, peak memory, the result rows and the table.

Every contender runs with the same thread count (``BENCH_THREADS``, default: the machine's cores), set before
torch / NumPy / XLA start.  A time is the median of >= 3 timed repeats after warm-up; contenders are
interleaved round by round (ntklab, peer, ntklab, peer, ...) so that load from other processes on this
shared machine hits them alike.  Peak memory is the rise of the resident set during one call
(``VmHWM`` after resetting it through ``/proc/self/clear_refs``, minus ``VmRSS`` before the call).
"""

from __future__ import annotations

import csv
import gc
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
INPUTS = RESULTS / "inputs"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
sys.path.insert(0, os.environ.get("NTKLAB_SRC", str(BENCH_DIR.parent / "src")))  # another checkout to bench


def setup_torch():
    import torch

    torch.set_num_threads(THREADS)
    return torch


def _status_mb() -> dict:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmHWM", "VmRSS")):
                key, val = line.split(":")
                out[key] = int(val.split()[0]) / 1024
    return out


def peak_memory_mb(fn) -> float:
    """Rise of the resident set (MiB) while ``fn()`` runs, its result kept alive until measured."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return float("nan")
    base = _status_mb()["VmRSS"]
    result = fn()
    peak = _status_mb()["VmHWM"]
    del result
    return peak - base


def time_once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@dataclass
class Row:
    """One line of the table: a contender's median time on one case, and its ratio to the reference."""

    bench: str
    case: str
    contender: str
    median_s: float
    times_s: list = field(default_factory=list)
    peak_mb: float = float("nan")
    ratio: float = float("nan")  # ntklab / this contender (on the ntklab row: ntklab / best peer)
    target: str = ""
    met: str = ""
    note: str = ""

    def as_dict(self) -> dict:
        d = asdict(self)
        d["times_s"] = " ".join(f"{t:.4g}" for t in self.times_s)
        return d


def median(ts) -> float:
    return statistics.median(ts) if ts else float("nan")


SETTLE_S = 0.1  # idle time before each sample: the previous contender's spinning worker threads go to sleep
SAMPLE_S = 0.05  # a sample repeats a fast call until it lasts about this long (timeit's autorange)
WARMUP_S = 1.0  # a fast contender is called for about this long before it is timed (the first seconds of a
# process ran 2-10x slower here, whatever the contender)
FAST_REPEATS = 15  # samples of a fast contender (a few seconds of them), against the host's noise


def interleave(contenders: dict, repeats: int, warmup: int = 1) -> dict:
    """Time ``{name: fn}`` round-robin; per-call seconds, one entry per sample.

    ``fn()`` returns seconds by its own clock (a peer's timer, which also takes ``number``: seconds of that many
    calls) or anything else (then wall time here).  A sample of a fast contender is ``number`` calls in a row,
    ``number`` chosen in the warm-up (``warmup`` calls and at least ``WARMUP_S``) so that a sample lasts about
    ``SAMPLE_S``; fast contenders get more samples
    (up to ``FAST_REPEATS``, about 3 s of samples in all) since the shared host's noise swamps a median of 3.
    Before every sample the machine is left idle for ``SETTLE_S``, so that no contender runs while another's
    threads still spin (2 cores here).
    """
    numbers, counts = {}, {}
    for name, fn in contenders.items():
        start, calls, tooks = time.perf_counter(), 0, []
        time.sleep(SETTLE_S)
        while calls < warmup or (time.perf_counter() - start < WARMUP_S and calls < 1000):
            t0 = time.perf_counter()
            own = fn()
            tooks.append(own if isinstance(own, float) else time.perf_counter() - t0)
            calls += 1
        took = statistics.median(tooks[-5:])
        loops = getattr(fn, "takes_number", False) or not isinstance(own, float)
        numbers[name] = max(1, min(200, int(SAMPLE_S / max(took, 1e-6)))) if loops else 1
        sample = numbers[name] * took
        counts[name] = max(repeats, min(FAST_REPEATS, int(3.0 / max(sample, 1e-6))))
    times = {name: [] for name in contenders}
    while any(len(times[name]) < counts[name] for name in contenders):
        for name, fn in contenders.items():
            if len(times[name]) >= counts[name]:
                continue
            k = numbers[name]
            time.sleep(SETTLE_S)
            if getattr(fn, "takes_number", False):
                times[name].append(float(fn(k)) / k)
                continue
            t0 = time.perf_counter()
            for _ in range(k):
                own = fn()
            times[name].append(own if isinstance(own, float) else (time.perf_counter() - t0) / k)
    return times


def fmt_time(s: float) -> str:
    if s != s:
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    return f"{s * 1e3:.3g} ms"


def print_table(rows: list[Row], title: str = "") -> str:
    head = ["bench", "case", "contender", "median", "ratio", "peak MiB", "target", "met", "note"]
    lines = [[r.bench, r.case, r.contender, fmt_time(r.median_s),
              "-" if r.ratio != r.ratio else f"{r.ratio:.3g}",
              "-" if r.peak_mb != r.peak_mb else f"{r.peak_mb:.0f}", r.target, r.met, r.note] for r in rows]
    widths = [max(len(h), *(len(str(l[i])) for l in lines)) if lines else len(h) for i, h in enumerate(head)]
    out = []
    if title:
        out.append(title)
    out.append(" | ".join(h.ljust(w) for h, w in zip(head, widths)))
    out.append("-|-".join("-" * w for w in widths))
    out += [" | ".join(str(c).ljust(w) for c, w in zip(l, widths)) for l in lines]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def write_csv(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(Row("", "", "", 0.0).as_dict()))
        w.writeheader()
        for r in rows:
            w.writerow(r.as_dict())


def save_rows(rows: list[Row], name: str) -> None:
    """Each bench script writes bench/results/<name>.csv and a JSON copy that run_all.py collects."""
    write_csv(rows, RESULTS / f"{name}.csv")
    (RESULTS / f"{name}.json").write_text(json.dumps([r.as_dict() for r in rows], indent=1))


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def machine_line() -> str:
    import platform

    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, {THREADS} threads for every contender, python {platform.python_version()},"
            f" load average {load:.2f} at start (other processes share this machine)")
