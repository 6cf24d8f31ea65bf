r"""Pruning curves: remove nodes cumulatively through the network's ``mask`` buffer and record the risk.

For an order (j_1, j_2, ..., j_m) of the nodes (:func:`ntklab.prune.prune_order`) and counts
c = 0, s, 2s, ..., m with s = round(step_fraction * m) (the paper: every 5 % of m), the pruned network is

    f^{(c)}(x) = sum_{j not in {j_1..j_c}} u_j sqrt(lambda_j) sigma(w_j^T x / sqrt(d)),

i.e. mask_j = 0 for the first c nodes of the order (mask_j multiplies node j's output exactly; no
-inf tricks).  At c = m the network is identically 0.  Each row of the tidy result holds
(n_pruned, fraction, metric, value) with metric in train_risk, test_risk (and train_acc, test_acc for
classification); the risk is the training loss (MSE = mean over samples and outputs, or cross-entropy).

Optional fine-tuning: with ``fine_tune_steps > 0`` every pruned network (a copy of the trained one with
the mask applied) is trained for that many full-batch GD steps at ``fine_tune_lr`` on its trainable
parameters before it is measured; the trained network itself is never changed.

Example:
    >>> import torch, ntklab
    >>> from ntklab.prune import prune_order, pruning_curve
    >>> ds = ntklab.sphere_sin(n_train=20, n_test=20, d=5)
    >>> net = ntklab.ScaledShallowNet(5, 40, seed=0, dtype=torch.float64)
    >>> curve = pruning_curve(net, ds, order=prune_order(net))
    >>> curve.n_pruned.unique()[:3].tolist()
    [0, 2, 4]
"""

from __future__ import annotations

import copy

import pandas as pd
import torch

from .._errors import ConfigError, check_range
from ..dynamics._probes import risk

__all__ = ["prune_nodes", "pruning_counts", "pruning_curve", "evaluate"]


def prune_nodes(model, nodes) -> torch.nn.Module:
    """Set ``mask_j = 0`` for every j in ``nodes`` (in place, cumulative); returns the model."""
    idx = torch.as_tensor(nodes, dtype=torch.long).flatten()
    with torch.no_grad():
        model.mask[idx] = 0
    return model


def pruning_counts(m: int, step_fraction: float = 0.05) -> list[int]:
    """0, s, 2s, ..., m with s = max(1, round(step_fraction * m)) (m always included)."""
    check_range("prune.step_fraction", float(step_fraction), 0.0, 1.0, lo_open=True)
    s = max(1, round(step_fraction * m))
    counts = list(range(0, m + 1, s))
    return counts if counts[-1] == m else counts + [m]


def evaluate(model, data, *, loss: str = "mse") -> dict[str, float]:
    """train/test risk (and accuracy for classification) of ``model`` on ``data``."""
    out = {}
    with torch.no_grad():
        for split in ("train", "test"):
            x = getattr(data, f"x_{split}").to(model.W.dtype)
            y = getattr(data, f"y_{split}").to(model.W.dtype)
            f = model(x)
            out[f"{split}_risk"] = float(risk(f, y, loss))
            if data.task == "classification":
                out[f"{split}_acc"] = float((f.argmax(-1) == y.argmax(-1)).to(torch.float64).mean())
    return out


def _fine_tune(model, data, *, steps: int, lr: float, loss: str) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr)
    x = data.x_train.to(model.W.dtype)
    y = data.y_train.to(model.W.dtype)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        risk(model(x), y, loss).backward()
        opt.step()


def pruning_curve(model, data, *, order, step_fraction: float = 0.05, loss: str = "mse",
                  fine_tune_steps: int = 0, fine_tune_lr: float = 1.0) -> pd.DataFrame:
    """Tidy (n_pruned, fraction, metric, value) rows after every ``step_fraction`` of m pruned."""
    m = model.mask.shape[0]
    order = torch.as_tensor(order, dtype=torch.long).flatten()
    if order.shape != (m,) or not torch.equal(torch.sort(order).values, torch.arange(m)):
        raise ConfigError("prune.order", f"must be a permutation of the {m} nodes")
    if isinstance(fine_tune_steps, bool) or not isinstance(fine_tune_steps, int) or fine_tune_steps < 0:
        raise ConfigError("prune.fine_tune_steps", f"got {fine_tune_steps!r}", allowed="integers >= 0")
    net = copy.deepcopy(model)
    rows, done = [], 0
    for c in pruning_counts(m, step_fraction):
        prune_nodes(net, order[done:c])
        done = c
        probe = net
        if fine_tune_steps and 0 < c < m:
            probe = copy.deepcopy(net)
            _fine_tune(probe, data, steps=fine_tune_steps, lr=fine_tune_lr, loss=loss)
        for metric, v in evaluate(probe, data, loss=loss).items():
            rows.append((c, c / m, metric, v))
    return pd.DataFrame(rows, columns=["n_pruned", "fraction", "metric", "value"])
