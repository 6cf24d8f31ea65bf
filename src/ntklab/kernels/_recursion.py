r"""The deep NNGP/NTK recursion with per-layer coefficients, block by block: one engine for every convention.

A fully connected network with L hidden layers and a readout (layer L + 1) has, in the infinite-width limit,

    Lambda^l = A_l C^{l-1} + B_l                       pre-activation covariance, C^0 = x.x' / d, C^l = Sigma^l
    Sigma^l  = E[sigma(u) sigma(v)],  Sigma-dot^l = E[sigma'(u) sigma'(v)],   (u, v) ~ N(0, Lambda^l on {x, x'})
    Theta^1  = G_1 C^0 + E_1,   Theta^l = P_l Sigma-dot^{l-1} Theta^{l-1} + G_l C^{l-1} + E_l
    NNGP = Lambda^{L+1},  NTK = Theta^{L+1}.

A layer's (A, B, P, G, E) say how it scales: A the effective weight variance times the previous layer's width and
node mass, B the bias variance, P = A the factor by which gradients of lower layers pass through it (times
Sigma-dot), G the weight-gradient term (multiplier^2, learning-rate multiplier and width), E the bias-gradient term.
:func:`ntklab.infinite_kernel` fills them in the neural-tangents conventions, :func:`ntklab.kernels.network_limit`
from a built network.  Each point's variance follows its own path Lambda^l(x, x) (no sphere assumption).

Everything is float64 on the inputs' device; the (n1, n2) matrices are computed in row x column blocks (symmetric
inputs: upper blocks only, mirrored exactly), and on symmetric diagonal blocks the diagonal is pinned to the variance
path.  ``all_depths`` applies the readout after every hidden layer (entry l - 1: the network with l hidden layers).
A block's matrices live in reused per-thread buffers (:mod:`ntklab._scratch`; closed-form duals write into them
through ``duals_into``), so a repeated call maps no fresh pages: at n = 1000, depth 1, that was a third of the time
and made it vary two-fold from call to call.

Example:
    >>> import torch
    >>> from ntklab.kernels._recursion import Layer, deep_kernels
    >>> from ntklab.kernels import as_dual_activation
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> ntk = Layer(A=2.0, B=0.0, P=2.0, G=2.0, E=0.0)  # He-scaled relu, no bias, neural-tangents' ntk form
    >>> nngp, theta = deep_kernels(as_dual_activation("relu"), x, None, [ntk], ntk, ntk=True)
    >>> [round(float(v), 6) for v in (nngp[0, 0, 0], theta[0, 0, 0], theta[0, 0, 1])]  # 1, 2 and 1/pi
    [1.0, 2.0, 0.31831]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._scratch import scratch
from ._gram_products import block_rows, mirror_upper_blocks

__all__ = ["Layer", "deep_kernels"]


@dataclass(frozen=True)
class Layer:
    """Coefficients of one layer in Lambda = A C + B and Theta = P Sigma-dot Theta_prev + G C + E."""

    A: float
    B: float
    P: float
    G: float
    E: float

    @property
    def theta_is_lambda(self) -> bool:
        return self.G == self.A and self.E == self.B


def _affine(t: torch.Tensor, a: float, b: float, out: torch.Tensor | None = None) -> torch.Tensor:
    if out is None:
        out = t * a if a != 1.0 else t.clone()
    elif a != 1.0:
        torch.mul(t, a, out=out)
    else:
        out.copy_(t)
    return out.add_(b) if b != 0.0 else out


def _buffer(name: str, like: torch.Tensor) -> torch.Tensor:
    """The block's reused buffer ``name`` (:mod:`ntklab._scratch`): a repeated call maps no fresh pages."""
    return scratch(f"recursion.{name}", tuple(like.shape), like.dtype, like.device)


def _variance_paths(act, v1, v2, hidden, need_dot):
    """Per point and hidden layer: the activation's prepared data at Lambda^l(x, x) (x1 and x2 jointly, so quadrature
    activations keep one degree for both), Sigma^l(x, x) and Sigma-dot^l(x, x)."""
    prep1, prep2, post1, post2, dot1 = [], [], [], [], []
    for layer in hidden:
        q1, q2 = layer.A * v1 + layer.B, layer.A * v2 + layer.B
        p1, p2 = act.prepare_pair(q1, q2, derivative=need_dot)
        prep1.append(p1)
        prep2.append(p2)
        v1, v2 = act.second_moment(q1), act.second_moment(q2)
        post1.append(v1)
        post2.append(v2)
        dot1.append(act.derivative_second_moment(q1) if need_dot else None)
    return (prep1, post1, dot1), (prep2, post2, dot1)


def _readout(sigma, theta, top: Layer, out_nngp, out_ntk, k):
    if out_nngp is not None:
        torch.mul(sigma, top.A, out=out_nngp[k]).add_(top.B)
    if out_ntk is None:
        return
    dest = out_ntk[k]
    if top.P == top.G:  # Theta^{L+1} = P (Sigma-dot Theta + Sigma) + E
        torch.add(theta, sigma, out=dest).mul_(top.P).add_(top.E)
    else:
        torch.mul(theta, top.P, out=dest).add_(sigma, alpha=top.G).add_(top.E)


