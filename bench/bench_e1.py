"""E1 where users wait: the preset's own path (``ntklab demo --full``) against its roofline and the authors' loop.

Paper scale: 4 configurations x 5 seeds x 50,000 full-batch GD steps, m = 2000, n = 100, d = 50, probes every
1000 steps (risks, NTK on all 100 points and its spectrum, drift, node displacement) and the run store.

- **Preset path.**  ``run_preset("asym-simulated", full=True, steps=S)`` for S = S_SHORT and S_LONG, timed in
  this process, interleaved (short, long, short, long, ...), wall and process CPU time.  The difference of the
  medians over S_LONG - S_SHORT steps is the cost of a step with its share of the probes (one probe per 1000
  steps, as the paper) and of the store; the rest is the one-off cost (imports done, data, models, the width
  sweep, analysis, figures).  The paper-scale time is one-off + 50,000 x step.  The preset trains with its own
  thread setting (``threads`` option, default ``"auto"``: every core the other processes leave free, so all of
  them on the idle machine a bench needs).
- **Roofline** of a step of the preset's path at those threads: the larger of FLOP time (2mnd for Z = W X^T, 2mn
  for f, 2mnd for the gradient, per run, at the machine's square f32 GEMM rate: the better of torch.mm/MKL and
  oneDNN) and memory time (W read and written once, 2 m d 4 bytes per run, at the measured copy bandwidth).  After
  the 20 runs the path trains the lazy sweep's 10 runs (gamma = 1 at m/4 and m/2, 5 seeds) for as many steps: the
  roofline counts their work too (0.96 GFLOP a step, where the 20 runs alone are 0.81), and the
  note gives the ratio to the 20 runs' roofline as well.  The authors' loop does the 20 runs only.
- **The authors' loop**: one run at a time, ``nn.Linear`` + autograd + ``torch.optim.SGD`` as in their code,
  the NTK probe by one backward per sample; best of 1 and 2 threads, its step timed interleaved with
  ntklab's bare stacked step; extrapolated to 20 runs x 50,000 steps + 51 probes.
- **Core rows**: ntklab's bare stacked step of the 20 runs (the demo's and the paper's) with the fused kernel of
  ``ntklab.dynamics._relu_kernel`` (the default on a CPU with AVX-512; its second pass takes the GD step, as in the
  training loop), its one C call alone (storing the gradient), and the unfused step (oneDNN's products then the
  optimiser's step, what a CPU without AVX-512 or a C compiler gets), against the bound.

``BENCH_DEMO=1`` also times ``ntklab demo`` (the default mode, what ``make demo`` runs) in a fresh process
(wall and user CPU); with ``NTKLAB_SRC=/other/checkout/src`` any of this runs another checkout's code.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from _common import QUICK, THREADS, Row, bandwidth, gemm_rates, interleave, median, save_rows, setup_torch, \
    verdict

torch = setup_torch()
import ntklab  # noqa: E402
from ntklab.dynamics import _relu_kernel, _shallow_grad  # noqa: E402
from ntklab.experiments import run_preset  # noqa: E402
from ntklab.experiments.asym._common import PAPER_CONFIGS  # noqa: E402
from ntklab.experiments.asym._lazy import lazy_sweep_widths  # noqa: E402
from ntklab.experiments.asym.simulated import AsymSimulatedOptions, base_config  # noqa: E402

M, N, D, STEPS, SEEDS, EVERY = 2000, 100, 50, 50_000, 5, 1000
R = 4 * SEEDS
# preset runs whose difference is the per-step cost: the one-off part of a run (the width sweep, the random limit,
# analysis, figures) varies by up to 2 s from run to run, 1 ms a step over 2000 steps and 0.2 ms over 9500
S_SHORT, S_LONG = (200, 700) if QUICK else (500, 10_000)
ROUNDS = 1 if QUICK else 2  # interleaved (short, long) pairs
PAPER_STEPS = 50 if QUICK else 200  # steps of the authors' loop per sample
_OPT_THREADS = AsymSimulatedOptions().threads
# "auto" is every core on the idle machine a bench needs; the preset runs are given that count explicitly, so the
# rows and the roofline speak of one thread count whatever the load
PRESET_THREADS = THREADS if _OPT_THREADS in ("auto", 0) else _OPT_THREADS
QUICK_SWEEP = ["sweep_steps=50", "sweep_seeds=1"] if QUICK else []  # the width sweep cancels in the difference


def step_flops(runs, m=M, n=N, d=D, K=1) -> float:
    return runs * (2 * m * n * d + 2 * K * m * n + 2 * K * m * n * d)


def step_bytes(runs, m=M, d=D) -> float:
    return 2 * runs * m * d * 4  # W read and written once


LAZY_WIDTHS = lazy_sweep_widths(M, None)  # gamma = 1, SEEDS runs each, trained with the main runs' steps


def preset_step_flops() -> float:
    """FLOPs of one step of the preset's path: the R main runs and the lazy sweep's runs."""
    return step_flops(R) + SEEDS * sum(step_flops(1, m=w) for w in LAZY_WIDTHS)


def preset_step_bytes() -> float:
    return step_bytes(R) + SEEDS * sum(step_bytes(1, m=w) for w in LAZY_WIDTHS)


def _clock():
    return time.perf_counter(), time.process_time()


def preset_times() -> dict:
    """{S: ([wall], [cpu])} of the full-mode preset at S steps, interleaved short/long."""
    out = {S_SHORT: ([], []), S_LONG: ([], [])}
    for _ in range(ROUNDS):
        for steps in (S_SHORT, S_LONG):
            with tempfile.TemporaryDirectory() as tmp:
                w0, c0 = _clock()
                run_preset("asym-simulated", tmp, full=True,
                           overrides=[f"steps={steps}", f"threads={PRESET_THREADS}", *QUICK_SWEEP],
                           progress=False)
                w1, c1 = _clock()
            out[steps][0].append(w1 - w0)
            out[steps][1].append(c1 - c0)
            print(f"  preset --full steps={steps}: {w1 - w0:.1f} s wall, {c1 - c0:.1f} s CPU", flush=True)
    return out


def _configs(seeds, steps=10):
    o = AsymSimulatedOptions(width=M, steps=steps, seeds=seeds, every=EVERY)
    return [base_config(o, alpha=a, gamma=g, width=M, steps=steps, seed=s, name=f"a{a:g}-g{g:g}-s{s}")
            for a, g in PAPER_CONFIGS for s in range(seeds)]


def bare_step(seeds, *, fused=True):
    """ntklab's stacked step as the training loop takes it, no probes or bookkeeping: fused, the loss and the GD step
    in the kernel's one call; with ``fused=False`` the unfused closed form (oneDNN's products and torch's
    elementwise passes) then the optimiser's step."""
    from ntklab.data import load_dataset
    from ntklab.dynamics._stacked import StackedModels
    from ntklab.nets import build_network
    from ntklab.optim import build_optimizer, plain_descent_lr

    cfgs = _configs(seeds)
    data = load_dataset(cfgs[0].data.name, **cfgs[0].data.options)
    models = [build_network(c.network, d=data.d, out_dim=1, seed=c.seed, dtype=torch.float32) for c in cfgs]
    st = StackedModels(models)
    opt = build_optimizer(st.param_list(), cfgs[0].optimizer)
    old, _shallow_grad.FUSED = _shallow_grad.FUSED, fused
    try:
        fast = _shallow_grad.ShallowMSEGradient(st, data.x_train.float(), data.y_train.float())
    finally:
        _shallow_grad.FUSED = old
    if fused and fast.fused is None:
        raise SystemExit(f"bench_e1: the fused step is not available here ({_relu_kernel.status()})")
    alive = torch.ones(st.R, dtype=torch.bool)
    lr = plain_descent_lr(opt, st.params["W"]) if fast.descends else None  # as the training loop decides

    def step():
        fast.loss_and_grad(alive)
        opt.step()

    def descend():
        fast.loss_and_descend(alive, math.inf, lr)

    return step if lr is None else descend


