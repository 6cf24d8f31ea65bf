"""Infinite-width NTK of a deep ReLU MLP: ``ntklab.infinite_kernel`` vs neural-tangents ``stax`` ``kernel_fn``.

Depth (hidden layers) 1, 3, 10; n = 1000 and 4000 inputs of d = 50; W_std = sqrt(2), b_std = 0.1 (weight_var 2,
bias_var 0.01), NTK parameterisation.  ntklab computes in float64, so neural-tangents runs with x64 enabled
(same inputs, same dtype).  neural-tangents' time is after jit compilation; its compile + first call is in the
note.  Target: ntklab <= 0.5 x neural-tangents.
"""

from __future__ import annotations

import math

import numpy as np

from _common import INPUTS, QUICK, Row, interleave, median, peak_memory_mb, save_rows, setup_torch, verdict
from _peers import start_peer

torch = setup_torch()
import ntklab  # noqa: E402

D = 50
DEPTHS = (1, 3, 10)
NS = (1000,) if QUICK else (1000, 4000)
W_STD, B_STD = math.sqrt(2.0), 0.1
# samples per contender: 3 left the depth-1 n = 1000 row (calls of 6-13 ms) at ratios 0.37 and 0.56 in two idle
# runs, a median of 3 moving with one slow sample; 7 there, 5 for n = 4000 (calls of 0.1-2.4 s)
REPEATS = {1000: 7, 4000: 5}


def main():
    fn = ntklab.infinite_kernel
    rows = []
    peer, why = start_peer()
    try:
        for n in NS:
            g = torch.Generator().manual_seed(n)
            x = torch.randn(n, D, generator=g, dtype=torch.float64)
            px = str(INPUTS / f"inf_x_{n}.npy")
            INPUTS.mkdir(parents=True, exist_ok=True)
            np.save(px, x.numpy())
            for depth in DEPTHS:
                case = f"depth {depth}, n={n}"
                call = lambda: fn(x, depth=depth, activation="relu", kind="ntk", weight_var=W_STD**2,  # noqa: E731
                                  bias_var=B_STD**2, parameterization="ntk")
                ours = call()
                contenders = {"ntklab": call}
                peak = peak_memory_mb(call)
                note, err, info = "", float("nan"), None
                if peer is not None:
                    out = str(INPUTS / f"inf_out_{n}_{depth}.npy")
                    try:
                        info = peer.prepare(case, "stax_kernel", x=px, depth=depth, w_std=W_STD, b_std=B_STD,
                                            x64=True, out=out)
                        ref = np.load(out)
                        err = float(np.abs(ours.numpy() - ref).max() / np.abs(ref).max())
                        contenders["nt stax kernel_fn"] = peer.timer(case)
                    except Exception as exc:  # noqa: BLE001
                        note = f"neural-tangents failed: {str(exc)[:60]}"
                times = interleave(contenders, REPEATS.get(n, 5))
                if peer is not None and info is not None:
                    peer.drop(case)
                t = median(times["ntklab"])
                r = Row.timed("infinite-width NTK", case, "ntklab", times, peak_mb=peak, target="<= 0.5 x nt")
                if "nt stax kernel_fn" in times:
                    tp = median(times["nt stax kernel_fn"])
                    r.ratio = t / tp
                    r.met = verdict(r.ratio <= 0.5)
                    r.note = f"max rel diff to nt {err:.1e}; float64 both"
                    rows.append(r)
                    rows.append(Row("infinite-width NTK", case, "nt stax kernel_fn", tp, times["nt stax kernel_fn"],
                                    info["peak_mb"], ratio=t / tp,
                                    note=f"after jit; compile+first call {info['compile_s']:.2f} s"))
                else:
                    r.note = note or f"no peer: {why}"
                    rows.append(r)
    finally:
        if peer is not None:
            peer.close()
    save_rows(rows, "infinite")
    return rows


if __name__ == "__main__":
    from _common import print_table

    print_table(main())
