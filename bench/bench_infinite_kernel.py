"""Time the analytic depth-10 ReLU NTK on n = 4000 inputs of d = 50 (float64), ntklab alone.

The comparison with neural-tangents' stax kernel_fn lives in the peers benchmark; this script prints ntklab's time
(best of ``--repeat``) for 1 and 2 torch threads, and checks the result against a plain unblocked recursion.

    python bench/bench_infinite_kernel.py [--n 4000] [--d 50] [--depth 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from ntklab import infinite_kernel


def _plain_relu_ntk(x, depth, wv, bv):
    """The textbook recursion on the whole matrix, no blocks: an independent check of the result."""
    d = x.shape[1]
    sigma = x @ x.T / d
    theta = torch.zeros_like(sigma)
    for _ in range(depth):
        lam = wv * sigma + bv
        theta = wv * theta + lam
        q = torch.sqrt(torch.diagonal(lam))
        rho = (lam / (q[:, None] * q[None, :])).clamp(-1, 1)
        rho.fill_diagonal_(1.0)  # x with itself: exactly 1 (rounding would put arccos ~1e-8 off)
        t = torch.arccos(rho)
        sigma = q[:, None] * q[None, :] * (torch.sin(t) + (math.pi - t) * rho) / (2 * math.pi)
        theta = theta * (math.pi - t) / (2 * math.pi)
    return wv * theta + wv * sigma + bv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--d", type=int, default=50)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    x = torch.randn(args.n, args.d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    kw = dict(depth=args.depth, activation="relu", kind="ntk", weight_var=2.0, bias_var=0.1)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for block in (512, 1024, 2048):
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                infinite_kernel(x, block_size=block, **kw)
                best = min(best, time.perf_counter() - t0)
            print(f"ntklab infinite_kernel relu NTK depth={args.depth} n={args.n} d={args.d} threads={threads} "
                  f"block_size={block}: {best:.2f} s (best of {args.repeat})", flush=True)
    ref = _plain_relu_ntk(x[:500], args.depth, 2.0, 0.1)
    err = float((infinite_kernel(x[:500], **kw) - ref).abs().max() / ref.abs().max())
    print(f"check against the unblocked recursion (n=500): max relative difference {err:.1e}")


if __name__ == "__main__":
    main()
