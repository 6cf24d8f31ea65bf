r"""Probes: read a network and the data, return tidy metric rows; never change the network.

Every ``probes.every`` steps the training loop calls :meth:`ProbeState.measure`, which records

- ``train_risk`` / ``test_risk``: MSE = mean over samples and outputs (as the authors), or cross-entropy;
  ``train_acc`` / ``test_acc`` for classification (argmax against the label);
- ``lambda_min`` / ``lambda_max`` / ``ntk_cond`` of the empirical NTK Theta_t on the probe points;
- kernel drift ``drift_fro``, ``drift_fro_rel``, ``drift_spectral``, ``drift_spectral_rel`` of Theta_t - Theta_0;
- per-node displacement ||w_j(t) - w_j(0)||: ``max_node_displacement`` and ``node_displacement`` (key = j)
  for the ``top_nodes`` nodes of largest lambda; the whole vector is kept for the arrays;
- ``weight_change_rel`` = ||theta_t - theta_0|| / ||theta_0|| over the trainable parameters;
- with ``probes.grad_norm``: ``grad_norm`` = ||grad_theta L(theta_t)|| over the trainable parameters on one batch,
  the first ``training.batch_size`` training points (all of them under full batch), with the network in the mode
  it trains in (BatchNorm: that batch's statistics), on a copy so its running statistics stay as they were.
  Its value at step 0 is the gradient at initialisation (Agarwal et al.'s diagnostic of exploding gradients).

Everything else is measured in eval mode (:func:`eval_mode`; BatchNorm: the running statistics, none updated)
and each module's train/eval flag is restored afterwards, so a probe leaves the network exactly as it was.

At the end, :meth:`ProbeState.finish` adds the paper's ``argmax_node_displacement`` curve: the trajectory of
j* = argmax_j ||w_j(T) - w_j(0)||, the node that moved most by the end.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from ..kernels import empirical_ntk, kernel_drift, spectrum

__all__ = ["ProbeState", "risk", "node_weights", "eval_mode", "gradient_norm"]


def node_weights(model: torch.nn.Module) -> torch.Tensor | None:
    """(m, fan_in) incoming weights of the hidden nodes whose movement is tracked, if the model has them."""
    fn = getattr(model, "node_weights", None)
    return fn().detach() if callable(fn) else None


def node_lambdas(model: torch.nn.Module) -> torch.Tensor | None:
    lam = getattr(model, "lambdas", None)
    return lam.detach() if isinstance(lam, torch.Tensor) else None


def risk(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """The training loss of outputs ``out`` (n, K) against targets ``y`` (n, K): ``mse`` = (1/(nK)) Σ_ik
    (f_k(x_i) − y_ik)² (the authors' normalisation), else the mean cross-entropy against argmax_k y_ik."""
    if loss == "mse":
        return ((out - y) ** 2).mean()
    return F.cross_entropy(out, y.argmax(-1))


@contextmanager
def eval_mode(model: torch.nn.Module):
    """``model`` in eval mode inside the block; every module's own train/eval flag is restored after it."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def gradient_norm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str) -> float:
    """||grad_theta L(theta)|| over the trainable parameters on (x, y), computed on a copy of ``model`` in its
    current mode (so that BatchNorm's running statistics, updated by a train-mode forward pass, stay as they were)."""
    net = copy.deepcopy(model)
    params = [p for p in net.parameters() if p.requires_grad]
    grads = torch.autograd.grad(risk(net(x), y, loss), params)
    return float(torch.sqrt(sum((g.detach().to(torch.float64) ** 2).sum() for g in grads)))


def _trainable(model):
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


class ProbeState:
    """What a run's probes remember between calls: Theta_0, theta_0, node weights at init, history."""

    def __init__(self, model, data, cfg):
        self.cfg = cfg
        self.data = data
        self.classification = data.task == "classification"
        n = data.x_train.shape[0]
        k = cfg.probes.ntk_points or n
        self.x_ntk = data.x_train[: min(k, n)]
        self.theta0_params = _trainable(model)
        w = node_weights(model)
        self.w0 = None if w is None else w.clone()
        lam = node_lambdas(model)
        self.top = [] if lam is None else torch.argsort(-lam, stable=True)[: cfg.probes.top_nodes].tolist()
        bs = cfg.training.batch_size or n
        self.grad_batch = (data.x_train[:bs], data.y_train[:bs])
        with eval_mode(model):
            self.ntk0 = self._ntk(model) if cfg.probes.ntk else None
        self.ntk_last = self.ntk0
        self.steps: list[int] = []
        self.disp_history: list[np.ndarray] = []

    def _ntk(self, model):
        out = self.cfg.probes.ntk_output
        kdim = self.data.out_dim
        if isinstance(out, int) and out >= kdim:
            out = 0
        return empirical_ntk(model, self.x_ntk, output=out if kdim > 1 else None).to(torch.float64)

    def measure(self, model, step: int) -> list[tuple]:
        loss = self.cfg.training.loss
        rows = []
        if self.cfg.probes.grad_norm:
            rows.append((step, "grad_norm", "", gradient_norm(model, *self.grad_batch, loss)))
        with eval_mode(model):
            rows += self._measure_eval(model, step, loss)
        return rows

    def _measure_eval(self, model, step: int, loss: str) -> list[tuple]:
        rows = []
        with torch.no_grad():
            for split, x, y in (("train", self.data.x_train, self.data.y_train),
                                ("test", self.data.x_test, self.data.y_test)):
                out = model(x)
                rows.append((step, f"{split}_risk", "", float(risk(out, y, loss))))
                if self.classification:
                    acc = (out.argmax(-1) == y.argmax(-1)).to(torch.float64).mean()
                    rows.append((step, f"{split}_acc", "", float(acc)))
            # relative parameter movement
            num = sum(float(((p.detach() - self.theta0_params[k]) ** 2).sum())
                      for k, p in model.named_parameters() if k in self.theta0_params)
            den = sum(float((v ** 2).sum()) for v in self.theta0_params.values())
            rows.append((step, "weight_change_rel", "", (num / den) ** 0.5 if den > 0 else float("nan")))
            w = node_weights(model)
            if w is not None and self.w0 is not None:
                disp = (w - self.w0).norm(dim=1).to(torch.float64)
                self.steps.append(step)
                self.disp_history.append(disp.cpu().numpy().astype(np.float32))
                rows.append((step, "max_node_displacement", "", float(disp.max())))
                for j in self.top:
                    rows.append((step, "node_displacement", str(j), float(disp[j])))
        if self.ntk0 is not None:
            theta = self._ntk(model)
            self.ntk_last = theta
            ev = spectrum(theta)
            rows += [(step, "lambda_min", "", float(ev[0])), (step, "lambda_max", "", float(ev[-1])),
                     (step, "ntk_cond", "", float(ev[-1] / ev[0]) if ev[0] > 0 else float("inf"))]
            rows += [(step, k, "", v) for k, v in kernel_drift(theta, self.ntk0).items()]
        return rows

    def finish(self) -> tuple[list[tuple], dict]:
        """Rows for the argmax node's trajectory, and the arrays to store."""
        rows, arrays = [], {}
        if self.disp_history:
            hist = np.stack(self.disp_history)
            jstar = int(np.argmax(hist[-1]))
            rows = [(s, "argmax_node_displacement", str(jstar), float(v)) for s, v in zip(self.steps, hist[:, jstar])]
            arrays.update(node_displacement=hist[-1], node_displacement_history=hist,
                          probe_steps=np.asarray(self.steps))
        if self.ntk0 is not None:
            arrays.update(ntk_0=self.ntk0.cpu().numpy(), ntk_T=self.ntk_last.cpu().numpy())
        return rows, arrays

    def state_dict(self) -> dict:
        return {"ntk0": self.ntk0, "ntk_last": self.ntk_last, "w0": self.w0, "theta0": self.theta0_params,
                "steps": self.steps, "disp": self.disp_history, "top": self.top}

    def load_state_dict(self, st: dict, device: torch.device | str | None = None) -> None:
        """Restore a :meth:`state_dict` (from a checkpoint, possibly written on another device) onto ``device``."""
        def on(t):
            return t.to(device) if torch.is_tensor(t) and device is not None else t

        self.ntk0, self.ntk_last, self.w0 = on(st["ntk0"]), on(st["ntk_last"]), on(st["w0"])
        self.theta0_params = {k: on(v) for k, v in st["theta0"].items()}
        self.steps, self.disp_history, self.top = st["steps"], st["disp"], st["top"]
