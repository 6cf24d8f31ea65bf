r"""Fast closed-form NTK of a shallow net whose activation derivative is a step: sigma'(z) = kappa 1{z > 0}.

For relu (kappa = 1) and normalised relu, with only W and/or b trainable, the kernel of one output (or the
mean over outputs) is

    Theta(x, x') = g(x, x') * kappa^2 * sum_j w2_j M_j(x) M_j(x'),   M_j(x) = 1{z_j(x) > 0},

with w2_j = u_kj^2 lambda_j mask_j (or its mean over k) and g = x^T x'/d [W] + 1 [b].  The sum over j is a
product of 0/1 matrices.  When every non-zero w2_j is the same number c (the NTK scaling 1/m, Rademacher u),
it is c times M M^T, computed exactly in int8 with int32 accumulation (VNNI; about twice the f32 rate here);
otherwise A = M * sqrt(w2) in the network's dtype and A A^T with BLAS (syrk on diagonal blocks).  The geometric
factor is applied block by block, so memory is the n1 x n2 output, one block of it, and the n x m masks.

Example:
    >>> import torch, ntklab
    >>> from ntklab.kernels._mask_gram import step_activation_ntk
    >>> net = ntklab.ScaledShallowNet(5, 64, seed=0).double()
    >>> x = torch.randn(6, 5, dtype=torch.float64)
    >>> bool(torch.allclose(step_activation_ntk(net, x), ntklab.empirical_ntk(net, x, method="generic")))
    True
"""

from __future__ import annotations

import math

import torch

from ..nets._activations import _NRELU_SCALE

__all__ = ["step_activation_ntk", "applies"]

_STEP_SCALE = {"relu": 1.0, "normalized_relu": _NRELU_SCALE}
_MASK_BYTES = 512 * 2**20  # the masks of all rows are kept when they fit; else the general blocked path
_INT8_ROWS = 512  # row block of the symmetric int8 product (smaller blocks lose more in the GEMM than they save)
_F32_ROWS = 2048


def applies(net, x1, x2, output) -> bool:
    """Whether :func:`step_activation_ntk` computes this kernel (else the general closed form does)."""
    if net.activation not in _STEP_SCALE or net.u.requires_grad:
        return False
    if not (net.W.requires_grad or (net.b is not None and net.b.requires_grad)):
        return False
    if net.out_dim > 1 and output is None:
        return False
    if x1.device.type != "cpu" or net.W.device.type != "cpu" or (x2 is not None and x2.device.type != "cpu"):
        return False
    n = x1.shape[0] + (0 if x2 is None else x2.shape[0])
    return n * net.m * x1.element_size() <= _MASK_BYTES


def _weights_sq(net, output) -> torch.Tensor:
    us = net.u * net.node_scale()
    if output == "mean":
        return (us * us).mean(0)
    k = 0 if output is None else output
    return us[k] * us[k]


def _masks(net, x, cols_keep, int8: bool, weight: torch.Tensor | None) -> torch.Tensor:
    """(n, m) masks 1{z > 0}: int8 (zeroed where w2 = 0) or times ``weight`` in the net's dtype."""
    z = net.preactivations(x)
    if int8:
        m = (z > 0).view(torch.int8)
        return m if cols_keep is None else m.mul_(cols_keep)
    return (z > 0).to(z.dtype).mul_(weight)


def _pairs(n1: int, n2: int | None, rows: int):
    starts = list(range(0, n1, rows))
    if n2 is None:
        return [(i, min(i + rows, n1), j, min(j + rows, n1)) for a, i in enumerate(starts) for j in starts[a:]]
    return [(i, min(i + rows, n1), 0, n2) for i in starts]


def step_activation_ntk(net, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                        output: int | str | None = None) -> torch.Tensor:
    """Theta(x1, x2) for a step-derivative activation; (n1, n2) in the network's dtype."""
    with torch.no_grad():
        dtype = net.W.dtype
        x1 = x1.to(dtype)
        x2 = None if x2 is None else x2.to(dtype)
        w2 = _weights_sq(net, output) * _STEP_SCALE[net.activation] ** 2
        nz = w2 != 0
        c = w2[nz]
        int8 = bool(c.numel() > 0 and c.max() == c.min())
        keep = None if (not int8 or bool(nz.all())) else nz.view(torch.int8)
        weight = None if int8 else w2.sqrt()
        scale = float(c[0]) if int8 else 1.0
        train_W = net.W.requires_grad
        train_b = net.b is not None and net.b.requires_grad
        m1 = _masks(net, x1, keep, int8, weight)
        m2 = None if x2 is None else _masks(net, x2, keep, int8, weight)
        xb = x1 if x2 is None else x2
        root = math.sqrt(scale / net.d)  # on both sides, so that diagonal blocks are syrk and exactly symmetric
        xs1 = (x1 * root).numpy()
        xs2 = xs1 if x2 is None else (x2 * root).numpy()
        n1, n2 = x1.shape[0], xb.shape[0]
        out = torch.empty(n1, n2, dtype=dtype)
        rows = _INT8_ROWS if int8 else _F32_ROWS
        for lo, hi, lo2, hi2 in _pairs(n1, None if x2 is None else n2, rows):
            a = m1[lo:hi]
            b = (m1 if m2 is None else m2)[lo2:hi2]
            if int8:
                g = torch._int_mm(a, b.T)
            else:
                an = a.numpy()
                g = torch.from_numpy(an @ an.T if (x2 is None and lo == lo2) else an @ b.numpy().T)
            if train_W:
                xa = xs1[lo:hi]
                blk = torch.from_numpy(xa @ xa.T if (x2 is None and lo == lo2) else xa @ xs2[lo2:hi2].T)
                if train_b:
                    blk += scale
                blk.mul_(g)
            else:
                blk = g.to(dtype).mul_(scale)
            out[lo:hi, lo2:hi2] = blk
            if x2 is None and lo2 != lo:
                out[lo2:hi2, lo:hi] = blk.T
        return out
