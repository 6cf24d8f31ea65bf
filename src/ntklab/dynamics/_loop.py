r"""The training loop: full-batch GD (or minibatch SGD, or any registered optimiser) with probes.

Loss (as the authors): MSE = (1/(nK)) Σ_i Σ_k (f_k(x_i) − y_ik)², or cross-entropy.  Every ``probes.every``
steps the probes return tidy rows ``(step, metric, key, value)`` (see :mod:`ntklab.dynamics._probes`).  A run
whose loss becomes non-finite (or exceeds ``training.divergence_threshold``) stops with status ``diverged``
and keeps every row up to then; the others go on.

The loop writes no files.  It hands what it produces to a *sink* (:class:`LoopSink`): a checkpoint of each live
run every ``probes.checkpoint_every`` steps (parameters, optimiser slice, generator state, probe state and the
rows so far) and, at the end, each run's :class:`LoopResult`.  The run store (:mod:`ntklab.runs`) is the sink
that writes run directories; a test can pass a list.

Runs that differ only in seed and node scaling are trained together (:class:`StackedModels`).  A run trained
alone and resumed from a checkpoint ends bitwise identical to an uninterrupted one (CPU, same thread count);
a stacked group rounds differently from a lone run (last-bit differences, measured ~1e-7).  Networks with
BatchNorm (``network.batch_norm``) are always trained alone: their running statistics are buffers the forward
pass updates, which cannot be stacked.  The network is in train mode for the optimiser's steps (BatchNorm uses
the batch's statistics) and the probes measure it in eval mode (running statistics), restoring train mode.

Device (``cfg.device``): each network is initialised on the CPU (the same weights on every device) and moved to
the run's device with the data; the optimiser state and the probes live there too.  What the sink receives
(checkpoints, the final state, arrays) is on the CPU, so a run resumes on any device and is stored the same way
wherever it ran; the minibatch generators stay on the CPU, so the batches are the same on every device.

A Ctrl-C inside :func:`ntklab._interrupt.graceful_interrupts` is honoured at the next step boundary: every
live run is checkpointed there and :class:`KeyboardInterrupt` is raised.

Example:
    >>> import ntklab
    >>> import torch
    >>> from ntklab.dynamics import ListSink, LoopRun, train_group
    >>> cfg = ntklab.RunConfig(network={"width": 50}, training={"steps": 20}, probes={"every": 10})
    >>> data = ntklab.load_dataset(cfg.data.name, **cfg.data.options).to(torch.float32)
    >>> sink = ListSink()
    >>> train_group([LoopRun(cfg)], data, sink)
    >>> sink.results[0].status, sorted({r[0] for r in sink.results[0].rows if r[1] == "train_risk"})
    ('done', [0, 10, 20])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F

from .._device import resolve_device
from .._interrupt import stop_requested
from ..config import RunConfig
from ..nets import build_network, parameter_groups
from ..optim import ELEMENTWISE, build_optimizer, plain_descent_lr
from ._probes import ProbeState, node_weights
from ._shallow_grad import ShallowMSEGradient
from ._shallow_grad import supports as closed_form_supported
from ._stacked import StackedModels

__all__ = ["LoopRun", "LoopResult", "LoopSink", "ListSink", "train_group", "batch_key", "DTYPES"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class LoopRun:
    """One run for the loop: its config and, to resume, the checkpoint dict a sink was given earlier."""

    cfg: RunConfig
    checkpoint: dict | None = None

    @property
    def start(self) -> int:
        return 0 if self.checkpoint is None else int(self.checkpoint["step"])


@dataclass
class LoopResult:
    """What one run produced: status ``done`` or ``diverged`` (``info`` says at which step, with which loss)."""

    status: str
    rows: list
    arrays: dict
    model_state: dict
    info: dict = field(default_factory=dict)


class LoopSink(Protocol):
    """Where the loop hands what it produces: checkpoints, each run's result, and partial rows when it stops
    abnormally.  The run store (:mod:`ntklab.runs`) writes them to run directories; :class:`ListSink` keeps them
    in memory.  Every tensor a sink receives is a CPU snapshot (it loads on any device)."""

    def checkpoint(self, index: int, state: dict) -> None:
        """Run ``index``'s resumable state at a step boundary (keys step, model, probes, optimizer, generator,
        rows)."""

    def finish(self, index: int, result: LoopResult) -> None:
        """Run ``index`` ended (done or diverged)."""

    def partial(self, index: int, rows: list) -> None:
        """The rows so far of run ``index`` when the loop stops abnormally (an exception or Ctrl-C)."""


class ListSink:
    """A sink that keeps everything in memory (tests, notebooks)."""

    def __init__(self):
        self.checkpoints: dict[int, dict] = {}
        self.results: dict[int, LoopResult] = {}
        self.partials: dict[int, list] = {}

    def checkpoint(self, index: int, state: dict) -> None:
        self.checkpoints[index] = state

    def finish(self, index: int, result: LoopResult) -> None:
        self.results[index] = result

    def partial(self, index: int, rows: list) -> None:
        self.partials[index] = rows


def batch_key(cfg: RunConfig) -> str | None:
    """Runs with equal keys can be trained as one stacked program (None: train alone: an optimiser that is not
    elementwise, or a network with BatchNorm, whose running statistics cannot be stacked)."""
    if cfg.optimizer.name not in ELEMENTWISE or cfg.network.batch_norm:
        return None
    d = cfg.model_dump()
    d.pop("seed"), d.pop("name")
    d["network"].pop("scaling")
    return json.dumps(d, sort_keys=True, default=str)


def to_cpu(obj):
    """A snapshot of ``obj`` (tensors in nested dicts, lists and tuples): every tensor detached, copied, on the
    CPU (a sink that keeps a checkpoint in memory must not see the run's later steps)."""
    if torch.is_tensor(obj):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def _slice_state(state: dict, r: int, params: list[torch.Tensor]) -> dict:
    """Run r's slice of an optimiser state_dict of stacked parameters (on the CPU)."""
    out = {"param_groups": state["param_groups"], "state": {}}
    for idx, st in state["state"].items():
        shape = params[idx].shape
        out["state"][idx] = {k: (v[r].detach().to("cpu", copy=True) if torch.is_tensor(v) and v.shape == shape
                                 else to_cpu(v)) for k, v in st.items()}
    return out


def _stack_states(states: list[dict], params: list[torch.Tensor]) -> dict:
    out = {"param_groups": states[0]["param_groups"], "state": {}}
    for idx in states[0]["state"]:
        shape = params[idx].shape[1:]
        out["state"][idx] = {
            k: (torch.stack([s["state"][idx][k] for s in states]) if torch.is_tensor(v) and v.shape == shape else v)
            for k, v in states[0]["state"][idx].items()
        }
    return out


def _per_run_loss(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """out (R, n, K), y (n, K) or (R, n, K) -> per-run loss (R,)."""
    if loss == "mse":
        return ((out - y) ** 2).mean(dim=(1, 2))
    R, n, K = out.shape
    labels = y.argmax(-1).expand(R, n) if y.ndim == 2 else y.argmax(-1)
    return F.cross_entropy(out.reshape(R * n, K), labels.reshape(-1), reduction="none").view(R, n).mean(1)


class _Group:
    """The state of one stacked group: models, probes, generators, the optimiser and the rows so far."""

    def __init__(self, runs: list[LoopRun], data):
        cfg0 = runs[0].cfg
        dtype = DTYPES[cfg0.dtype]
        self.device = resolve_device(cfg0.device)
        data = data.to(dtype=dtype, device=self.device)
        self.runs, self.data, self.cfg = runs, data, cfg0
        self.models = [build_network(r.cfg.network, d=data.d, out_dim=data.out_dim, seed=r.cfg.seed,
                                     dtype=dtype).to(self.device) for r in runs]
        self.probes = [ProbeState(m, data, r.cfg) for m, r in zip(self.models, runs)]
        self.gens = [torch.Generator(device="cpu").manual_seed(r.cfg.seed * 1_000_003 + 17) for r in runs]
        self.rows: list[list] = [[] for _ in runs]
        for i, (r, m, p, g) in enumerate(zip(runs, self.models, self.probes, self.gens)):
            if r.checkpoint is not None:
                m.load_state_dict(r.checkpoint["model"])
                p.load_state_dict(r.checkpoint["probes"], device=self.device)
                g.set_state(r.checkpoint["generator"])
                self.rows[i] = list(r.checkpoint["rows"])
        self.stacked = StackedModels(self.models)
        self.R = self.stacked.R
        # one group per parameter, at lr times the parameterisation's multiplier (same order as param_list)
        groups = parameter_groups(self.models[0], cfg0.optimizer.lr, params=self.stacked.params,
                                  optimizer=cfg0.optimizer.name)
        self.opt = build_optimizer(groups, cfg0.optimizer)
        if runs[0].start > 0 and runs[0].checkpoint.get("optimizer") is not None:
            self.opt.load_state_dict(_stack_states([r.checkpoint["optimizer"] for r in runs],
                                                   self.stacked.param_list()))
        self.alive = torch.ones(self.R, dtype=torch.bool, device=self.device)
        self.diverged: dict[int, dict] = {}

    def probe(self, step: int) -> None:
        self.stacked.sync()
        for r in range(self.R):
            if self.alive[r]:
                self.rows[r].extend(self.probes[r].measure(self.models[r], step))

    def checkpoint(self, step: int, sink: LoopSink) -> None:
        self.stacked.sync()
        state = self.opt.state_dict()
        for r in range(self.R):
            if self.alive[r]:
                sink.checkpoint(r, {
                    "step": step, "model": to_cpu(self.models[r].state_dict()),
                    "probes": to_cpu(self.probes[r].state_dict()),
                    "optimizer": _slice_state(state, r, self.stacked.param_list()),
                    "generator": self.gens[r].get_state(), "rows": list(self.rows[r]),
                })

    def mark_diverged(self, loss_vec: torch.Tensor, step: int) -> None:
        threshold = self.cfg.training.divergence_threshold
        with torch.no_grad():
            bad = self.alive & (~torch.isfinite(loss_vec) | (loss_vec.abs() > threshold))
        for r in torch.nonzero(bad).flatten().tolist():
            self.alive[r] = False
            value = float(loss_vec[r].detach())
            self.rows[r].append((step, "train_loss", "", value))
            self.diverged[r] = {"step": step, "loss": value}

    def finish(self, sink: LoopSink) -> None:
        self.stacked.sync()
        for r in range(self.R):
            extra_rows, arrays = self.probes[r].finish()
            rows = self.rows[r] + extra_rows
            m = self.models[r]
            lam = getattr(m, "lambdas", None)
            if isinstance(lam, torch.Tensor):
                arrays["lambdas"] = lam.detach().to(torch.float64).cpu().numpy()
            w = node_weights(m)
            if w is not None:
                arrays["node_norm_sq"] = (w.to(torch.float64) ** 2).sum(1).cpu().numpy()
            state = to_cpu(m.state_dict())
            if r in self.diverged:
                result = LoopResult("diverged", rows, arrays, state, self.diverged[r])
            else:
                result = LoopResult("done", rows, arrays, state, {"step": self.cfg.training.steps})
            sink.finish(r, result)


def train_group(runs: list[LoopRun], data, sink: LoopSink, *, pbar=None) -> None:
    """Train ``runs`` (one :func:`batch_key`, one start step) on ``data`` (moved to their ``device``), handing
    checkpoints and results to ``sink``; ``pbar`` is an optional tqdm bar advanced once per step."""
    g = _Group(runs, data)
    data = g.data  # on the runs' device
    bs, n = g.cfg.training.batch_size, data.x_train.shape[0]
    full_batch = bs is None or bs >= n
    fast = (ShallowMSEGradient(g.stacked, data.x_train, data.y_train)
            if closed_form_supported(g.models, loss=g.cfg.training.loss, full_batch=full_batch) else None)
    try:
        _steps(g, runs[0].start, sink, fast, pbar)
    except BaseException:
        for r in range(g.R):
            sink.partial(r, list(g.rows[r]))
        raise
    g.finish(sink)


def _steps(g: _Group, start: int, sink: LoopSink, fast, pbar) -> None:
    cfg, data = g.cfg, g.data
    steps, every, ck_every = cfg.training.steps, cfg.probes.every, cfg.probes.checkpoint_every
    bs, loss_name = cfg.training.batch_size, cfg.training.loss
    n = data.x_train.shape[0]
    full_batch = bs is None or bs >= n
    # plain GD in the fused kernel: its second pass takes the step, W <- W - lr dL/dW, and opt.step() is skipped
    lr = plain_descent_lr(g.opt, g.stacked.params["W"]) if fast is not None and fast.descends else None
    if start == 0:
        g.probe(0)
    reached = start
    for step in range(start, steps):
        if lr is not None:  # loss and step in one kernel; runs that diverge here do not move
            loss_vec = fast.loss_and_descend(g.alive, cfg.training.divergence_threshold, lr)
        elif fast is not None:  # loss and gradient in one pass; runs that diverge here get a zero gradient
            loss_vec = fast.loss_and_grad(g.alive, cfg.training.divergence_threshold)
        elif not full_batch:
            idx = torch.stack([torch.randperm(n, generator=gen, device="cpu")[:bs] for gen in g.gens]).to(g.device)
            loss_vec = _per_run_loss(g.stacked.forward_per_run(data.x_train[idx]), data.y_train[idx], loss_name)
        else:
            loss_vec = _per_run_loss(g.stacked.forward(data.x_train), data.y_train, loss_name)
        g.mark_diverged(loss_vec, step)
        if not g.alive.any():
            break
        if fast is None:
            g.opt.zero_grad(set_to_none=True)
            loss_vec[g.alive].sum().backward()
        if lr is None:
            g.opt.step()
        s_next = reached = step + 1
        if s_next % every == 0 or s_next == steps:
            g.probe(s_next)
        if s_next < steps and ((ck_every and s_next % ck_every == 0) or stop_requested()):
            g.checkpoint(s_next, sink)
            if stop_requested():
                raise KeyboardInterrupt
        if pbar is not None:
            pbar.update(1)
            if s_next % 200 == 0:
                pbar.set_postfix(loss=f"{float(loss_vec.detach().max()):.3g}", refresh=False)
    if pbar is not None and reached < steps:
        pbar.update(steps - reached)  # runs that all diverged leave their remaining steps
