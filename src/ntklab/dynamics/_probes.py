r"""Probes: read a network and the data, return tidy metric rows; never change the network.

Every ``probes.every`` steps the training loop calls :meth:`ProbeState.measure`, which records

- ``train_risk`` / ``test_risk``: MSE = mean over samples and outputs (as the authors), or cross-entropy;
  ``train_acc`` / ``test_acc`` for classification (argmax against the label);
- ``lambda_min`` / ``lambda_max`` / ``ntk_cond`` of the empirical NTK Theta_t on the probe points;
- kernel drift ``drift_fro``, ``drift_fro_rel``, ``drift_spectral``, ``drift_spectral_rel`` of Theta_t - Theta_0;
- per-node displacement ||w_j(t) - w_j(0)||: ``max_node_displacement`` and ``node_displacement`` (key = j)
  for the ``top_nodes`` nodes of largest lambda; the whole vector is kept for the arrays;
- ``weight_change_rel`` = ||theta_t - theta_0|| / ||theta_0|| over the trainable parameters.

At the end, :meth:`ProbeState.finish` adds the paper's ``argmax_node_displacement`` curve: the trajectory of
j* = argmax_j ||w_j(T) - w_j(0)||, the node that moved most by the end.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..kernels import empirical_ntk, kernel_drift, spectrum

__all__ = ["ProbeState", "risk", "node_weights"]


def node_weights(model: torch.nn.Module) -> torch.Tensor | None:
    """(m, fan_in) incoming weights of the hidden nodes whose movement is tracked, if the model has them."""
    fn = getattr(model, "node_weights", None)
    return fn().detach() if callable(fn) else None


def node_lambdas(model: torch.nn.Module) -> torch.Tensor | None:
    lam = getattr(model, "lambdas", None)
    return lam.detach() if isinstance(lam, torch.Tensor) else None


def risk(out: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "mse":
        return ((out - y) ** 2).mean()
    return F.cross_entropy(out, y.argmax(-1))


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
        rows = []
        loss = self.cfg.training.loss
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
                self.disp_history.append(disp.numpy().astype(np.float32))
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
            arrays.update(ntk_0=self.ntk0.numpy(), ntk_T=self.ntk_last.numpy())
        return rows, arrays

    def state_dict(self) -> dict:
        return {"ntk0": self.ntk0, "ntk_last": self.ntk_last, "w0": self.w0, "theta0": self.theta0_params,
                "steps": self.steps, "disp": self.disp_history, "top": self.top}

    def load_state_dict(self, st: dict) -> None:
        self.ntk0, self.ntk_last, self.w0 = st["ntk0"], st["ntk_last"], st["w0"]
        self.theta0_params, self.steps, self.disp_history, self.top = st["theta0"], st["steps"], st["disp"], st["top"]
