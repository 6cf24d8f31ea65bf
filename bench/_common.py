"""Shared helpers of the benchmarks: thread settings, timing, spread, peak memory, the machine's state, the table.

Every contender runs with the same thread count (``BENCH_THREADS``, default: the machine's cores), set before
torch / NumPy / XLA start.  Contenders are interleaved round by round (ntklab, peer, ntklab, peer, ...) so that
load from other processes hits them alike; a sample is a batch of calls and its value the median of the calls'
own times (robust to the few calls the scheduler stalls); a row is the median over samples with its spread
(interquartile range over the median), and a case whose spread is too wide is timed again (:func:`interleave`).
The load averages, square-GEMM rates (MKL through torch.mm and oneDNN) and copy bandwidth are measured beside
every table (:func:`machine_state`).  Peak memory is the rise of the resident set during one call (``VmHWM``
after resetting it through ``/proc/self/clear_refs``, minus ``VmRSS`` before the call).
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


def cpu_once(fn) -> float:
    """Process CPU seconds of one call (on a loaded machine the steadier clock for a 1-thread contender)."""
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


@dataclass
class Row:
    """One line of the table: a contender's median time on one case, its spread, and its ratio to the reference."""

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
    util: float = float("nan")  # process CPU / (wall x threads) while it was timed (in-process contenders)
    reruns: int = 0  # times its case was timed again for a too-wide spread

    @classmethod
    def timed(cls, bench: str, case: str, contender: str, samples: "Samples", **kw) -> "Row":
        """A row from :func:`interleave`'s samples of ``contender`` (median, samples, utilisation, re-runs)."""
        ts = samples[contender]
        return cls(bench, case, contender, median(ts), list(ts), util=samples.util.get(contender, float("nan")),
                   reruns=getattr(samples, "reruns", 0), **kw)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["times_s"] = " ".join(f"{t:.4g}" for t in self.times_s)
        return d


def median(ts) -> float:
    return statistics.median(ts) if ts else float("nan")


SETTLE_S = 0.1  # idle time before each sample: the previous contender's spinning worker threads go to sleep
SAMPLE_S = 0.05  # a sample repeats a fast call until it lasts about this long (timeit's autorange) ...
# ... and is the median of its calls' own times: a mean over the batch would turn a few calls stalled by the
# scheduler (2 threads on 2 busy cores: a barrier waits for a time slice, 0.3 ms -> 250 ms) into a stalled sample
WARMUP_S = 1.0  # a fast contender is called for about this long before it is timed (the first seconds of a
# process ran 2-10x slower here, whatever the contender)
FAST_REPEATS = 15  # samples of a fast contender (a few seconds of them), against the host's noise
WIDE = 0.3  # a row whose interquartile range exceeds this fraction of its median is re-run ...
MAX_RERUNS = 2  # ... at most this many times; the narrowest attempt is kept and a wide one is flagged


class Samples(dict):
    """``{contender: [seconds per call, one per sample]}`` as :func:`interleave` returns it, with ``reruns``
    (how many times the case was re-run for a too-wide spread) and ``util`` (median process CPU time over
    wall time x threads per sample of an in-process contender: well below 1 means its threads waited for a core)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.reruns = 0
        self.util: dict[str, float] = {}


def spread(ts) -> float:
    """Interquartile range over the median (max - min over the median for 2-3 samples; nan for fewer)."""
    ts = [t for t in ts if t == t]
    if len(ts) < 2:
        return float("nan")
    if len(ts) < 4:
        mid = statistics.median(ts)
        return (max(ts) - min(ts)) / mid if mid > 0 else float("nan")
    q = statistics.quantiles(ts, n=4)
    return (q[2] - q[0]) / q[1] if q[1] > 0 else float("nan")


def _own_seconds(out, k: int) -> float | None:
    """A contender's own clock: a float (seconds of its k calls) or a list of per-call seconds (their median)."""
    if isinstance(out, list):
        return statistics.median(out)
    if isinstance(out, float):
        return out / k
    return None


