r"""Full-batch gradient descent on the continuous (quadrature) L2 loss of a :class:`NetStack`:

    theta_{t+1} = theta_t - eta dL/dtheta,   L = 1/2 sum_q omega_q (f(x_q) - y_q)^2 ~ 1/2 ||f - y||_{L2}^2,

one step size per net, eta = lr_factor / lambda_max(Theta_0), lambda_max the top eigenvalue of the NTK operator on
the quadrature at initialisation (GD on the linearised model is stable for eta < 2 / lambda_max).  A net stops
(its step size set to 0) when it diverges (non-finite loss, or 1e3 times its initial loss) or, with ``tol > 0``,
when its loss falls by less than a fraction ``tol`` between two records ("converged").  Records every ``every``
steps: the relative L2 error ||f - y|| / ||y||.  Runs in one CPU thread (:func:`ntklab._threads.torch_threads`):
the per-step tensors are small and the shared machine's thread contention makes two threads far slower than one.
:func:`diverging` is the divergence rule shared with the sphere sweep.

Example:
    >>> from ntklab.approximation import NetStack, gauss_legendre, init_params, make_target, gd_train
    >>> q, f = gauss_legendre(500), make_target("gaussian")
    >>> st = NetStack.from_params([init_params(16, seed=0)], [q])
    >>> res = gd_train(st, f(st.x), steps=200, every=100)
    >>> bool(res.curves.rel_error.iloc[-1] < res.curves.rel_error.iloc[0])
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from .._errors import check_range
from .._threads import torch_threads
from ._net1d import PARAMS
from ._stack import NetStack

__all__ = ["gd_train", "GDResult", "diverging", "DIVERGENCE_FACTOR"]

DIVERGENCE_FACTOR = 1e3  # a net whose loss exceeds this multiple of its initial loss has diverged


def diverging(loss: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """Per net: the loss is non-finite or above ``DIVERGENCE_FACTOR`` times the initial loss ``first``."""
    return ~torch.isfinite(loss) | (loss > DIVERGENCE_FACTOR * first + 1e-300)


@dataclass
class GDResult:
    params: dict  # final a, w, b: (B, M)
    init: dict  # initial a, w, b
    curves: pd.DataFrame  # net, step, rel_error
    lr: torch.Tensor  # (B,)
    status: list  # per net: "budget" | "converged" | "diverged"
    steps_run: torch.Tensor  # (B,)


def gd_train(stack: NetStack, y: torch.Tensor, *, steps: int, lr_factor: float = 0.5, every: int = 100,
             tol: float = 0.0, lr: float | None = None) -> GDResult:
    """Train every net of ``stack`` on targets ``y`` (B, n) for at most ``steps`` GD steps."""
    check_range("steps", steps, 0)
    check_range("lr_factor", lr_factor, 0.0, lo_open=True)
    check_range("every", every, 1)
    with torch_threads(1):
        p = {k: v.clone() for k, v in stack.params.items()}
        init = {k: v.clone() for k, v in p.items()}
        eta = (torch.full((y.shape[0],), float(lr), dtype=torch.float64) if lr is not None
               else lr_factor / stack.top_eigenvalue(p))
        active = torch.ones_like(eta, dtype=torch.bool)
        status = ["budget"] * y.shape[0]
        ynorm = torch.sqrt((stack.omega * y * y).sum(1))
        steps_run = torch.zeros(y.shape[0], dtype=torch.long)
        rows, last, first = [], None, None
        for t in range(steps + 1):
            loss, grad = stack.loss_and_grad(p, y)
            if first is None:
                first = loss.clone()
            if t % every == 0 or t == steps:
                rel = torch.sqrt(2 * loss.clamp(min=0)) / ynorm
                rows += [(b, t, float(rel[b])) for b in range(len(rel))]
                if tol > 0 and last is not None:
                    done = active & ((last - loss) < tol * last)
                    for b in done.nonzero().flatten().tolist():
                        status[b] = "converged"
                    active &= ~done
                last = loss.clone()
            bad = active & diverging(loss, first)
            for b in bad.nonzero().flatten().tolist():
                status[b] = "diverged"
            active &= ~bad
            if t == steps or not active.any():
                break
            step = (eta * active)[:, None]
            for k in PARAMS:
                if k in stack.trainable:
                    p[k] = p[k] - step * grad[k]
            steps_run += active.long()
    curves = pd.DataFrame(rows, columns=["net", "step", "rel_error"])
    return GDResult(p, init, curves, eta, status, steps_run)