def kernel_call_alone(runs):
    """The fused kernel's one call (both passes and the loss between them) at the E1 shapes, through ctypes with
    no Python checks around it, storing the gradient (so W, and the timing, stay the same from call to call)."""
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(N, D, generator=g) / math.sqrt(D)
    k = _relu_kernel.FusedReLUStep((runs, M, D), xs, torch.randn(runs, M, generator=g), torch.randn(N, 1))
    W, grad = torch.randn(runs, M, D, generator=g), torch.empty(runs, M, D)
    alive, loss, ok = torch.ones(runs, dtype=torch.bool), torch.empty(runs), torch.empty(runs, dtype=torch.bool)
    k.scratch = torch.empty(THREADS * k.per_thread, dtype=torch.uint8)

    def call():
        k.lib.relu_step(W.data_ptr(), runs, M, D, N, k.XT.data_ptr(), k.npad, k.xs.data_ptr(), k.dpad, k.y.data_ptr(),
                        k.c.data_ptr(), alive.data_ptr(), math.inf, 2.0 / N, grad.data_ptr(), 0.0, loss.data_ptr(),
                        ok.data_ptr(), k.fpart.data_ptr(), k.bits.data_ptr(), k.scratch.data_ptr(),
                        torch.get_num_threads())

    return call