def _calibrate(contenders: dict, repeats: int, warmup: int) -> tuple[dict, dict]:
    """Per contender: calls per sample (to fill SAMPLE_S) and samples to take."""
    numbers, counts = {}, {}
    for name, fn in contenders.items():
        start, calls, tooks = time.perf_counter(), 0, []
        time.sleep(SETTLE_S)
        while calls < warmup or (time.perf_counter() - start < WARMUP_S and calls < 1000):
            t0 = time.perf_counter()
            own = _own_seconds(fn(), 1)
            tooks.append(own if own is not None else time.perf_counter() - t0)
            calls += 1
        took = statistics.median(tooks[-5:])
        numbers[name] = max(1, min(200, int(SAMPLE_S / max(took, 1e-6))))
        counts[name] = max(repeats, min(FAST_REPEATS, int(3.0 / max(numbers[name] * took, 1e-6))))
    return numbers, counts


def _sample_once(fn, k: int) -> tuple[float, float]:
    """(seconds per call: the median of the sample's k calls, process CPU over wall time of the sample or nan
    for a contender on its own clock) of one sample."""
    time.sleep(SETTLE_S)
    if getattr(fn, "takes_number", False):
        return _own_seconds(fn(k), k), float("nan")
    calls = []
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(k):
        t1 = time.perf_counter()
        own = _own_seconds(fn(), 1)
        calls.append(own if own is not None else time.perf_counter() - t1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    own_clock = own is not None
    return statistics.median(calls), (float("nan") if own_clock else cpu / wall)


def _interleave_once(contenders: dict, numbers: dict, counts: dict) -> Samples:
    times = Samples({name: [] for name in contenders})
    cpus = {name: [] for name in contenders}
    while any(len(times[name]) < counts[name] for name in contenders):
        for name, fn in contenders.items():
            if len(times[name]) < counts[name]:
                t, u = _sample_once(fn, numbers[name])
                times[name].append(t)
                cpus[name].append(u / THREADS)
    for name in contenders:
        u = [c for c in cpus[name] if c == c]
        times.util[name] = statistics.median(u) if u else float("nan")
    return times


def interleave(contenders: dict, repeats: int, warmup: int = 1) -> Samples:
    """Time ``{name: fn}`` round-robin; per-call seconds, one entry per sample.

    ``fn()`` returns seconds by its own clock (a float, or a list of per-call seconds: a peer's timer, which also
    takes ``number``) or anything else (then wall time here).  A sample is ``number`` calls in a row, enough to
    fill ``SAMPLE_S``, and its value is the median of their per-call times (a mean over the batch would turn a
    few calls stalled by the scheduler into a stalled sample).  The number of samples (``repeats`` to ``FAST_REPEATS``) and calls per sample are fixed
    in a warm-up of at least ``WARMUP_S``.  The machine idles ``SETTLE_S`` before every sample.  When a
    contender's spread (:func:`spread`) exceeds ``WIDE``, the whole case is timed again (up to ``MAX_RERUNS``
    times, printed) and the attempt whose widest spread is smallest is kept (whole, so that the contenders'
    ratios still come from interleaved samples).
    """
    numbers, counts = _calibrate(contenders, repeats, warmup)
    best = _interleave_once(contenders, numbers, counts)
    worst = lambda smp: max((spread(ts) for ts in smp.values() if spread(ts) == spread(ts)), default=0.0)  # noqa: E731
    reruns = 0
    while worst(best) > WIDE and reruns < MAX_RERUNS:
        wide = {n: spread(ts) for n, ts in best.items() if spread(ts) > WIDE}
        print("  spread too wide (" + ", ".join(f"{n}: {w:.0%} of the median" for n, w in wide.items())
              + f"): timing the case again (attempt {reruns + 2})", flush=True)
        again = _interleave_once(contenders, numbers, counts)
        reruns += 1
        if worst(again) < worst(best):
            best = again
    best.reruns = reruns
    return best


def fmt_time(s: float) -> str:
    if s != s:
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    return f"{s * 1e3:.3g} ms"


def _spread_cell(r: Row) -> str:
    w = spread(r.times_s)
    if w != w:
        return "-"
    return f"{w:.0%}" + (" WIDE" if w > WIDE else "")


def _range_cell(r: Row) -> str:
    ts = [t for t in r.times_s if t == t]
    return f"{fmt_time(min(ts))}-{fmt_time(max(ts))}" if len(ts) > 1 else "-"


def print_table(rows: list[Row], title: str = "") -> str:
    """The table: median, spread (interquartile range over the median; max - min for 2-3 samples; WIDE above
    ``WIDE`` after the re-runs), min-max, ratio, peak memory, target, verdict and note."""
    head = ["bench", "case", "contender", "median", "spread", "min-max", "ratio", "peak MiB", "target", "met", "note"]
    lines = [[r.bench, r.case, r.contender, fmt_time(r.median_s), _spread_cell(r), _range_cell(r),
              "-" if r.ratio != r.ratio else f"{r.ratio:.3g}",
              "-" if r.peak_mb != r.peak_mb else f"{r.peak_mb:.0f}", r.target, r.met,
              r.note + (f" [timed {r.reruns + 1}x: spread]" if r.reruns else "")] for r in rows]
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


def gemm_rates(threads: int = THREADS, n: int = 2048, repeats: int = 5) -> dict:
    """Square f32 GEMM rates (FLOP/s, best of ``repeats``) through torch.mm (MKL) and oneDNN's linear, at
    ``threads`` threads; the larger is the machine's GEMM rate (MKL takes its AVX2 path on AMD CPUs)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        out = {}
        calls = {"mkl": lambda: torch.mm(a, b)}
        if torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"):
            calls["onednn"] = lambda: torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], "")
        cpu = {}
        for name, fn in calls.items():
            fn()
            best = min(time_once(fn) for _ in range(repeats))
            out[name] = 2 * n**3 / best
            cpu[name] = 2 * n**3 / min(cpu_once(fn) for _ in range(repeats))
        out["best"] = max(out.values())
        out["best_cpu"] = max(cpu.values()) * threads  # per thread's CPU second x threads: the rate if not shared
        return out
    finally:
        torch.set_num_threads(old)


def bandwidth(threads: int = THREADS, mb: int = 512, repeats: int = 5) -> float:
    """Memory bandwidth (bytes/s, best of ``repeats``) of a ``mb`` MiB f32 copy, read + write counted."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        src = torch.ones(mb * 2**18)
        dst = torch.empty_like(src)
        dst.copy_(src)
        return 2 * src.numel() * 4 / min(time_once(lambda: dst.copy_(src)) for _ in range(repeats))
    finally:
        torch.set_num_threads(old)


def machine_state(threads: int = THREADS) -> dict:
    """Load averages, GEMM rates and bandwidth now (printed beside every table)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rates = gemm_rates(threads)
    return {"load": load, "gemm": rates, "gemm_1thread": gemm_rates(1)["best"], "bandwidth": bandwidth(threads)}


def state_line(st: dict) -> str:
    g = st["gemm"]
    parts = ", ".join(f"{k} {v / 1e9:.0f}" for k, v in g.items() if not k.startswith("best"))
    return (f"load average {st['load'][0]:.2f} / {st['load'][1]:.2f} / {st['load'][2]:.2f} (1/5/15 min); "
            f"square f32 GEMM {g['best'] / 1e9:.0f} GFLOP/s at {THREADS} threads ({parts}), "
            f"{st['gemm_1thread'] / 1e9:.0f} at 1 thread; copy bandwidth {st['bandwidth'] / 1e9:.1f} GB/s")


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
            f" load average {load:.2f} at start ({_others()} other processes using the CPU)")


def _others() -> str:
    """How many other processes were runnable a moment ago (from /proc/loadavg's running count)."""
    try:
        running = int(open("/proc/loadavg").read().split()[3].split("/")[0])
        return str(max(0, running - 1))
    except (OSError, ValueError, IndexError):
        return "?"
