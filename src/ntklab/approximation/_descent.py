r"""Full-batch gradient descent on B stacked problems, each run to a declared stopping rule.

    theta_{t+1} = theta_t - eta dL/dtheta   (one step size eta per problem)

Stopping rule (``tol > 0``), checked at every record step t = j * every with j >= ``MIN_RECORDS``: a problem has
**converged** when the loss fell by less than a fraction ``tol`` over the last three quarters of its run (since
the record t_{j // 4} at about t / ``TAIL``), relative both to where it is and to all it had fallen before,

    L(t_{j//4}) - L(t) <= tol * L(t)   and   L(t_{j//4}) - L(t) <= tol * (L(0) - L(t)),

i.e. quadrupling the training time lowered the loss by less than ``tol`` (for a power-law tail L ~ t^{-p}: p below
log4(1 + tol); tol = 0.2 gives p < 0.13, the error changing by < 10 % over the quadrupling), and the run is past
its start (a loss still falling at a slow steady pace has lost three quarters of its total decrease in that
stretch: the second condition keeps such a run going).  The rule reads the last three quarters of the run, so a
plateau (a saddle of the loss, which GD leaves later) stops a run only when it has lasted three times as long as
all the training before it: a window of half the run let nets stop on plateaus at 0.3 relative error that another
seed left (measured on the sphere and 1-d nets).  It is the same in gradient-flow time t * eta for every step
size.  A problem's loss **rose** when it grew from one record to the
next (by more than ``RISE`` relative, rounding aside): GD at a step below 2 / sharpness descends at every step,
so a rise means the step has outgrown the curvature (the edge of stability) and the iterates have left the
gradient-flow path.  With ``on_rise="stop"`` the problem stops there with status **unstable**; with
``on_rise="halve"`` its step size is halved and it goes on (the step sizes at the end and the number of halvings
are returned): the largest stable step of a fixed grid eta, eta/2, eta/4, ... found along the run.  A problem **diverged** when its loss is non-finite or above
``DIVERGENCE_FACTOR`` times its initial loss (:func:`diverging`); one that does none of these within ``steps``
steps ends with status ``budget`` (unconverged).  Stopped problems leave the working set, so a sweep whose small
widths converge early spends its steps on the others.

The objective is any object with ``loss_and_grad(params) -> (L (B,), {name: dL/dname})`` and ``select(rows)``
(the same objective restricted to some problems); parameters are dicts of tensors with the problem on axis 0.

Example:
    >>> import torch
    >>> class Quadratic:  # L = 1/2 h u^2 + 0.01 per problem: GD converges to the floor 0.01
    ...     def __init__(self, h): self.h = h
    ...     def loss_and_grad(self, p): return 0.5 * self.h * p["u"] ** 2 + 0.01, {"u": self.h * p["u"]}
    ...     def select(self, rows): return Quadratic(self.h[rows])
    >>> res = descend(Quadratic(torch.tensor([1.0, 1e-4])), {"u": torch.ones(2)}, torch.tensor([0.5, 0.5]),
    ...               steps=1000, every=10, tol=0.01)
    >>> res.status, res.steps_run.tolist()
    (['converged', 'budget'], [80, 1000])
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

__all__ = ["descend", "DescentResult", "diverging", "tail_drop", "DIVERGENCE_FACTOR", "MIN_RECORDS", "TAIL", "STATUSES",
           "RISE"]

DIVERGENCE_FACTOR = 1e3  # a problem whose loss exceeds this multiple of its initial loss has diverged
TAIL = 4  # the rule reads the run after t / TAIL: the last three quarters
MIN_RECORDS = 8  # the rule is first checked at the 8th record: a window of at least six records
STATUSES = ("converged", "budget", "unstable", "diverged")
RISE = {torch.float64: 1e-7, torch.float32: 1e-4}  # a record-to-record rise beyond the rounding of the loss


def tail_drop(steps, losses) -> float:
    """(L(t_start) - L(t)) / L(t) over one problem's records (steps ascending): the quantity the stopping rule
    bounds by ``tol``, t the last record and t_start the last record at or before t / ``TAIL`` (NaN: fewer than 2)."""
    steps, losses = list(steps), list(losses)
    if len(steps) < 2 or not losses[-1] > 0:
        return float("nan")
    start = max(i for i, s in enumerate(steps) if s <= steps[-1] / TAIL)
    return float((losses[start] - losses[-1]) / losses[-1])


def diverging(loss: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """Per problem: the loss is non-finite or above ``DIVERGENCE_FACTOR`` times the initial loss ``first``."""
    return ~torch.isfinite(loss) | (loss > DIVERGENCE_FACTOR * first + 1e-300)


@dataclass
class DescentResult:
    params: dict  # final parameters (each problem's at its stop)
    curves: pd.DataFrame  # net, step, time (sum of eta_t so far), loss (+ the monitor's columns), at record steps
    #                       while it ran, and its last
    status: list  # per problem: "converged" | "budget" | "unstable" | "diverged"
    steps_run: torch.Tensor  # (B,) GD steps taken
    loss: torch.Tensor  # (B,) loss at the stop
    eta: torch.Tensor  # (B,) step size at the stop
    halvings: torch.Tensor  # (B,) times the step was halved (on_rise="halve")


class _Run:
    """The working set of a descent: the problems still running (``rows``) and what is kept of every problem."""

    def __init__(self, objective, params, eta, monitor):
        self.full = {k: v.clone() for k, v in params.items()}
        self.B = eta.shape[0]
        self.rows = torch.arange(self.B)
        self.obj, self.p, self.eta, self.monitor = objective, {k: v.clone() for k, v in params.items()}, eta, monitor
        self.status = ["budget"] * self.B
        self.steps_run = torch.zeros(self.B, dtype=torch.long)
        self.final_loss = torch.full((self.B,), float("nan"), dtype=torch.float64)
        self.final_eta = eta.clone()
        self.halvings = torch.zeros(self.B, dtype=torch.long)
        self.first = None
        self.time = torch.zeros(self.B, dtype=torch.float64)  # gradient-flow time sum_t eta_t of the rows
        self.min_time = torch.zeros(self.B, dtype=torch.float64)  # no "converged" before this flow time
        self.history: list[torch.Tensor] = []  # loss at each record step, (len(rows),) aligned with rows
        self.records: list[pd.DataFrame] = []

    def record(self, t: int, loss: torch.Tensor) -> None:
        cols = {"net": self.rows.numpy(), "step": t, "time": self.time.numpy().copy(),
                "loss": loss.detach().double().numpy()}
        if self.monitor is not None:
            cols |= {k: v.detach().double().numpy() for k, v in self.monitor(self.rows, self.p).items()}
        self.records.append(pd.DataFrame(cols))

    def stop(self, done: torch.Tensor, why: str, t: int, loss: torch.Tensor) -> None:
        """Problems ``done`` (a mask over ``rows``) stop here with status ``why``."""
        idx = done.nonzero().flatten()
        if idx.numel() == 0:
            return
        glob = self.rows[idx]
        for k in self.full:
            self.full[k][glob] = self.p[k][idx]
        for g in glob.tolist():
            self.status[g] = why
        self.steps_run[glob] = t
        self.final_loss[glob] = loss[idx].double()
        self.final_eta[glob] = self.eta[idx]
        keep = (~done).nonzero().flatten()
        self.rows, self.eta, self.first = self.rows[keep], self.eta[keep], self.first[keep]
        self.time, self.min_time = self.time[keep], self.min_time[keep]
        self.p = {k: v[keep] for k, v in self.p.items()}
        self.history = [h[keep] for h in self.history]
        if keep.numel():
            self.obj = self.obj.select(keep)


def _keep(mask, loss, grad, bad):
    """loss, grad and bad without the problems of ``mask`` (they have just stopped)."""
    return loss[~mask], {k: v[~mask] for k, v in grad.items()}, bad[~mask]


def _at_record(run: _Run, t: int, loss, grad, bad, tol: float, on_rise: str):
    """The checks of a record step: a rise since the last record (halve or stop), then the stopping rule."""
    rose = torch.zeros_like(bad)
    if run.history:
        rose = ~bad & (loss > run.history[-1] * (1 + RISE.get(loss.dtype, 1e-4)))
        if on_rise == "halve":
            run.eta = torch.where(rose, run.eta / 2, run.eta)
            run.halvings[run.rows[rose]] += 1
        else:
            run.stop(rose, "unstable", t, loss)
            loss, grad, bad = _keep(rose, loss, grad, bad)
            rose = rose[~rose]
    run.history.append(loss.clone())
    j = len(run.history) - 1
    if tol > 0 and j >= MIN_RECORDS:
        drop = run.history[j // TAIL] - loss
        done = (~bad & ~rose & (drop <= tol * loss) & (drop <= tol * (run.first - loss))
                & (run.time >= run.min_time))
        run.stop(done, "converged", t, loss)
        loss, grad, bad = _keep(done, loss, grad, bad)
    return loss, grad, bad


def descend(objective, params: dict, eta: torch.Tensor, *, steps, every: int, tol: float = 0.0,
            trainable=None, monitor=None, on_rise: str = "stop", min_time=None) -> DescentResult:
    """GD on every problem of ``objective`` from ``params`` with step sizes ``eta`` (B,), each to its stopping rule.

    ``steps``: one budget, or one per problem (B,) (e.g. the same gradient-flow time eta * steps for every step
    size); ``trainable``: the parameter names that move (default: all);
    ``monitor(rows, params) -> {column: (len(rows),)}`` adds columns to the records (e.g. a test error);
    ``on_rise``: "stop" or "halve" (above); ``min_time`` (B,): the stopping rule stops no problem before its
    gradient-flow time sum_t eta_t reaches it (a claim that reads the run at that time needs the run there)."""
    if on_rise not in ("stop", "halve"):
        raise ValueError(f"on_rise: got {on_rise!r} (allowed: stop, halve)")
    names = tuple(params) if trainable is None else tuple(trainable)
    run = _Run(objective, params, eta, monitor)
    if min_time is not None:
        run.min_time = torch.as_tensor(min_time, dtype=torch.float64).expand(eta.shape[0]).clone()
    budgets = torch.as_tensor(steps, dtype=torch.long).expand(eta.shape[0]).clone()
    ends = set(budgets.tolist())
    steps = int(budgets.max())
    last = None
    for t in range(steps + 1):
        loss, grad = run.obj.loss_and_grad(run.p)
        if run.first is None:
            run.first = loss.clone()
        bad = diverging(loss, run.first)
        recording = t % every == 0
        if recording or t == steps or bool(bad.any()):
            run.record(t, loss)
        if recording:
            loss, grad, bad = _at_record(run, t, loss, grad, bad, tol, on_rise)
        run.stop(bad, "diverged", t, loss)
        loss, grad, _ = _keep(bad, loss, grad, bad)
        if t in ends and t < steps:
            spent = budgets[run.rows] <= t
            if spent.any():
                if not recording:
                    run.record(t, loss)
                run.stop(spent, "budget", t, loss)
                loss, grad, _ = _keep(spent, loss, grad, spent)
        if t == steps or run.rows.numel() == 0:
            last = loss
            break
        for k in names:
            run.p[k] = run.p[k] - run.eta.reshape(-1, *[1] * (run.p[k].ndim - 1)).to(run.p[k].dtype) * grad[k]
        run.time = run.time + run.eta.double()
    if run.rows.numel():
        run.stop(torch.ones(run.rows.numel(), dtype=torch.bool), "budget", steps, last)
    curves = pd.concat(run.records, ignore_index=True)
    curves = curves.drop_duplicates(["net", "step"], keep="last").sort_values(["net", "step"], ignore_index=True)
    return DescentResult(run.full, curves, run.status, run.steps_run, run.final_loss, run.final_eta, run.halvings)
