"""Function-space prediction vs stepping the linearised network (Bu et al.'s optimisers, MSE).

After one eigendecomposition of the n x n kernel (O(n^3)), the per-mode recursions give the loss at every one
of 10^5 steps in O(n) per step; the linearised network needs a jvp and a vjp through the whole network per
step.  Prints the times and their ratio (the linearised model is stepped ``--lin-steps`` times and the time is
extrapolated linearly to ``--steps``; the first ``--lin-steps`` losses of both are checked to agree).

Wall and process CPU times are printed: on a shared machine the CPU time is the steadier of the two.

    python bench/bench_predictions.py [--n 1000] [--steps 100000] [--width 2000] [--d 20] [--lin-steps 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import ntklab
from ntklab.data import uniform_sphere
from ntklab.dynamics import FunctionSpaceModes, HeavyBall, LinearizedNetwork, train_full_batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d", type=int, default=20)
    ap.add_argument("--width", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--lin-steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    g = torch.Generator().manual_seed(args.seed)
    x = uniform_sphere(args.n, args.d, generator=g)
    y = torch.randint(0, 2, (args.n, 1), generator=g).to(torch.float64) * 2 - 1
    net = ntklab.ScaledShallowNet(args.d, args.width, seed=args.seed, dtype=torch.float64,
                                  weight_std=float(np.sqrt(args.d)))
    t = time.perf_counter()
    theta = ntklab.empirical_ntk(net, x)
    t_kernel = time.perf_counter() - t
    with torch.no_grad():
        e0 = net(x) - y
    t = time.perf_counter()
    modes = FunctionSpaceModes(theta, e0)
    t_eig = time.perf_counter() - t
    lr = 1.0 / modes.lambda_max
    beta_hb = 1 - 2 * np.sqrt(lr * modes.lambda_min)
    root = np.sqrt(lr * modes.lambda_min)
    momenta = {"gd": 0.0, "heavy_ball": beta_hb, "nag": 0.0, "nag_sc": (1 - root) / (1 + root)}
    print(f"n = {args.n}, m = {args.width}, d = {args.d}; kernel {t_kernel:.3f} s, eigendecomposition "
          f"{t_eig:.3f} s; eta = {lr:.4g}, kappa = {modes.lambda_max / modes.lambda_min:.3g}")
    pred_times = {}
    for method, beta in momenta.items():
        t, c = time.perf_counter(), time.process_time()
        pred = modes.discrete(method, lr=lr, momentum=beta, steps=args.steps)
        pred_times[method] = time.perf_counter() - t
        print(f"  prediction {method:>10s}: {args.steps} steps in {pred_times[method]:.3f} s wall, "
              f"{time.process_time() - c:.3f} s CPU (final loss {pred.loss[-1]:.3g})")

    lin = LinearizedNetwork(net)
    opt = HeavyBall(lin.parameters(), lr=lr, momentum=beta_hb)
    t, c = time.perf_counter(), time.process_time()
    losses = train_full_batch(lin, x, y, opt, steps=args.lin_steps)
    t_lin, c_lin = time.perf_counter() - t, time.process_time() - c
    ref = modes.discrete("heavy_ball", lr=lr, momentum=beta_hb, steps=args.lin_steps).loss
    agree = float(np.max(np.abs(np.sqrt(losses) - np.sqrt(ref))) / np.sqrt(ref[0]))
    per_step = t_lin / args.lin_steps
    t_lin_full = per_step * args.steps
    print(f"  linearised net, heavy ball: {args.lin_steps} steps in {t_lin:.3f} s ({1e3 * per_step:.2f} ms/step) "
          f"({c_lin:.3f} s CPU) -> {args.steps} steps ~ {t_lin_full:.1f} s; max |sqrt L - sqrt L^| / sqrt L0 = {agree:.1e}")
    hb = pred_times["heavy_ball"]
    print(f"ratio (linearised stepping / prediction, heavy ball, {args.steps} steps): {t_lin_full / hb:.0f}x; "
          f"with the eigendecomposition included: {t_lin_full / (hb + t_eig):.0f}x")


if __name__ == "__main__":
    main()
