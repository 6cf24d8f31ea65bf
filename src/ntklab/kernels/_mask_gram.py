r"""Fast closed-form NTK of a shallow net whose activation derivative is a step: sigma'(z) = kappa 1{z > 0}.

For relu (kappa = 1) and normalised relu, with only W and/or b trainable, the kernel of one output (or the
mean over outputs) is

    Theta(x, x') = g(x, x') * kappa^2 * sum_j w2_j M_j(x) M_j(x'),   M_j(x) = 1{z_j(x) > 0},

with w2_j = u_kj^2 lambda_j mask_j (or its mean over k) and g = x^T x'/d [W] + 1 [b] = G G'^T with
G = [x / sqrt(d), 1].  The sum over j is a product of 0/1 matrices.  When every non-zero w2_j is the same number
c (the NTK scaling 1/m, Rademacher u), it is c times M M^T, computed exactly in int8 with int32 accumulation
(VNNI: about four times the rate of an f32 product here); otherwise A = M * sqrt(w2) in the network's dtype and
an f32/f64 product A A^T.  Either way :func:`~ntklab.kernels._gram_products.hadamard_gram_sum` forms
(G G'^T) o (M M'^T) block by block (upper blocks only when x2 is None), so memory is the n1 x n2 output, the
n x m masks and two 4 MiB block buffers.  The masks' signs need no scaling: 1{x W^T / sqrt(d) + b > 0} =
1{x W^T + sqrt(d) b > 0}.

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
import weakref
from typing import NamedTuple

import torch

from .._scratch import scratch
from ..nets._activations import _NRELU_SCALE
from ._gram_products import hadamard_gram_sum

__all__ = ["step_activation_ntk", "applies"]

_STEP_SCALE = {"relu": 1.0, "normalized_relu": _NRELU_SCALE}
_MASK_BYTES = 512 * 2**20  # the masks of all rows are kept when they fit; else the general blocked path
_CHUNK_BYTES = 16 * 2**20  # preactivation chunks and int32 count blocks stay this small
_SMALL_WORK = 1e7  # below this many multiply-adds one thread is faster: no parallel-region start-up and no
# waiting at its barrier for a descheduled second thread.  (m, n) = (2000, 100), 4e7, ran 15-25 % faster on two
# threads than on one on an idle 2-core machine, interleaved A/B.


class _threads_for:
    """One torch thread while a kernel of ``work`` multiply-adds runs, when that is below ``_SMALL_WORK``."""

    def __init__(self, work: float):
        self.work, self.before = work, None

    def __enter__(self):
        before = torch.get_num_threads()
        if self.work < _SMALL_WORK and before > 1:
            self.before = before
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        if self.before is not None:
            torch.set_num_threads(self.before)


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


class _NodeWeights(NamedTuple):
    int8: bool  # every node with a non-zero weight has the same one, ``scale``
    scale: float
    keep: torch.Tensor | None  # int8 0/1 per node when some weights are zero (pruned), for the int8 masks
    root: torch.Tensor | None  # sqrt(w2) per node, for the float masks


_NODE_WEIGHTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _node_weights(net, output) -> _NodeWeights:
    """w2_j = kappa^2 u_kj^2 lambda_j mask_j, analysed once per state of (u, lambda, mask) and ``output``."""
    tensors = (net.u, net.lambdas, net.mask)  # held by the cache entry, so that an identity check is safe
    key = (output, net.activation, tuple(t._version for t in tensors))
    hit = _NODE_WEIGHTS.get(net)
    if hit is not None and hit[0] == key and all(a is b for a, b in zip(hit[1], tensors)):
        return hit[2]
    w2 = _weights_sq(net, output) * _STEP_SCALE[net.activation] ** 2
    lo, hi = (float(v) for v in torch.aminmax(w2))
    int8, keep, scale = lo == hi and hi > 0, None, hi  # every node weighs the same (NTK scaling)
    if not int8 and lo == 0 and hi > 0:  # pruned nodes: the same weight on the others?
        nz = w2 != 0
        int8, keep = bool(w2[nz].min() == hi), nz.to(torch.int8)
    found = _NodeWeights(int8, scale if int8 else 1.0, keep if int8 else None, None if int8 else w2.sqrt())
    _NODE_WEIGHTS[net] = (key, tensors, found)
    return found


def _masks(net, x, keep, int8: bool, weight: torch.Tensor | None, name: str) -> torch.Tensor:
    """(n, m) masks 1{z > 0}: int8 (zeroed where w2 = 0) or times ``weight`` in the net's dtype.

    The sign of z = x W^T / sqrt(d) + b is that of x W^T + sqrt(d) b, so no scaling pass is needed; z is
    formed in row chunks into one reused buffer (int8) or straight into the output (float).
    """
    n, m = x.shape[0], net.m
    w_t = net.W.T
    shift = None if net.b is None else net.b * math.sqrt(net.d)

    def preactivations(lo: int, hi: int, z: torch.Tensor) -> torch.Tensor:
        xc = x if hi - lo == n else x[lo:hi]
        return torch.mm(xc, w_t, out=z) if shift is None else torch.addmm(shift, xc, w_t, out=z)

    rows = max(1, min(n, _CHUNK_BYTES // (m * x.element_size())))
    if not int8:
        out = scratch(name, (n, m), x.dtype, x.device)
        for lo in range(0, n, rows):
            preactivations(lo, min(n, lo + rows), out[lo:lo + rows])
        return out.gt_(0).mul_(weight)
    out = scratch(name, (n, m), torch.int8, x.device)  # a comparison into int8 runs 3x faster than into bool
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        z = preactivations(lo, hi, scratch("mask_gram.z", (hi - lo, m), x.dtype, x.device))
        torch.gt(z, 0, out=out if hi - lo == n else out[lo:hi])
    return out if keep is None else out.mul_(keep)


def step_activation_ntk(net, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                        output: int | str | None = None) -> torch.Tensor:
    """Theta(x1, x2) for a step-derivative activation; (n1, n2) in the network's dtype."""
    n1, n2 = x1.shape[0], (x1 if x2 is None else x2).shape[0]
    with torch.no_grad(), _threads_for(float(n1 + n2) * net.m * net.d + float(n1) * n2 * net.m):
        dtype = net.W.dtype
        x1 = x1.to(dtype)
        x2 = None if x2 is None else x2.to(dtype)
        nw = _node_weights(net, output)
        m1 = _masks(net, x1, nw.keep, nw.int8, nw.root, "mask_gram.m1")
        g1 = _geometric_factor(net, x1, nw.scale)
        m2 = None if x2 is None else _masks(net, x2, nw.keep, nw.int8, nw.root, "mask_gram.m2")
        g2 = None if x2 is None else _geometric_factor(net, x2, nw.scale)
        return hadamard_gram_sum([[(g1, g2), (m1, m2)]])


def _geometric_factor(net, x: torch.Tensor, scale: float) -> torch.Tensor:
    """G with G G'^T = scale * (x x'^T / d [W trains] + 1 [b trains]): [x sqrt(scale / d), sqrt(scale)]."""
    cols = []
    if net.W.requires_grad:
        cols.append(x * math.sqrt(scale / net.d))
    if net.b is not None and net.b.requires_grad:
        cols.append(torch.full((x.shape[0], 1), math.sqrt(scale), dtype=x.dtype, device=x.device))
    return cols[0] if len(cols) == 1 else torch.cat(cols, dim=1)
