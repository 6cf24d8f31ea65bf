"""Generic empirical NTK of an MLP (depth 3, width 512, ReLU, n = 1000, d = 50, f32, all parameters trained).

torch side: an ``nn.Sequential`` in the NTK parameterisation (a scaling W_std / sqrt(fan_in) before each
``nn.Linear``; weights and biases N(0, 1), b_std = 1), through ``ntklab.empirical_ntk`` (any nn.Module): the
default (``implementation="auto"``: the structured per-layer Grams, checked against per-example autodiff on two
inputs) and, for reference, the Jacobian contraction.  Peer: neural-tangents
``empirical_ntk_fn`` implementations 1, 2, 3 (jitted, vmap_axes=0) on the equivalent ``stax`` model carrying
the same weights.  Target: ntklab <= 1.0 x neural-tangents' best.
"""

from __future__ import annotations

import math
import time

import numpy as np

from _common import INPUTS, QUICK, Row, interleave, median, peak_memory_mb, save_rows, setup_torch, verdict
from _peers import start_peer

torch = setup_torch()
import ntklab  # noqa: E402

D, WIDTH, DEPTH, N = 50, 512, 3, (300 if QUICK else 1000)
W_STD, B_STD = math.sqrt(2.0), 1.0
REPEATS = 3


class Scale(torch.nn.Module):
    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def forward(self, x):
        return x * self.c


def ntk_mlp(seed=0) -> torch.nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    layers, fan_in = [], D
    for i in range(DEPTH + 1):
        out = 1 if i == DEPTH else WIDTH
        lin = torch.nn.Linear(fan_in, out)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(out, fan_in, generator=g))
            lin.bias.copy_(torch.randn(out, generator=g) * B_STD)
        layers += [Scale(W_STD / math.sqrt(fan_in)), lin]
        if i < DEPTH:
            layers.append(torch.nn.ReLU())
        fan_in = out
    return torch.nn.Sequential(*layers)


def main():
    model = ntk_mlp()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, D, generator=g)
    INPUTS.mkdir(parents=True, exist_ok=True)
    px, pp = str(INPUTS / "mlp_x.npy"), str(INPUTS / "mlp_params.npz")
    np.save(px, x.numpy())
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    np.savez(pp, **{f"W{i}": m.weight.detach().T.contiguous().numpy() for i, m in enumerate(lins)},
             **{f"b{i}": m.bias.detach().numpy() for i, m in enumerate(lins)})
    ours = ntklab.empirical_ntk(model, x, implementation="structured")
    case = f"depth {DEPTH}, width {WIDTH}, n={N}"
    contenders = {"ntklab structured": lambda: ntklab.empirical_ntk(model, x)}  # the default: auto -> structured
    mlp = getattr(ntklab, "MLP", None)
    if mlp is not None:  # ntklab's own MLP (NTK parameterisation, bias, same shape; its own initialisation)
        own = mlp(D, [WIDTH] * DEPTH, 1, parameterization="ntk", bias=True, seed=0)
        contenders["ntklab.MLP (layer-wise)"] = lambda: ntklab.empirical_ntk(own, x)
    peaks = {"ntklab structured": peak_memory_mb(contenders["ntklab structured"])}
    errs, notes = {}, {}
    peer, why = start_peer()
    try:
        if peer is not None:
            for impl in (1, 2, 3):
                name = f"nt impl {impl}"
                out = str(INPUTS / f"mlp_out{impl}.npy")
                try:
                    info = peer.prepare(f"mlp-{impl}", "mlp_ntk", impl=impl, x=px, params=pp, depth=DEPTH,
                                        width=WIDTH, w_std=W_STD, b_std=B_STD, out=out)
                except Exception as exc:  # noqa: BLE001 - reported in the table
                    notes[name] = f"failed: {str(exc)[:60]}"
                    continue
                a = np.load(out).astype(np.float64)
                errs[name] = float(np.abs(a - ours.double().numpy()).max() / np.abs(a).max())
                peaks[name] = info["peak_mb"]
                notes[name] = f"compile+first call {info['compile_s']:.2f} s"
                contenders[name] = peer.timer(f"mlp-{impl}")
        times = interleave(contenders, REPEATS)
    finally:
        if peer is not None:
            peer.close()
    jac = lambda: ntklab.empirical_ntk(model, x, implementation="jacobian")  # noqa: E731
    t0 = time.perf_counter()
    ref = jac()
    first = time.perf_counter() - t0
    errs["ntklab structured"] = float((ours - ref).abs().max() / ref.abs().max())
    if mlp is not None:
        a = ntklab.empirical_ntk(own, x)
        b = ntklab.empirical_ntk(own, x, method="generic", implementation="structured")
        errs["ntklab.MLP (layer-wise)"] = float((a - b).abs().max() / b.abs().max())
        notes["ntklab.MLP (layer-wise)"] = "ntklab.MLP(50, [512]*3, 1, 'ntk', bias), its own init: not vs nt"
    times["ntklab jacobian contraction"] = [first] + [_t(jac) for _ in range(2)]
    notes["ntklab jacobian contraction"] = "3 calls, the first included (each takes seconds)"
    peer_names = [k for k in times if k.startswith("nt impl")]
    best = min(peer_names, key=lambda k: median(times[k])) if peer_names else None
    t_ours = median(times["ntklab structured"])
    rows = []
    for name, ts in times.items():
        r = Row("generic empirical NTK (MLP)", case, name, median(ts), ts, peaks.get(name, float("nan")),
                util=times.util.get(name, float("nan")), reruns=times.reruns)
        note = notes.get(name, "")
        if name in errs:
            note = (note + "; " if note else "") + f"max rel diff {'to jacobian' if name.startswith('ntklab') else 'to ntklab'} {errs[name]:.1e}"
        r.note = note
        if name == "ntklab structured":
            r.ratio = t_ours / median(times[best]) if best else float("nan")
            r.target = "<= 1.0 x nt best"
            r.met = verdict(r.ratio <= 1.0 if best else None)
            r.note = (f"vs {best}; " if best else f"no peer ({why}); ") + note
        else:
            r.ratio = t_ours / median(ts)
        rows.append(r)
    for name, note in notes.items():
        if name not in times:
            rows.append(Row("generic empirical NTK (MLP)", case, name, float("nan"), note=note))
    save_rows(rows, "generic_ntk")
    return rows


def _t(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    from _common import print_table

    print_table(main())