def _block(act, c0, paths1, paths2, out_nngp, out_ntk, *, hidden, top, ntk, diag, all_depths):
    """Readout NNGP/NTK for one (rows x cols) block, written into ``out_*[k]`` (k = depth index, or 0).

    Every block matrix lives in a reused buffer: C^0 (``c0``, overwritten with Theta^1), Lambda^l in one, and
    Sigma^l, Sigma-dot^l in a pair per layer parity (layer l's duals are written while Sigma^{l-1} is still read),
    so no buffer is overwritten while it is live whatever the activation returns (its own buffers or fresh
    tensors)."""
    prep1, post1, dot1 = paths1
    prep2, _, _ = paths2
    sigma, theta = c0, None  # C^{l-1} and Sigma-dot^{l-1} Theta^{l-1}
    depth = len(hidden)
    for index, layer in enumerate(hidden):
        lam = _affine(sigma, layer.A, layer.B, out=_buffer("lambda", c0))
        p1 = tuple(t[:, None] for t in prep1[index])
        p2 = tuple(t[None, :] for t in prep2[index])
        parity = index % 2
        duals_out = (_buffer(f"sigma{parity}", c0), _buffer(f"sigma_dot{parity}", c0))
        new_sigma, sdot = act.duals_into(p1, lam, p2, duals_out, derivative=ntk)
        if new_sigma.data_ptr() == lam.data_ptr():  # a dual that hands back c: Lambda's buffer is rewritten next layer
            new_sigma = new_sigma.clone()
        if diag:
            new_sigma.diagonal().copy_(post1[index])
            if ntk:
                sdot.diagonal().copy_(dot1[index])
        if ntk:  # Theta^l = P Sigma-dot^{l-1} Theta^{l-1} + G C^{l-1} + E, then times Sigma-dot^l (in place)
            if theta is None:  # Theta^1 takes C^0's buffer, which nothing reads after this
                first = lam if layer.theta_is_lambda else _affine(c0, layer.G, layer.E, out=c0)
                theta = torch.mul(first, sdot, out=c0)
            elif layer.theta_is_lambda:
                theta.mul_(layer.P).add_(lam).mul_(sdot)
            else:
                theta.mul_(layer.P).add_(sigma, alpha=layer.G).add_(layer.E).mul_(sdot)
        del lam, sdot
        sigma = new_sigma
        if all_depths or index == depth - 1:
            _readout(sigma, theta, top, out_nngp, out_ntk, index if all_depths else 0)


def deep_kernels(act, x1, x2, hidden: list[Layer], top: Layer, *, ntk: bool, nngp: bool = True,
                 all_depths: bool = False, block_size: int = 512):
    """(NNGP, NTK) of the recursion for float64 (n, d) inputs, each (n_depths, n1, n2) or None when not asked."""
    sym = x2 is None
    x2 = x1 if sym else x2
    d = x1.shape[1]
    path1, path2 = _variance_paths(act, (x1 * x1).sum(1) / d, (x2 * x2).sum(1) / d, hidden, ntk)
    n1, n2, nd = x1.shape[0], x2.shape[0], len(hidden) if all_depths else 1
    out_nngp = torch.empty(nd, n1, n2, dtype=torch.float64, device=x1.device) if nngp else None
    out_ntk = torch.empty(nd, n1, n2, dtype=torch.float64, device=x1.device) if ntk else None

    def sl(path, lo, hi):
        prep, post, dot = path
        return ([tuple(t[lo:hi] for t in p) for p in prep], [t[lo:hi] for t in post],
                [None if t is None else t[lo:hi] for t in dot])

    root = d ** -0.5
    xs1 = x1 * root
    xs2 = xs1 if sym else x2 * root
    rows, cols = block_rows(n1, block_size), block_rows(n2, block_size)
    for bi, (r0, r1) in enumerate(rows):
        for bj, (c0, c1) in enumerate(cols):
            if sym and bj < bi:
                continue
            cov0 = torch.matmul(xs1[r0:r1], xs2[c0:c1].T,
                                out=scratch("recursion.c0", (r1 - r0, c1 - c0), x1.dtype, x1.device))
            _block(act, cov0, sl(path1, r0, r1), sl(path2, c0, c1),
                   None if out_nngp is None else out_nngp[:, r0:r1, c0:c1],
                   None if out_ntk is None else out_ntk[:, r0:r1, c0:c1],
                   hidden=hidden, top=top, ntk=ntk, diag=sym and bi == bj, all_depths=all_depths)
    if sym:  # exactly symmetric: the lower blocks (and the diagonal blocks' lower halves) copied from the upper
        for out in (out_nngp, out_ntk):
            for k in range(nd if out is not None else 0):
                mirror_upper_blocks(out[k], rows)
    return out_nngp, out_ntk
