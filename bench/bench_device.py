"""The kernels and one training step on CUDA against the CPU: wall times, ratios and agreement.

Cases (float32 networks, float64 kernels where the library computes them so):
- the shallow NTK Θ̂ (closed form, ReLU, NTK scaling) at m = 2000 hidden nodes, n = 100 / 1000 / 4000 points;
- the MLP NTK (depth 3, width 512, GELU) at n = 100 / 1000;
- the infinite-width depth-3 ReLU and erf NTK at n = 1000 / 4000;
- 20 full-batch E1 GD steps at m = 2000, n = 5000 through the training loop (its closed-form gradient).

Each time is the median of 5 timed calls after 2 warm-up calls, with ``torch.cuda.synchronize()`` around each
call.  Agreement: the largest entrywise difference between the CUDA and CPU results relative to the largest
entry of the CPU result (float64 kernels should agree to ~1e-12; float32 ones to ~1e-5).

Usage: ``python bench/bench_device.py [--out FILE.md] [--quick]``; exits 2 when torch sees no CUDA device.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("NTKLAB_SRC", str(Path(__file__).resolve().parents[1] / "src")))

import torch  # noqa: E402

import ntklab  # noqa: E402


def timed(fn, device: torch.device, repeats: int = 5, warmup: int = 2) -> tuple[float, object]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def sphere(n: int, d: int, device, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=torch.float64, device="cpu")
    return torch.nn.functional.normalize(x, dim=1).to(device=device, dtype=dtype)


def cases(quick: bool):
    ns = [100, 1000] if quick else [100, 1000, 4000]
    for n in ns:
        yield (f"shallow NTK m=2000 n={n}", lambda dev, n=n: (
            lambda net=ntklab.ScaledShallowNet(50, 2000, seed=0).to(dev), x=sphere(n, 50, dev):
            ntklab.empirical_ntk(net, x)))
    for n in ns[:2]:
        yield (f"MLP NTK depth 3 width 512 gelu n={n}", lambda dev, n=n: (
            lambda net=ntklab.MLP(50, [512, 512], activation="gelu", seed=0).to(dev), x=sphere(n, 50, dev):
            ntklab.empirical_ntk(net, x)))
    for act in ("relu", "erf"):
        for n in ns[1:]:
            yield (f"infinite NTK depth 3 {act} n={n}", lambda dev, n=n, act=act: (
                lambda x=sphere(n, 50, dev, torch.float64): ntklab.infinite_kernel(x, depth=3, activation=act)))
    yield ("E1 20 GD steps m=2000 n=5000 (loop, probes off)", e1_step)


def e1_step(dev):
    from ntklab.dynamics import ListSink, LoopRun, train_group

    cfg = ntklab.RunConfig(network={"width": 2000, "scaling": {"kind": "zipf", "gamma": 0.5}},
                           data={"name": "sphere_sin", "options": {"n_train": 5000, "n_test": 100, "d": 50}},
                           training={"steps": 20}, probes={"every": 10_000, "ntk": False, "top_nodes": 0},
                           device=str(dev))
    data = ntklab.load_dataset(cfg.data.name, **cfg.data.options)

    def run():
        sink = ListSink()
        train_group([LoopRun(cfg)], data, sink)
        return torch.tensor([r[3] for r in sink.results[0].rows if r[1] == "train_risk"], device="cpu")

    return run


def agreement(a, b) -> float:
    a, b = a.detach().to("cpu", torch.float64), b.detach().to("cpu", torch.float64)
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cuda", help="the device against the CPU (cpu: a smoke run of the script)")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device visible to torch: install the CUDA build of torch (README, 'On a GPU')")
        return 2
    cuda, cpu = torch.device(args.device), torch.device("cpu")
    name = torch.cuda.get_device_name(cuda) if cuda.type == "cuda" else "cpu"
    lines = [f"device: {name}, CUDA {torch.version.cuda}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} CPU threads", "",
             f"| case | CPU s | {args.device} s | CPU / {args.device} | max rel. difference |",
             "|---|---:|---:|---:|---:|"]
    for case, make in cases(args.quick):
        t_cpu, r_cpu = timed(make(cpu), cpu, repeats=3, warmup=1)
        t_gpu, r_gpu = timed(make(cuda), cuda)
        diff = agreement(r_gpu, r_cpu)
        lines.append(f"| {case} | {t_cpu:.4g} | {t_gpu:.4g} | {t_cpu / t_gpu:.1f}x | {diff:.1e} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