class PaperNet(torch.nn.Module):
    def __init__(self, lam, d, m, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.hidden = torch.nn.Linear(d, m, bias=False)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.randn(m, d, generator=g) * math.sqrt(2))
        self.register_buffer("s", lam.float().sqrt())
        self.register_buffer("u", (torch.randint(0, 2, (1, m), generator=g) * 2 - 1).float())
        self.d = d

    def forward(self, x):
        return (torch.relu(self.hidden(x * math.sqrt(1.0 / self.d))) * self.s) @ self.u.T


def _paper_run():
    from ntklab.data import load_dataset

    data = load_dataset("sphere_sin", n_train=N, n_test=N, d=D, noise=0.1, seed=0)
    x, y = data.x_train.float(), data.y_train.float()
    net = PaperNet(ntklab.node_scaling(M, kind="zipf", gamma=0.5, alpha=0.7), D, M, seed=0)
    return net, x, y


def paper_steps(threads: int):
    """``PAPER_STEPS`` GD steps of one authors'-style run at ``threads`` threads; returns seconds per step."""
    net, x, y = _paper_run()
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    mse = torch.nn.MSELoss()

    def run() -> float:
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            t0 = time.perf_counter()
            for _ in range(PAPER_STEPS):
                opt.zero_grad()
                mse(net(x), y).backward()
                opt.step()
            return (time.perf_counter() - t0) / PAPER_STEPS
        finally:
            torch.set_num_threads(old)

    return run


def paper_step_cpu_seconds() -> float:
    """Process CPU seconds per step of one authors' run at 1 thread (median of 3 x PAPER_STEPS steps): on a
    shared machine the steadier comparison with ntklab's CPU time per step."""
    run = paper_steps(1)
    ts = []
    for _ in range(3):
        c0 = time.process_time()
        run()
        ts.append((time.process_time() - c0) / PAPER_STEPS)
    return statistics.median(ts)


def paper_probe_seconds(threads: int) -> float:
    """The authors' NTK probe of one run: one backward per sample, J J^T, its spectrum (median of 3)."""
    net, x, _ = _paper_run()
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            rows = []
            for i in range(N):
                net.zero_grad()
                net(x[i:i + 1]).sum().backward()
                rows.append(net.hidden.weight.grad.flatten().clone())
            J = torch.stack(rows)
            torch.linalg.eigvalsh((J @ J.T).double())
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)
    finally:
        torch.set_num_threads(old)


def agreement() -> float:
    """Normwise relative difference of the float32 closed-form gradient and float64 autograd (20 E1 runs)."""
    from ntklab.data import load_dataset
    from ntklab.dynamics._stacked import StackedModels
    from ntklab.nets import build_network

    cfgs = _configs(SEEDS)
    data = load_dataset(cfgs[0].data.name, **cfgs[0].data.options)
    grads = {}
    for dtype in (torch.float32, torch.float64):
        st = StackedModels([build_network(c.network, d=data.d, out_dim=1, seed=c.seed, dtype=dtype) for c in cfgs])
        x, y = data.x_train.to(dtype), data.y_train.to(dtype)
        if dtype == torch.float64:
            ((st.forward(x) - y) ** 2).mean(dim=(1, 2)).sum().backward()
        else:
            _shallow_grad.ShallowMSEGradient(st, x, y).loss_and_grad(torch.ones(st.R, dtype=torch.bool))
        grads[dtype] = st.params["W"].grad.double()
    g32, g64 = grads[torch.float32], grads[torch.float64]
    return float(max((g32[r] - g64[r]).norm() / g64[r].norm() for r in range(R)))


