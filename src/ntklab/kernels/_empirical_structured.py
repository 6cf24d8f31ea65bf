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

import torch
from torch import nn

__all__ = ["structured_ntk", "structured_ok"]


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


def _gram(a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """a b^T; a a^T through NumPy's syrk when b is None and the data are on the CPU."""
    if b is None:
        if a.device.type == "cpu":
            an = a.contiguous().numpy()
            return torch.from_numpy(an @ an.T)
        return a @ a.T
    return a @ b.T


def structured_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor | None:
    """(n1, n2, K, K) structured NTK, or None when the model does not qualify (the caller falls back)."""
    layers = _linear_layers(model)
    if layers is None or not structured_ok(model):
        return None
    got1 = _factors(model, layers, x1)
    got2 = got1 if x2 is None else _factors(model, layers, x2)
    if got1 is None or got2 is None:
        return None
    (f1, K), (f2, _) = got1, got2
    theta = torch.zeros(x1.shape[0], (x1 if x2 is None else x2).shape[0], K, K, dtype=f1[0][1].dtype,
                        device=x1.device)
    sym = x2 is None
    for (m, w_tr, b_tr), (a1, d1), (a2, d2) in zip(layers, f1, f2):
        geo = _gram(a1, None if sym else a2) if w_tr else None
        mult = float(getattr(m, "multiplier", 1.0))
        if geo is not None and mult != 1.0:
            geo.mul_(mult * mult)
        if geo is not None and b_tr:
            geo += 1
        for k in range(K):
            for kp in range(K):
                if sym and kp < k:
                    continue
                g = _gram(d1[k], None) if (sym and k == kp) else _gram(d1[k], d2[kp])
                if geo is not None:
                    g.mul_(geo)
                theta[:, :, k, kp] += g
                if sym and kp != k:
                    theta[:, :, kp, k] += g.T
    return theta
