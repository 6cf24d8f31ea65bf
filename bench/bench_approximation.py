"""The 1-d approximation step: the node-sum gradient (NetStack.loss_and_grad, O(n + m log n)) against the segment
sums (SegmentLoss, O(m) once the breakpoints are located), CPU time per GD step of one stack of 3 targets x 3
seeds, for several widths, on the 2000-node quadrature of approximation-1d; then every default width in one padded
stack (as width_sweep trains them).

Run: ``.venv/bin/python bench/bench_approximation.py``.  Prints one line per width (process CPU time, one
thread; the shared machine's wall time is not a measure).  Not part of ``run_all``'s SCRIPTS.
"""

from __future__ import annotations

import time

import torch

from ntklab.approximation import NetStack, SegmentLoss, gauss_legendre, init_params, make_target


def _stack(*widths: int):
    targets = [make_target(n) for n in ("gaussian", "cusp", "jump")]
    quads = {f.name: gauss_legendre(2000, breaks=f.singularities) for f in targets}
    combos = [(f, s, m) for m in widths for f in targets for s in range(3)]
    st = NetStack.from_params([init_params(m, seed=1000 * s + m) for _, s, m in combos],
                              [quads[f.name] for f, _, _ in combos])
    return st, torch.stack([f(quads[f.name].x) for f, _, _ in combos])


def _per_step(step, n: int) -> float:
    step()
    t = time.process_time()
    for _ in range(n):
        step()
    return (time.process_time() - t) / n * 1e3


def main() -> None:
    torch.set_num_threads(1)
    print("width  node-sums ms/step  segment sums ms/step  (9 nets, GD steps at lr 0.5 / lambda_max)")
    for m in (16, 64, 256, 512):
        st, y = _stack(m)
        eta = (0.5 / st.top_eigenvalue(st.params))[:, None]
        for name, make in (("node", lambda: (lambda p: st.loss_and_grad(p, y))),
                           ("segment", lambda: SegmentLoss(st, y).loss_and_grad)):
            grad_fn, p = make(), {k: v.clone() for k, v in st.params.items()}

            def step():
                _, g = grad_fn(p)
                for k in ("a", "w", "b"):
                    p[k] = p[k] - eta * g[k]

            _per_step(step, 200)  # past the first, fast-moving steps
            if name == "node":
                node = _per_step(step, 300)
            else:
                print(f"{m:5d}  {node:17.3f}  {_per_step(step, 300):20.3f}", flush=True)
    widths = (8, 16, 32, 64, 128)
    st, y = _stack(*widths)
    eta = (0.5 / st.top_eigenvalue(st.params))[:, None]
    grad_fn, p = SegmentLoss(st, y).loss_and_grad, {k: v.clone() for k, v in st.params.items()}

    def step_all():
        _, g = grad_fn(p)
        for k in ("a", "w", "b"):
            p[k] = p[k] - eta * g[k]

    _per_step(step_all, 200)
    print(f"widths {list(widths)} in one padded stack ({st.mask.shape[0]} nets, the default rate runs): "
          f"{_per_step(step_all, 300):.3f} ms/step (segment sums)", flush=True)


if __name__ == "__main__":
    main()
