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

    Args:
        model: the network f(·; θ), K outputs.
        x1: inputs (n1, d); x2: inputs (n2, d), default x1 (then Θ is exactly symmetric).  Cast to the model's
            parameter dtype (a float64 dataset for a float32 network is computed in float32), on its device.
        output: for K > 1, ``k`` (Θ of output k), ``"mean"`` (the trace over outputs / K) or None (every pair).

    Returns:
        Θ in the model's dtype, on the inputs' device: (n1, n2) for a one-output model, ``output=k`` or
        ``output="mean"``; (n1, n2, K, K) for a K-output model with ``output=None``, entry [i, l, k, k'] =
        <∂f_k(x1_i)/∂θ, ∂f_k'(x2_l)/∂θ>.

    Example:
        >>> import torch, ntklab
        >>> net = ntklab.ScaledShallowNet(3, 64, seed=0)
        >>> theta = ntklab.empirical_ntk(net, torch.randn(5, 3, dtype=torch.float64))
        >>> theta.shape, theta.dtype
        (torch.Size([5, 5]), torch.float32)
    """
    if method not in ("auto", "closed_form", "generic"):
        raise ValueError(f"method: got {method!r} (allowed: 'auto', 'closed_form', 'generic')")
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    if dtype is not None:
        x1 = x1.to(dtype)
        x2 = None if x2 is None else x2.to(dtype)
    closed = isinstance(model, (ScaledShallowNet, MLP)) and params is None
    if method == "closed_form" and not closed:
        raise ValueError("method: 'closed_form' needs a ScaledShallowNet or an MLP and params=None")
    if method == "generic" or not closed:
        return empirical_ntk_generic(model, x1, x2, params=params, output=output, **kwargs)
    if isinstance(model, MLP):
        return mlp_ntk(model, x1, x2, output=output, **kwargs)
    return shallow_ntk(model, x1, x2, output=output, **kwargs)
