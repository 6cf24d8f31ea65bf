"""neural-tangents on the GPU, on the cases of bench_device.py (run by bench/gpu_check.sh in a JAX-CUDA venv).

Times (median of 5 after 2 warm-ups, ``block_until_ready``) of the empirical NTK of a shallow ReLU network
(m = 2000) and of a depth-3 GELU MLP (width 512), and of the infinite-width depth-3 ReLU / erf NTK, in float32
(JAX's default) for the empirical kernels and float64 for the infinite ones, as ntklab computes them.
Put beside bench_device.py's CUDA column, the ratio is ntklab's time over neural-tangents'.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import neural_tangents as nt  # noqa: E402
from neural_tangents import stax  # noqa: E402


def timed(fn, repeats=5, warmup=2) -> float:
    for _ in range(warmup):
        jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sphere(n, d, dtype):
    x = jax.random.normal(jax.random.PRNGKey(0), (n, d), dtype=jnp.float64)
    return (x / jnp.linalg.norm(x, axis=1, keepdims=True)).astype(dtype)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    ns = [100, 1000] if args.quick else [100, 1000, 4000]
    lines = [f"neural-tangents {nt.__version__}, JAX {jax.__version__}, {jax.devices()[0].device_kind}", "",
             f"| case | neural-tangents {jax.default_backend()} s |", "|---|---:|"]
    shallow_init, shallow_f, _ = stax.serial(stax.Dense(2000, parameterization="ntk"), stax.Relu(),
                                             stax.Dense(1, parameterization="ntk"))
    mlp_init, mlp_f, _ = stax.serial(stax.Dense(512), stax.Gelu(), stax.Dense(512), stax.Gelu(), stax.Dense(1))
    for name, init, f, cases in (("shallow NTK m=2000", shallow_init, shallow_f, ns),
                                 ("MLP NTK depth 3 width 512 gelu", mlp_init, mlp_f, ns[:2])):
        _, params = init(jax.random.PRNGKey(1), (-1, 50))
        kfn = jax.jit(nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0,
                                          implementation=nt.NtkImplementation.STRUCTURED_DERIVATIVES))
        for n in cases:
            x = sphere(n, 50, jnp.float32)
            lines.append(f"| {name} n={n} | {timed(lambda: kfn(x, None, params)):.4g} |")
            print(lines[-1], flush=True)
    for act_name, act in (("relu", stax.Relu()), ("erf", stax.Erf())):
        _, _, kernel_fn = stax.serial(stax.Dense(1), act, stax.Dense(1), act, stax.Dense(1), act, stax.Dense(1))
        kfn = jax.jit(kernel_fn, static_argnames="get")
        for n in ns[1:]:
            x = sphere(n, 50, jnp.float64)
            lines.append(f"| infinite NTK depth 3 {act_name} n={n} | {timed(lambda: kfn(x, None, get='ntk')):.4g} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
