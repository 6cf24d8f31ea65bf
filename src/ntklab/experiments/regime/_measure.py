r"""What the regime check measures on one trained run: the lazy/feature-learning diagnostics at the end.

Given the network at init theta_0 (rebuilt from the run's config and seed) and after T steps theta_T:

- kernel drift ||Theta_T - Theta_0||_F / ||Theta_0||_F of the learning-rate-weighted tangent kernel
  Theta = sum_p eta_p J_p J_p^T (the kernel of the training dynamics; :func:`ntklab.kernels.mlp_ntk`);
- relative movement ||W^l_T - W^l_0||_F / ||W^l_0||_F of every trained weight matrix;
- coordinate sizes of every layer's activations and of their change (:func:`ntklab.dynamics.activation_sizes`);
- displacement ||w_j*(T) - w_j*(0)|| of the first hidden layer's largest-lambda node j*, and the median over
  that layer's nodes of ||w_j(T) - w_j(0)|| (the bulk, whose lambda_j ~ gamma / n under asymmetric scaling);
- the linearisation gap ||f_T - f^lin_T|| / ||f_T - f_0|| on the test inputs, where f^lin_t is the
  first-order Taylor model f(theta_0) + J(theta_0)(theta - theta_0) trained by the same full-batch GD at the
  same per-parameter learning rates (:func:`linearized_by_kernel`; the tests check it against
  :class:`ntklab.dynamics.LinearizedNetwork` trained in parameter space).  In the lazy regime f stays close to
  f^lin (gap -> 0 as n^{-1/2}); with feature learning it does not.

All as tidy rows (metric, layer, value).
"""

from __future__ import annotations

import pandas as pd
import torch

from ...dynamics import activation_sizes
from ...kernels import kernel_drift
from ...kernels._empirical_mlp import mlp_ntk

__all__ = ["linearized_by_kernel", "regime_rows", "LAYER_ORDER"]


def _layer_name(param: str, depth: int) -> str:
    """hidden.0.weight -> W1, hidden.1.weight -> W2, readout.weight -> W{L+1}, hidden.0.bias -> b1."""
    if param.startswith("readout."):
        return f"W{depth + 1}"
    idx = int(param.split(".")[1]) + 1
    return f"{'b' if param.endswith('.bias') else 'W'}{idx}"


LAYER_ORDER = [f"W{i}" for i in range(1, 10)] + [f"x{i}" for i in range(1, 10)] + ["out"]


def linearized_by_kernel(model: torch.nn.Module, lr: float, x: torch.Tensor, y: torch.Tensor,
                         x_eval: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same trajectory in function space: f_{t+1} = f_t - lr Theta_eta(., X) 2 (f_t(X) - y) / (n K).

    A linear model's GD step moves its outputs by exactly the learning-rate-weighted tangent kernel at theta_0
    times the residual, so no parameter is touched: two kernel matrices and ``steps`` matrix-vector products.
    """
    n, K = y.shape
    xs = torch.cat([x, x_eval])
    theta = mlp_ntk(model, xs, x, lr_weighted=True)  # (n + n_eval, n, K, K); (n + n_eval, n) when K = 1
    theta = theta[:, :, None, None] if theta.ndim == 2 else theta
    theta = theta.permute(0, 2, 1, 3).reshape((n + x_eval.shape[0]) * K, n * K).to(torch.float64)
    with torch.no_grad():
        f = model(xs).to(torch.float64).reshape(-1)
    target = y.to(torch.float64).reshape(-1)
    for _ in range(steps):
        f = f - lr * theta @ (2 * (f[: n * K] - target) / (n * K))
    risk = ((f[: n * K] - target) ** 2).mean()
    return f[n * K:].reshape(-1, K).to(y.dtype), risk


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    den = float(b.to(torch.float64).norm())
    return float((a - b).to(torch.float64).norm()) / den if den > 0 else float("nan")


def regime_rows(model_0, model_t, data, *, lr: float, steps: int, ntk_points: int) -> pd.DataFrame:
    """The diagnostics above for one run (``model_0`` at init, ``model_t`` trained), as (metric, layer, value)."""
    rows = []
    xk = data.x_train[:ntk_points]
    theta_0 = mlp_ntk(model_0, xk, output=0, lr_weighted=True)
    theta_t = mlp_ntk(model_t, xk, output=0, lr_weighted=True)
    drift = kernel_drift(theta_t, theta_0)
    rows += [("drift_fro_rel", "", drift["drift_fro_rel"]), ("drift_spectral_rel", "", drift["drift_spectral_rel"])]
    p0 = dict(model_0.named_parameters())
    for name, p in model_t.named_parameters():
        if p.requires_grad:
            rows.append(("weight_change_rel", _layer_name(name, model_t.depth), _rel(p.detach(), p0[name].detach())))
    sizes = activation_sizes(model_0, model_t, data.x_train)
    for r in sizes.itertuples():
        rows += [("coord_rms_0", r.layer, r.rms_0), ("coord_rms", r.layer, r.rms), ("coord_delta", r.layer, r.delta)]
    top = int(torch.argsort(-model_0.lambdas.to(torch.float64), stable=True)[0])
    disp = (model_t.node_weights() - model_0.node_weights()).detach().to(torch.float64).norm(dim=1)
    rows += [("top_node_displacement", str(top), float(disp[top])),
             ("median_node_displacement", "", float(disp.median()))]
    f_lin, lin_risk = linearized_by_kernel(model_0, lr, data.x_train, data.y_train, data.x_test, steps)
    with torch.no_grad():
        f_t, f_0 = model_t(data.x_test), model_0(data.x_test)
    moved = float((f_t - f_0).to(torch.float64).norm())
    gap = float((f_t - f_lin).to(torch.float64).norm())
    rows += [("linearization_gap_rel", "", gap / moved if moved > 0 else float("nan")),
             ("linearization_gap_rms", "", float((f_t - f_lin).to(torch.float64).pow(2).mean().sqrt())),
             ("linearized_train_risk", "", float(lin_risk))]
    return pd.DataFrame(rows, columns=["metric", "layer", "value"])
