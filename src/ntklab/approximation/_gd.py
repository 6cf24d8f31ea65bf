r"""Full-batch gradient descent on the continuous (quadrature) L2 loss of a :class:`NetStack`:

    theta_{t+1} = theta_t - eta dL/dtheta,   L = 1/2 sum_q omega_q (f(x_q) - y_q)^2 ~ 1/2 ||f - y||_{L2}^2,

one step size per net, eta = lr_factor / lambda_max(Theta_0), lambda_max the top eigenvalue of the NTK operator on
the quadrature at initialisation (GD on the linearised model is stable for eta < 2 / lambda_max); ``lr_factor``
may differ per net (a step-size sweep in one stack).  A net whose loss rises stops (``unstable``) or has its step
halved (``on_rise="halve"``).  Each net runs to the stopping rule of
:func:`ntklab.approximation.descend` (``tol > 0``: the loss fell by less than a fraction ``tol`` over the second
half of the run; status ``converged``), diverges (``diverged``) or uses up ``steps`` (``budget``).  ReLU stacks
use the segment sums of :class:`SegmentLoss` (O(m) a step), other activations the dense (B, n, M) form.
Records every ``every`` steps: the relative L2 error ||f - y|| / ||y||.  Runs in one CPU thread
(:func:`ntklab._threads.torch_threads`): the per-step tensors are small and the shared machine's thread
contention makes two threads far slower than one.

Example:
    >>> from ntklab.approximation import NetStack, gauss_legendre, init_params, make_target, gd_train
    >>> q, f = gauss_legendre(500), make_target("gaussian")
    >>> st = NetStack.from_params([init_params(16, seed=0)], [q])
    >>> res = gd_train(st, f(st.x), steps=200, every=100)
    >>> bool(res.curves.rel_error.iloc[-1] < res.curves.rel_error.iloc[0]), res.status
    (True, ['budget'])
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from .._errors import check_range
from .._threads import torch_threads
from ._descent import DIVERGENCE_FACTOR, descend, diverging
from ._segments import SegmentLoss
from ._stack import NetStack

__all__ = ["gd_train", "GDResult", "diverging", "DIVERGENCE_FACTOR"]


@dataclass
class GDResult:
    params: dict  # final a, w, b: (B, M)
    init: dict  # initial a, w, b
    curves: pd.DataFrame  # net, step, time (gradient-flow time sum_t eta_t), rel_error
    lr: torch.Tensor  # (B,)
    status: list  # per net: "budget" | "converged" | "diverged"
    steps_run: torch.Tensor  # (B,)
    rel_error: torch.Tensor  # (B,) ||f_T - y|| / ||y|| at the stop
    lr_final: torch.Tensor  # (B,) step size at the stop (below ``lr`` after halvings)
    halvings: torch.Tensor  # (B,)


class _DenseLoss:
    """The dense (any activation) loss of a NetStack as a :func:`descend` objective."""

    def __init__(self, stack: NetStack, y: torch.Tensor):
        self.stack, self.y = stack, y

    def loss_and_grad(self, p):
        return self.stack.loss_and_grad(p, self.y)

    def select(self, rows):
        return _DenseLoss(self.stack.select(rows), self.y[rows])


def objective(stack: NetStack, y: torch.Tensor):
    """The loss L(theta) of ``stack`` against ``y`` (B, n) as a :func:`descend` objective."""
    return SegmentLoss(stack, y) if stack.use_fast else _DenseLoss(stack, y)


def gd_train(stack: NetStack, y: torch.Tensor, *, steps, lr_factor=0.5, every: int = 100, tol: float = 0.0,
             lr: float | None = None, on_rise: str = "stop") -> GDResult:
    """Train every net of ``stack`` on targets ``y`` (B, n) for at most ``steps`` GD steps (one budget, or one per
    net); ``on_rise`` as in :func:`descend` ("stop": status ``unstable``; "halve": halve the step, go on)."""
    check_range("steps", int(torch.as_tensor(steps).min()), 0)
    check_range("every", every, 1)
    check_range("tol", tol, 0.0)
    factor = torch.as_tensor(lr_factor, dtype=torch.float64).expand(y.shape[0])
    if not bool((factor > 0).all()):
        raise ValueError(f"lr_factor: got {lr_factor} (allowed: > 0)")
    with torch_threads(1):
        p = {k: v.clone() for k, v in stack.params.items()}
        eta = (torch.full((y.shape[0],), float(lr), dtype=torch.float64) if lr is not None
               else factor / stack.top_eigenvalue(p))
        res = descend(objective(stack, y), p, eta, steps=steps, every=every, tol=tol, trainable=stack.trainable,
                      on_rise=on_rise)
    ynorm2 = (stack.omega * y * y).sum(1)
    rel = lambda loss, net: torch.sqrt(2 * loss.clamp(min=0) / ynorm2[net])  # noqa: E731
    cv = res.curves
    curves = cv.assign(rel_error=rel(torch.tensor(cv.loss.values), torch.tensor(cv.net.values)).numpy())
    return GDResult(res.params, {k: v.clone() for k, v in stack.params.items()},
                    curves[["net", "step", "time", "rel_error"]], eta, res.status, res.steps_run,
                    rel(res.loss, torch.arange(y.shape[0])), res.eta, res.halvings)
