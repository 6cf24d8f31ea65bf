r"""Empirical NTK of :class:`~ntklab.MLP` layer by layer, in O(n * width) memory.

A dense layer h^l = c_l W^l x^{l-1} + b^l has df_k/dW^l = c_l delta^l_k (x^{l-1})^T with delta^l_k = df_k/dh^l,
so its share of the tangent kernel is a product of two Gram matrices,

    Theta_kk'(x, x') = sum_l  eta_l c_l^2 <delta^l_k(x), delta^l_k'(x')> <x^{l-1}(x), x^{l-1}(x')>   [W^l trains]
                     + sum_l  eta_b <delta^l_k(x), delta^l_k'(x')>                                 [b^l trains]

with eta = 1 (the plain NTK, as :func:`ntklab.empirical_ntk_generic` computes it) or, with ``lr_weighted``, the
parameters' learning-rate multipliers: Theta_eta is the kernel of the training dynamics, df/dt = -Theta_eta dL/df
for gradient flow at learning rate eta * multiplier, and the same for every representation of one abc-class.
The deltas of all inputs come from one backward pass per output (inputs do not interact), so no per-example
Jacobian is formed.

Example:
    >>> import torch, ntklab
    >>> net = ntklab.MLP(4, [32, 32], 1, seed=0, dtype=torch.float64)
    >>> ntklab.empirical_ntk(net, torch.randn(5, 4, dtype=torch.float64)).shape
    torch.Size([5, 5])
"""

from __future__ import annotations

import torch

from .._device import exact_float32
from ._empirical_generic import _format
from ._empirical_structured import input_factor, layer_gram_sum

__all__ = ["mlp_ntk"]


def _layer_factors(model, x: torch.Tensor, K: int):
    """Per layer: (input x^{l-1} (n, fan_in), deltas (K, n, fan_out))."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)  # keeps a graph even when the early layers are frozen
        inputs, pre = model.trace(xg)
        out = pre[-1]
        deltas = [[] for _ in pre]
        for k in range(K):
            grads = torch.autograd.grad(out[:, k].sum(), pre, retain_graph=k < K - 1)
            for l, g in enumerate(grads):
                deltas[l].append(g.detach())
    return [(xi.detach(), torch.stack(dl)) for xi, dl in zip(inputs, deltas)]


@exact_float32()
def mlp_ntk(model, x1: torch.Tensor, x2: torch.Tensor | None = None, *, output: int | str | None = None,
            lr_weighted: bool = False) -> torch.Tensor:
    """Theta(x1, x2) over the trainable parameters; shapes as :func:`ntklab.empirical_ntk`."""
    K = model.out_dim
    f1 = _layer_factors(model, x1, K)
    f2 = None if x2 is None else _layer_factors(model, x2, K)
    mult = model.lr_multipliers() if lr_weighted else {}
    layers = list(model.hidden) + [model.readout]
    names = [f"hidden.{i}" for i in range(len(model.hidden))] + ["readout"]
    scales = []
    for layer, name in zip(layers, names):
        w = layer.multiplier ** 2 * mult.get(f"{name}.weight", 1.0) if layer.weight.requires_grad else None
        b = mult.get(f"{name}.bias", 1.0) if layer.bias is not None and layer.bias.requires_grad else None
        scales.append((w, b))
    keep = [i for i, (w, b) in enumerate(scales) if w is not None or b is not None]
    n1, n2 = x1.shape[0], (x1 if x2 is None else x2).shape[0]
    if not keep:
        return _format(torch.zeros(n1, n2, K, K, dtype=f1[0][1].dtype, device=f1[0][1].device), output, K)

    def inputs(factors):
        return [input_factor(factors[i][0], *scales[i]) for i in keep]

    with torch.no_grad():
        theta = layer_gram_sum(inputs(f1), [f1[i][1] for i in keep], None if f2 is None else inputs(f2),
                               None if f2 is None else [f2[i][1] for i in keep], n1, n2, K)
    return _format(theta, output, K)
