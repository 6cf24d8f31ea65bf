"""``empirical_ntk``: the closed form where the model has one, ``torch.func`` otherwise.

Shapes: (n1, n2) for a one-output model, for ``output=k`` or for ``output="mean"``; (n1, n2, K, K) for a
K-output model with ``output=None``, entry [i, l, k, k'] = <grad f_k(x1_i), grad f_k'(x2_l)>.
"""

from __future__ import annotations

import torch

from .._device import exact_float32
from ..nets._mlp import MLP
from ..nets._shallow import ScaledShallowNet
from ._empirical_generic import empirical_ntk_generic
from ._empirical_mlp import mlp_ntk
from ._empirical_shallow import shallow_ntk

__all__ = ["empirical_ntk"]


@exact_float32()
def empirical_ntk(
    model: torch.nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    params: dict | None = None,
    output: int | str | None = None,
    method: str = "auto",
    **kwargs,
) -> torch.Tensor:
    """Empirical NTK Theta(x1, x2) of ``model`` over its trainable parameters (or ``params``).

    ``method="auto"`` uses the closed form for :class:`~ntklab.ScaledShallowNet` and the layer-wise form for
    :class:`~ntklab.MLP` (unless ``params`` are given) and the generic ``torch.func`` path otherwise;
    ``"closed_form"`` / ``"generic"`` force one.
    """
    if method not in ("auto", "closed_form", "generic"):
        raise ValueError(f"method: got {method!r} (allowed: 'auto', 'closed_form', 'generic')")
    closed = isinstance(model, (ScaledShallowNet, MLP)) and params is None
    if method == "closed_form" and not closed:
        raise ValueError("method: 'closed_form' needs a ScaledShallowNet or an MLP and params=None")
    if method == "generic" or not closed:
        return empirical_ntk_generic(model, x1, x2, params=params, output=output, **kwargs)
    if isinstance(model, MLP):
        return mlp_ntk(model, x1, x2, output=output, **kwargs)
    return shallow_ntk(model, x1, x2, output=output, **kwargs)