def demo_times() -> tuple[float, float] | None:
    """(wall, user CPU) seconds of ``ntklab demo`` (default mode) in a fresh process, when BENCH_DEMO=1."""
    if os.environ.get("BENCH_DEMO", "") in ("", "0"):
        return None
    env = dict(os.environ, PYTHONPATH=os.environ.get("NTKLAB_SRC", str(ntklab.__file__).rsplit("/ntklab/", 1)[0]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ntklab", "demo", "--out", tmp, "--no-progress"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before


def _per_step(pt: dict, which: int) -> tuple[float, float]:
    """(seconds per step, one-off seconds) from the short and long preset runs (0: wall, 1: CPU)."""
    short, long_ = median(pt[S_SHORT][which]), median(pt[S_LONG][which])
    per_step = max(long_ - short, 0.0) / (S_LONG - S_SHORT)
    return per_step, max(short - per_step * S_SHORT, 0.0)


def _interleaved_steps() -> tuple[dict, dict, str]:
    """The bare steps, the kernel call alone, the unfused step and the authors' step, interleaved (ntklab's at the
    preset's thread count, the authors' at their own): (samples, the authors' medians, the faster authors' one)."""
    contenders = {"ntklab step, 20 runs": bare_step(SEEDS),
                  "ntklab kernel call alone, 20 runs": kernel_call_alone(R),
                  "ntklab unfused step, 20 runs": bare_step(SEEDS, fused=False),
                  "authors' step, 1 thread": paper_steps(1)}
    if THREADS > 1:
        contenders[f"authors' step, {THREADS} threads"] = paper_steps(THREADS)
    old = torch.get_num_threads()
    torch.set_num_threads(PRESET_THREADS)
    try:
        times = interleave(contenders, 5)
    finally:
        torch.set_num_threads(old)
    authors = {k: median(v) for k, v in times.items() if k.startswith("authors")}
    return times, authors, min(authors, key=authors.get)


def _paper_scale_rows(pt: dict, roof: dict, authors: dict, best_name: str, err: float) -> list[Row]:
    """The two paper-scale rows: the preset's path against the roofline, and the authors' loop against it."""
    step_w, fixed_w = _per_step(pt, 0)
    step_c, fixed_c = _per_step(pt, 1)
    total_w, total_c = fixed_w + step_w * STEPS, fixed_c + step_c * STEPS
    best_threads = 1 if best_name.endswith("1 thread") else THREADS
    p_step = authors[best_name]
    p_probe = paper_probe_seconds(best_threads)
    paper_total = R * (p_step * STEPS + (STEPS // EVERY + 1) * p_probe)
    p_cpu = paper_step_cpu_seconds()
    case = f"{R} runs x {STEPS} steps, m={M}"
    ratio = total_w / (roof["bound"] * STEPS)
    speed = paper_total / total_w
    return [
        Row("E1 paper scale", case, "ntklab demo --full (the preset's path)", total_w,
            ratio=ratio, target="<= 1.5 x roofline", met=verdict(ratio <= 1.5),
            note=(f"{step_w * 1e3:.2f} ms/step incl. the lazy sweep's 10 runs, probes and store (wall; CPU "
                  f"{step_c * 1e3:.2f}) + one-off {fixed_w:.0f} s, from preset runs of {S_SHORT} and {S_LONG} steps "
                  f"x {ROUNDS}; roofline of that step ({preset_step_flops() / 1e9:.2f} GFLOP) "
                  f"{roof['bound'] * 1e3:.2f} ms = {roof['bound'] * STEPS:.0f} s; of the 20 runs alone "
                  f"{roof['bound_main'] * 1e3:.2f} ms, {total_w / (roof['bound_main'] * STEPS):.2f} x (FLOP "
                  f"{roof['flop'] * 1e3:.2f} ms at {roof['rate'] / 1e9:.0f} GFLOP/s, {PRESET_THREADS} thread(s); "
                  f"memory {roof['mem'] * 1e3:.2f} ms at {roof['bw'] / 1e9:.1f} GB/s); on CPU time {total_c:.0f} s "
                  f"= {total_c / (roof['bound_cpu'] * STEPS):.2f} x the roofline at {roof['rate_cpu'] / 1e9:.0f} "
                  f"GFLOP/s per CPU second; float32 closed form vs float64 autograd {err:.1e}")),
        Row("E1 paper scale", case, "authors' loop (per run, autograd)", paper_total, ratio=total_w / paper_total,
            target=">= 3 x faster", met=verdict(speed >= 3),
            note=(f"{speed:.2f} x slower than ntklab; {best_name}: {p_step * 1e3:.2f} ms/step x {STEPS} x {R} "
                  f"runs + per-sample NTK {p_probe:.2f} s x {STEPS // EVERY + 1} probes x {R}; on CPU time "
                  f"(1 thread) {p_cpu * R * 1e3:.1f} ms per step of the 20 runs against ntklab's "
                  f"{step_c * 1e3:.2f} ms ({p_cpu * R / max(step_c, 1e-12):.1f} x)")),
    ]


def _core_rows(times: dict, authors: dict, best_name: str, roof: dict) -> list[Row]:
    """The bare step (20 runs), the kernel call alone and the unfused step against the roofline, and the authors'
    steps."""
    rows = []
    rate, bw = roof["rate"], roof["bw"]
    for label, runs, name in (("GD step of the demo and --full (20 runs)", R, "ntklab step, 20 runs"),
                              ("GD step of the demo and --full (20 runs)", R, "ntklab unfused step, 20 runs")):
        t = median(times[name])
        fb = max(step_flops(runs) / rate, step_bytes(runs) / bw)
        r = Row.timed("core: GD step", label, name, times, ratio=t / fb, target="ratio to roofline", met="-")
        r.note = (f"{step_flops(runs) / 1e9:.2f} GFLOP: roofline {fb * 1e3:.2f} ms at {PRESET_THREADS} thread(s); "
                  f"the authors' step x {runs} runs {authors[best_name] * runs * 1e3:.1f} ms "
                  f"({authors[best_name] * runs / t:.1f} x ntklab's)")
        if "unfused" in name:
            r.note += "; the fallback without AVX-512 or a C compiler (oneDNN's products, torch's elementwise passes)"
        rows.append(r)
    tp = median(times["ntklab kernel call alone, 20 runs"])
    rows.append(Row.timed("core: GD step", "GD step of the demo and --full (20 runs)",
                          "ntklab kernel call alone, 20 runs",
                          times, ratio=tp / (step_flops(R) / rate),
                          note=f"{step_flops(R) / tp / 1e9:.0f} GFLOP/s counted as dense products "
                               f"(the kernel: {_relu_kernel.status()})"))
    for name, t in authors.items():
        rows.append(Row.timed("core: GD step", "one authors' run", name, times,
                              note=f"x {R} runs = {t * R * 1e3:.1f} ms per step of the 20 runs"))
    return rows


def _roofline(rates: list[dict], bw: float) -> dict:
    """The roofline of a step of the preset's path (the R main runs and the lazy sweep's): the larger of FLOP time
    (at the best square GEMM rate measured) and memory time; also on CPU time (the rate per CPU second, what it is
    when the cores are not shared), and the R main runs' alone (``bound_main``)."""
    rate = max(r["best"] for r in rates)
    rate_cpu = max(r["best_cpu"] for r in rates)
    flop, mem = preset_step_flops() / rate, preset_step_bytes() / bw
    return {"rate": rate, "rate_cpu": rate_cpu, "bw": bw, "flop": flop, "mem": mem, "bound": max(flop, mem),
            "bound_cpu": max(preset_step_flops() / rate_cpu, mem),
            "bound_main": max(step_flops(R) / rate, step_bytes(R) / bw)}


def main():
    err = agreement()
    rates = gemm_rates(PRESET_THREADS)
    bw = bandwidth(PRESET_THREADS)
    print(f"GEMM at {PRESET_THREADS} thread(s): " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in rates.items())
          + f"; copy bandwidth {bw / 1e9:.1f} GB/s; float32 closed form vs float64 autograd {err:.1e}", flush=True)
    pt = preset_times()
    roof = _roofline([rates, gemm_rates(PRESET_THREADS)], bw)  # the rate before and after the preset runs
    times, authors, best_name = _interleaved_steps()
    rows = _paper_scale_rows(pt, roof, authors, best_name, err) + _core_rows(times, authors, best_name, roof)
    demo = demo_times()
    if demo is not None:
        rows.append(Row("E1 demo", "ntklab demo (default mode)", "fresh process", demo[0],
                        note=f"wall {demo[0]:.0f} s, user CPU {demo[1]:.0f} s"))
    save_rows(rows, "e1")
    return rows


if __name__ == "__main__":
    from _common import print_table

    print_table(main())
