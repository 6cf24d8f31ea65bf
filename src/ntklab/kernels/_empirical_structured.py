r"""Structured empirical NTK of networks whose trainable parameters all sit in ``nn.Linear`` layers.

A linear layer y = c a W^T + b (c = 1 for ``nn.Linear``, the layer's multiplier for :class:`ntklab.MLP`),
called once per forward on a batch of independent samples, has per-sample gradients
d f_k(x_i) / dW = c delta^k_i a_i^T and d f_k(x_i) / db = delta^k_i, with delta^k_i = d f_k(x_i) / d y_i.
Hence, summing over layers l,

    Theta_kk'(x_i, x_j) = sum_l (c_l^2 a^l_i . a^l_j [W] + 1 [b]) (delta^{l,k}_i . delta^{l,k'}_j),

two Gram matrices per layer instead of the n x P Jacobian: O(n^2 (fan_in + fan_out)) per layer.  One forward
and K backward passes of f_k summed over the batch give every delta (the samples do not interact).  The
activations a and cotangents delta are collected with forward hooks.  This is the per-example-gradient Gram
identity (and what neural-tangents calls structured derivatives).  It requires: every trainable parameter is
the weight or bias of such a layer that is called exactly once on a 2-d batch, and samples independent
(no BatchNorm in training mode); :func:`structured_ok` checks what can be checked.

Example:
    >>> import torch
    >>> from ntklab.kernels import empirical_ntk_generic
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    >>> x = torch.randn(5, 3, dtype=torch.float64)
    >>> a = empirical_ntk_generic(net, x, implementation="structured")
    >>> bool(torch.allclose(a, empirical_ntk_generic(net, x)))
    True
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._gram_products import hadamard_gram_sum

__all__ = ["structured_ntk", "structured_ok", "input_factor", "layer_gram_sum"]


def _is_dense(mod: nn.Module) -> bool:
    """nn.Linear, or ntklab's MLP layer h = multiplier * x W^T + b (its gradient carries the multiplier)."""
    from ..nets._mlp import _Dense

    return isinstance(mod, (nn.Linear, _Dense))


def _linear_layers(model: nn.Module) -> list[tuple[nn.Module, bool, bool]] | None:
    """(layer, W trainable, b trainable) for layers with a trainable parameter; None if a parameter is elsewhere."""
    owned = {}
    for mod in model.modules():
        if _is_dense(mod):
            owned[id(mod.weight)] = mod
            if mod.bias is not None:
                owned[id(mod.bias)] = mod
    if any(p.requires_grad and id(p) not in owned for p in model.parameters()):
        return None
    out = []
    for mod in model.modules():
        if _is_dense(mod):
            w = mod.weight.requires_grad
            b = mod.bias is not None and mod.bias.requires_grad
            if w or b:
                out.append((mod, w, b))
    return out or None


def structured_ok(model: nn.Module) -> bool:
    """Whether the structured path applies (all trainable parameters in Linear layers, no training-mode BatchNorm)."""
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules()):
        return False
    return _linear_layers(model) is not None


def _factors(model, layers, x):
    """Per layer: input a (n, in) and cotangents delta (K, n, out); None if a layer ran other than once."""
    acts: dict[int, list] = {id(m): [] for m, _, _ in layers}

    def hook(mod, inp, out):
        acts[id(mod)].append((inp[0], out))

    handles = [m.register_forward_hook(hook) for m, _, _ in layers]
    try:
        with torch.enable_grad():
            f = model(x)
    finally:
        for h in handles:
            h.remove()
    if any(len(v) != 1 or v[0][0].dim() != 2 for v in acts.values()):
        return None
    f = f.reshape(x.shape[0], -1)
    K = f.shape[1]
    outs = [acts[id(m)][0][1] for m, _, _ in layers]
    deltas = [[] for _ in layers]
    for k in range(K):
        grads = torch.autograd.grad(f[:, k].sum(), outs, retain_graph=k < K - 1, allow_unused=True)
        for i, g in enumerate(grads):
            deltas[i].append(torch.zeros_like(outs[i]) if g is None else g.detach())
    return [(acts[id(m)][0][0].detach(), torch.stack(deltas[i])) for i, (m, _, _) in enumerate(layers)], K


def input_factor(a: torch.Tensor, w_scale: float | None, b_scale: float | None) -> torch.Tensor:
    """A with A A'^T = w_scale a a'^T [W trains] + b_scale [b trains]: [sqrt(w_scale) a, sqrt(b_scale) 1]."""
    cols = []
    if w_scale is not None:
        cols.append(a * math.sqrt(w_scale))
    if b_scale is not None:
        cols.append(torch.full((a.shape[0], 1), math.sqrt(b_scale), dtype=a.dtype, device=a.device))
    return cols[0] if len(cols) == 1 else torch.cat(cols, dim=1)


def layer_gram_sum(inputs1, deltas1, inputs2, deltas2, n1: int, n2: int, K: int) -> torch.Tensor:
    """(n1, n2, K, K) sum over layers of (A A'^T) o (delta_k delta'_k'^T); inputs2/deltas2 None: x2 = x1.

    ``inputs*`` are the layers' input factors (:func:`input_factor`), ``deltas*`` their (K, n, fan_out)
    cotangents.  With x2 = x1 the diagonal output blocks are symmetric and only their upper halves computed.
    """
    sym = inputs2 is None
    dtype = deltas1[0].dtype
    theta = torch.empty(n1, n2, K, K, dtype=dtype, device=deltas1[0].device)
    for k in range(K):
        for kp in range(K):
            if sym and kp < k:
                continue
            if sym and kp == k:
                terms = [[(a, None), (d[k], None)] for a, d in zip(inputs1, deltas1)]
            elif sym:
                terms = [[(a, a), (d[k], d[kp])] for a, d in zip(inputs1, deltas1)]
            else:
                terms = [[(a, b), (d[k], e[kp])] for a, d, b, e in zip(inputs1, deltas1, inputs2, deltas2)]
            if K == 1:
                hadamard_gram_sum(terms, out=theta.view(n1, n2))
                continue
            g = hadamard_gram_sum(terms)
            theta[:, :, k, kp] = g
            if sym and kp != k:
                theta[:, :, kp, k] = g.T
    return theta


def structured_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor | None:
    """(n1, n2, K, K) structured NTK, or None when the model does not qualify (the caller falls back)."""
    layers = _linear_layers(model)
    if layers is None or not structured_ok(model):
        return None
    got1 = _factors(model, layers, x1)
    got2 = None if x2 is None else _factors(model, layers, x2)
    if got1 is None or (x2 is not None and got2 is None):
        return None
    n1, n2 = x1.shape[0], (x1 if x2 is None else x2).shape[0]

    def inputs(factors):
        out = []
        for (m, w_tr, b_tr), (a, _) in zip(layers, factors):
            mult = float(getattr(m, "multiplier", 1.0))
            out.append(input_factor(a, mult * mult if w_tr else None, 1.0 if b_tr else None))
        return out

    (f1, K) = got1
    with torch.no_grad():
        return layer_gram_sum(inputs(f1), [d for _, d in f1], None if got2 is None else inputs(got2[0]),
                              None if got2 is None else [d for _, d in got2[0]], n1, n2, K)
