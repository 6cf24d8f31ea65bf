r"""The 1-d width sweep: for each target, width m and seed, train f = c sum_r a_r sigma(w_r x + b_r) by GD on the
quadrature L2 loss and measure everything as tidy frames (one call; all targets x seeds of one width are one
stacked program).

Returned frames:
  ``errors``       target, m, seed, error = ||f_T - f||_{L2}, rel_error, weight_change, lr, status, steps_run,
                   time_run (the gradient-flow time sum_t eta_t at the stop), init_norm ||theta_0|| (trained weights),
                   loss0 = L(theta_0)
  ``splines``      target, m, method ('interpolant' | 'projection'), error, rel_error (same quadrature)
  ``curves``       target, m, seed, step, time (sum_t eta_t), rel_error
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
from ._descent import tail_drop
from ._gd import gd_train
from ._measures import ntk_spectrum, relative_weight_change
from ._net1d import PARAMS, check_trainable, init_params
from ._quadrature import gauss_legendre
from ._splines import spline_errors
from ._stack import NetStack

__all__ = ["width_sweep"]


def width_sweep(targets, widths, *, seeds: int = 3, steps: int = 10_000, n_quad: int = 2000, lr_factor=0.5,
                every: int = 500, tol: float = 0.0, on_rise: str = "stop", scaling: str = "ntk", trainable=PARAMS,
                breakpoints: str = "uniform", output: str = "symmetric", activation: str = "relu",
                ntk_widths=(), spline_knots=(), progress=None) -> dict[str, pd.DataFrame]:
    """``lr_factor``: one factor, or a list (a step-size sweep: every target x seed x factor, column ``lr_factor``;
    the nets of one target and seed share their initialisation).  ``steps``: the budget (one, or a dict
    width -> budget) of the largest factor; a smaller factor f gets steps * max(factors) / f, the same
    gradient-flow time eta * steps.  The spline baselines use the knot counts ``widths`` and ``spline_knots``."""
    trainable = check_trainable(trainable)
    factors = [float(v) for v in (lr_factor if isinstance(lr_factor, (list, tuple)) else [lr_factor])]
    quads = {f.name: gauss_legendre(n_quad, breaks=f.singularities) for f in targets}
    errors, curves, bps, ntk = [], [], [], []
    # every width x target x seed x factor is one stacked program (padded to the largest width): the step's cost
    # is mostly per-operation overhead, so one stack of all widths costs about what one width did
    combos = [(int(m), f, s, lf) for m in widths for f in targets for s in range(seeds) for lf in factors]
    ps = [init_params(m, seed=1000 * s + m, scaling=scaling, breakpoints=breakpoints, output=output)
          for m, _, s, _ in combos]
    stack = NetStack.from_params(ps, [quads[f.name] for _, f, _, _ in combos], activation=activation,
                                 trainable=trainable)
    y = torch.from_numpy(np.stack([f(quads[f.name].x).numpy() for _, f, _, _ in combos]))
    budgets = [int(round(int(steps[m] if isinstance(steps, dict) else steps) * max(factors) / lf))
               for m, _, _, lf in combos]
    res = gd_train(stack, y, steps=budgets, lr_factor=[lf for *_, lf in combos], every=every, tol=tol,
                   on_rise=on_rise)
    change = relative_weight_change(res.init, res.params, stack.mask, trainable)
    init_norm = torch.sqrt(sum(((res.init[k] * stack.mask) ** 2).sum(1) for k in trainable))
    for b, (m, f, s, lf) in enumerate(combos):
        fnorm = float(quads[f.name].norm(y[b]))
        rel = float(res.rel_error[b])
        cb = res.curves[res.curves.net == b]
        errors.append({"target": f.name, "m": m, "seed": s, "lr_factor": lf, "error": rel * fnorm,
                       "rel_error": rel, "weight_change": float(change[b]), "lr": float(res.lr[b]),
                       "lr_final": float(res.lr_final[b]), "halvings": int(res.halvings[b]),
                       "status": res.status[b], "steps_run": int(res.steps_run[b]), "budget": budgets[b],
                       "time_run": float(cb.time.iloc[-1]), "init_norm": float(init_norm[b]),
                       "loss0": 0.5 * (float(cb.rel_error.iloc[0]) * fnorm) ** 2,
                       "tail_drop": tail_drop(cb.step, cb.rel_error ** 2)})
        curves.append(pd.DataFrame({"target": f.name, "m": m, "seed": s, "lr_factor": lf,
                                    "step": cb.step.values, "time": cb.time.values,
                                    "rel_error": cb.rel_error.values}))
        if lf != factors[0]:
            continue  # breakpoints and spectra of the first (reference) step size only
        for phase, P in (("init", res.init), ("final", res.params)):
            t = (-P["b"][b, :m] / P["w"][b, :m]).numpy()
            bps.append(pd.DataFrame({"target": f.name, "m": m, "seed": s, "phase": phase, "t": t}))
            if s == 0 and m in set(ntk_widths):
                one = {k: P[k][b, :m] for k in PARAMS} | {"c": stack.c[b, 0]}
                with torch_threads(1):
                    ev = ntk_spectrum(one, quads[f.name], activation=activation, trainable=trainable)
                ntk.append(pd.DataFrame({"target": f.name, "m": m, "phase": phase,
                                         "index": np.arange(1, ev.size + 1), "eigenvalue": ev}))
    if progress is not None:
        for m in widths:
            progress(int(m))
    knots = sorted({int(k) for k in [*widths, *spline_knots] if int(k) >= 2})
    splines = pd.concat([spline_errors(f, knots, quads[f.name]).assign(target=f.name) for f in targets],
                        ignore_index=True)
    cat = lambda parts, cols: pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)  # noqa
    return {"errors": pd.DataFrame(errors), "splines": splines,
            "curves": cat(curves, ["target", "m", "seed", "step", "time", "rel_error"]),
            "breakpoints": cat(bps, ["target", "m", "seed", "phase", "t"]),
            "ntk": cat(ntk, ["target", "m", "phase", "index", "eigenvalue"])}
