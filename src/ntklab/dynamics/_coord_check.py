r"""Coordinate check (Yang et al., Tensor Programs V): the size of each layer's coordinates as width grows.

For a network with hidden features x^1..x^L and output f (``model.hidden_features(x)``), after t steps of
full-batch gradient descent at the parameterisation's per-layer learning rates, record per layer

    rms   = sqrt(mean_{i,j} x^l_j(x_i)^2)                  (coordinate size of the activations)
    delta = sqrt(mean_{i,j} (x^l_j(x_i; t) - x^l_j(x_i; 0))^2)   (coordinate size of their update)

Under muP / mean field, ``delta`` of the hidden layers is O(1) in the width n (features learn); under NTK it
shrinks like n^{-1/2} (lazy); under the standard parameterisation at a fixed learning rate it grows.

Example:
    >>> import torch, ntklab
    >>> from ntklab.dynamics import coord_check
    >>> x, y = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
    >>> build = lambda n, seed: ntklab.MLP(4, [n, n], 1, parameterization="mup", seed=seed, dtype=torch.float64)
    >>> df = coord_check(build, [32, 64], x, y, steps=2, lr=0.1)
    >>> sorted(df.columns)
    ['delta', 'layer', 'rms', 'seed', 'step', 'width']
"""

from __future__ import annotations

from typing import Callable, Iterable

import pandas as pd
import torch

from ..nets._parameterizations import parameter_groups

__all__ = ["coord_check", "activation_sizes", "layer_names"]


def _features(model, x: torch.Tensor) -> list[torch.Tensor]:
    fn = getattr(model, "hidden_features", None)
    with torch.no_grad():
        return [t.detach() for t in fn(x)] if callable(fn) else [model(x).detach()]


def layer_names(n_layers: int) -> list[str]:
    """``x1 .. xL`` for the hidden layers, ``out`` for the output."""
    return [f"x{l + 1}" for l in range(n_layers - 1)] + ["out"]


def _rms(t: torch.Tensor) -> float:
    return float(t.to(torch.float64).pow(2).mean().sqrt())


def activation_sizes(model_0, model_t, x: torch.Tensor) -> pd.DataFrame:
    """Per layer: rms of the coordinates at init and now, and rms of their change (tidy: layer, rms_0, rms, delta)."""
    f0, ft = _features(model_0, x), _features(model_t, x)
    return pd.DataFrame([{"layer": nm, "rms_0": _rms(a), "rms": _rms(b), "delta": _rms(b - a)}
                         for nm, a, b in zip(layer_names(len(f0)), f0, ft)])


def coord_check(build: Callable[[int, int], torch.nn.Module], widths: Iterable[int], x: torch.Tensor,
                y: torch.Tensor, *, steps: int = 3, lr: float = 0.1, seeds: Iterable[int] = (0,)) -> pd.DataFrame:
    """Train ``build(width, seed)`` for ``steps`` GD steps on the MSE; tidy rows (width, seed, step, layer, rms, delta)."""
    rows = []
    for n in widths:
        for seed in seeds:
            model = build(n, seed)
            opt = torch.optim.SGD(parameter_groups(model, lr), lr=lr)
            f0 = _features(model, x)
            names = layer_names(len(f0))
            for step in range(steps + 1):
                ft = f0 if step == 0 else _features(model, x)
                rows += [{"width": n, "seed": seed, "step": step, "layer": nm, "rms": _rms(b), "delta": _rms(b - a)}
                         for nm, a, b in zip(names, f0, ft)]
                if step < steps:
                    opt.zero_grad(set_to_none=True)
                    ((model(x) - y) ** 2).mean().backward()
                    opt.step()
    return pd.DataFrame(rows)
