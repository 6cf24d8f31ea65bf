r"""Closed-form empirical NTK of :class:`~ntklab.ScaledShallowNet`.

With z_j(x) = w_j^T x / sqrt(d) + b_j and node factor s_j = sqrt(lambda_j) mask_j, the gradients are

    df_k/dw_j = u_kj s_j sigma'(z_j) x / sqrt(d),   df_k/db_j = u_kj s_j sigma'(z_j),   df_k/du_k'j = [k=k'] s_j sigma(z_j)

so the tangent kernel Theta_kk'(x, x') = <grad f_k(x), grad f_k'(x')> over the trainable parameters is

    Theta_kk'(x, x') = (x^T x'/d [W] + 1 [b]) * sum_j u_kj u_k'j s_j^2 sigma'(z_j(x)) sigma'(z_j(x'))
                       + [k=k'] [u] * sum_j s_j^2 sigma(z_j(x)) sigma(z_j(x')).

For one output, W only (the paper): Theta = (X X^T / d) o (S diag(lambda) S^T), S_ij = sigma'(z_j(x_i)).
Each sum over j is one matrix product (A B^T with A = sigma'(Z1) * u_k s, an n1 x m matrix), computed in row
blocks of x1 so memory stays O(n1 n2 + block m); when x2 is None the product is symmetric and only its upper
block triangle is computed.

Example:
    >>> import torch, ntklab
    >>> net = ntklab.ScaledShallowNet(5, 100, seed=0).double()
    >>> x = torch.randn(8, 5, dtype=torch.float64)
    >>> ntklab.empirical_ntk(net, x).shape
    torch.Size([8, 8])
"""

from __future__ import annotations

import torch

from .._device import exact_float32
from ..nets._shallow import ScaledShallowNet
from . import _mask_gram
from ._gram_products import mirror_upper_blocks

__all__ = ["shallow_ntk", "gram"]

_BLOCK_BYTES = 256 * 2**20


def _row_block(m: int, itemsize: int, block: int | None) -> int:
    if block is not None:
        return max(1, int(block))
    return max(1, _BLOCK_BYTES // max(1, m * itemsize))


def gram(a_fn, n1: int, b_fn=None, n2: int | None = None, *, block: int) -> torch.Tensor:
    """G = A B^T from row-block generators ``a_fn(lo, hi) -> (hi-lo, m)``; symmetric when ``b_fn`` is None.

    The symmetric case computes the upper block triangle and mirrors it (exactly symmetric).  Everything stays
    in torch's BLAS and thread pool.
    """
    if b_fn is None:
        ranges = [(lo, min(lo + block, n1)) for lo in range(0, n1, block)]
        out = None
        for bi, (lo, hi) in enumerate(ranges):
            a = a_fn(lo, hi)
            if out is None:
                out = torch.empty(n1, n1, dtype=a.dtype, device=a.device)
            if len(ranges) == 1:
                torch.mm(a, a.T, out=out)
            else:
                out[lo:hi, lo:hi].copy_(a @ a.T)
            for lo2, hi2 in ranges[bi + 1:]:
                out[lo:hi, lo2:hi2].copy_(a @ a_fn(lo2, hi2).T)
        mirror_upper_blocks(out, ranges)
        return out
    bmat = b_fn(0, n2)  # the right factor is needed whole for every row block
    out = torch.empty(n1, n2, dtype=bmat.dtype, device=bmat.device)
    for lo in range(0, n1, block):
        hi = min(lo + block, n1)
        if hi - lo == n1:
            torch.mm(a_fn(lo, hi), bmat.T, out=out)
        else:
            out[lo:hi].copy_(a_fn(lo, hi) @ bmat.T)
    return out


def _check_output(output, K: int):
    if output is None or output == "mean":
        return
    if isinstance(output, bool) or not isinstance(output, int) or not 0 <= output < K:
        raise ValueError(f"output: got {output!r} (allowed: None, 'mean', or an output index 0..{K - 1})")


@exact_float32()
def shallow_ntk(
    net: ScaledShallowNet,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    output: int | str | None = None,
    block: int | None = None,
) -> torch.Tensor:
    """Closed-form empirical NTK of a ScaledShallowNet over its trainable parameters.

    Returns (n1, n2) for one output, for ``output=k`` (the kernel of output k), or for ``output="mean"``
    (the average of the K diagonal output blocks); otherwise (n1, n2, K, K) with entry
    [i, l, k, k'] = <grad f_k(x1_i), grad f_k'(x2_l)>.
    """
    K = net.out_dim
    _check_output(output, K)
    if block is None and _mask_gram.applies(net, x1, x2, output):
        return _mask_gram.step_activation_ntk(net, x1, x2, output=output)
    with torch.no_grad():
        dtype = net.W.dtype
        x1 = x1.to(dtype)
        x2 = None if x2 is None else x2.to(dtype)
        xb = x1 if x2 is None else x2
        n1, n2 = x1.shape[0], xb.shape[0]
        on_cpu = x1.device.type == "cpu" and net.W.device.type == "cpu"
        blk = _row_block(net.m, x1.element_size(), block)
        s = net.node_scale()
        act = net._act
        train_W = net.W.requires_grad
        train_b = net.b is not None and net.b.requires_grad
        geo = None
        if train_W:
            geo = x1 @ xb.T / net.d
            if train_b:
                geo += 1

        def rows(x, weight, use_deriv):
            def f(lo, hi):
                z = net.preactivations(x[lo:hi])
                return (act.derivative(z) if use_deriv else act(z)) * weight
            return f

        def product(fa, fb):
            """A B^T for row generators; fb None means the symmetric A A^T."""
            if on_cpu:
                if x2 is None and fb is None:
                    return gram(fa, n1, block=blk)
                return gram(fa, n1, fb, n2, block=blk)
            a = fa(0, n1)
            return a @ (a if fb is None else fb(0, n2)).T

        def grad_block(k, kp):
            """sum_j u_kj u_k'j s_j^2 sigma'(z_j(x)) sigma'(z_j(x')), times the geometric factor."""
            if not (train_W or train_b):
                return None
            if k == kp:
                w = (net.u[k] * s).abs()
                sym = x2 is None
                g = product(rows(x1, w, True), None if sym else rows(xb, w, True))
            else:
                g = product(rows(x1, net.u[k] * net.u[kp] * s * s, True), rows(xb, torch.ones_like(s), True))
            return g if geo is None else g * geo

        ukern = None
        if net.u.requires_grad:
            ukern = product(rows(x1, s, False), None if x2 is None else rows(xb, s, False))

        def diag_block(k):
            g = grad_block(k, k)
            if ukern is not None:
                g = ukern.clone() if g is None else g + ukern
            return g

        if K == 1 or isinstance(output, int):
            return diag_block(0 if output is None else output)
        if output == "mean":
            return sum(diag_block(k) for k in range(K)) / K
        full = torch.zeros(n1, n2, K, K, dtype=dtype, device=x1.device)
        for k in range(K):
            full[:, :, k, k] = diag_block(k)
            for kp in range(k + 1, K):
                g = grad_block(k, kp)
                if g is not None:  # the (k, k') block is symmetric in k <-> k' for each (i, l)
                    full[:, :, k, kp] = g
                    full[:, :, kp, k] = g
        return full
