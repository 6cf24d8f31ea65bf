r"""The 1-d width sweep: for each target, width m and seed, train f = c sum_r a_r sigma(w_r x + b_r) by GD on the
quadrature L2 loss and measure everything as tidy frames (one call; all targets x seeds of one width are one
stacked program).

Returned frames:
  ``errors``       target, m, seed, error = ||f_T - f||_{L2}, rel_error, weight_change, lr, status, steps_run
  ``splines``      target, m, method ('interpolant' | 'projection'), error, rel_error (same quadrature)
  ``curves``       target, m, seed, step, rel_error
  ``breakpoints``  target, m, seed, phase ('init' | 'final'), t = -b_r / w_r
  ``ntk``          target, m, phase, index, eigenvalue (seed 0, widths in ``ntk_widths``)

Example:
    >>> from ntklab.approximation import make_target, width_sweep
    >>> out = width_sweep([make_target("gaussian")], [8, 16], seeds=1, steps=50, n_quad=200)
    >>> sorted(out)
    ['breakpoints', 'curves', 'errors', 'ntk', 'splines']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .._threads import torch_threads
from ._gd import gd_train
from ._measures import ntk_spectrum, relative_weight_change
from ._net1d import PARAMS, check_trainable, init_params
from ._quadrature import gauss_legendre
from ._splines import spline_errors
from ._stack import NetStack

__all__ = ["width_sweep"]


def width_sweep(targets, widths, *, seeds: int = 3, steps: int = 10_000, n_quad: int = 2000, lr_factor: float = 0.5,
                every: int = 500, tol: float = 0.0, scaling: str = "ntk", trainable=PARAMS,
                breakpoints: str = "uniform", output: str = "symmetric", activation: str = "relu",
                ntk_widths=(), progress=None) -> dict[str, pd.DataFrame]:
    trainable = check_trainable(trainable)
    quads = {f.name: gauss_legendre(n_quad, breaks=f.singularities) for f in targets}
    errors, curves, bps, ntk = [], [], [], []
    for m in widths:
        combos = [(f, s) for f in targets for s in range(seeds)]
        ps = [init_params(int(m), seed=1000 * s + int(m), scaling=scaling, breakpoints=breakpoints, output=output)
              for _, s in combos]
        stack = NetStack.from_params(ps, [quads[f.name] for f, _ in combos], activation=activation,
                                     trainable=trainable)
        y = np.stack([f(quads[f.name].x).numpy() for f, _ in combos])
        y = torch.from_numpy(y)
        res = gd_train(stack, y, steps=steps, lr_factor=lr_factor, every=every, tol=tol)
        change = relative_weight_change(res.init, res.params, stack.mask, trainable)
        for b, (f, s) in enumerate(combos):
            fnorm = float(quads[f.name].norm(y[b]))
            rel = float(res.curves[res.curves.net == b].rel_error.iloc[-1])
            errors.append({"target": f.name, "m": int(m), "seed": s, "error": rel * fnorm, "rel_error": rel,
                           "weight_change": float(change[b]), "lr": float(res.lr[b]), "status": res.status[b],
                           "steps_run": int(res.steps_run[b])})
            cb = res.curves[res.curves.net == b]
            curves.append(pd.DataFrame({"target": f.name, "m": int(m), "seed": s, "step": cb.step.values,
                                        "rel_error": cb.rel_error.values}))
            for phase, P in (("init", res.init), ("final", res.params)):
                t = (-P["b"][b, :m] / P["w"][b, :m]).numpy()
                bps.append(pd.DataFrame({"target": f.name, "m": int(m), "seed": s, "phase": phase, "t": t}))
                if s == 0 and int(m) in set(ntk_widths):
                    one = {k: P[k][b, :m] for k in PARAMS} | {"c": stack.c[b, 0]}
                    with torch_threads(1):
                        ev = ntk_spectrum(one, quads[f.name], activation=activation, trainable=trainable)
                    ntk.append(pd.DataFrame({"target": f.name, "m": int(m), "phase": phase,
                                             "index": np.arange(1, ev.size + 1), "eigenvalue": ev}))
        if progress is not None:
            progress(int(m))
    splines = pd.concat([spline_errors(f, widths, quads[f.name]).assign(target=f.name) for f in targets],
                        ignore_index=True)
    cat = lambda parts, cols: pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)  # noqa
    return {"errors": pd.DataFrame(errors), "splines": splines,
            "curves": cat(curves, ["target", "m", "seed", "step", "rel_error"]),
            "breakpoints": cat(bps, ["target", "m", "seed", "phase", "t"]),
            "ntk": cat(ntk, ["target", "m", "phase", "index", "eigenvalue"])}
