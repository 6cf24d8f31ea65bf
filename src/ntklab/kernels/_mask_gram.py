r"""Fast closed-form NTK of a shallow net whose activation derivative is a step: sigma'(z) = kappa 1{z > 0}.

For relu (kappa = 1) and normalised relu, with only W and/or b trainable, the kernel of one output (or the
mean over outputs) is

    Theta(x, x') = g(x, x') * kappa^2 * sum_j w2_j M_j(x) M_j(x'),   M_j(x) = 1{z_j(x) > 0},

with w2_j = u_kj^2 lambda_j mask_j (or its mean over k) and g = x^T x'/d [W] + 1 [b].  The sum over j is a
product of 0/1 matrices.  When every non-zero w2_j is the same number c (the NTK scaling 1/m, Rademacher u),
it is c times M M^T, computed exactly in int8 with int32 accumulation (VNNI; about twice the rate of an f32
syrk here, though it does the full product), row block by row block into the geometric factor, so memory is
the n1 x n2 output, one 16 MiB block and the n x m int8 masks; otherwise A = M * sqrt(w2) in the network's
dtype and one BLAS product A A^T (syrk) on the shared NumPy buffer, multiplied into the geometric factor.

Example:
    >>> import torch, ntklab
    >>> from ntklab.kernels._mask_gram import step_activation_ntk
    >>> net = ntklab.ScaledShallowNet(5, 64, seed=0).double()
    >>> x = torch.randn(6, 5, dtype=torch.float64)
    >>> bool(torch.allclose(step_activation_ntk(net, x), ntklab.empirical_ntk(net, x, method="generic")))
    True
"""

from __future__ import annotations

import contextlib
import math

import torch

from ..nets._activations import _NRELU_SCALE

__all__ = ["step_activation_ntk", "applies"]

_STEP_SCALE = {"relu": 1.0, "normalized_relu": _NRELU_SCALE}
_MASK_BYTES = 512 * 2**20  # the masks of all rows are kept when they fit; else the general blocked path
_CHUNK_BYTES = 16 * 2**20  # preactivation chunks and int32 count blocks stay this small
_SMALL_WORK = 2e8  # below this many multiply-adds one thread is faster: no parallel-region start-up and no
# waiting at its barrier for a descheduled second thread (what dominated small kernels on a shared machine)


@contextlib.contextmanager
def _threads_for(work: float):
    before = torch.get_num_threads()
    if work < _SMALL_WORK and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


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


def _masks(net, x, keep, int8: bool, weight: torch.Tensor | None) -> torch.Tensor:
    """(n, m) masks 1{z > 0}: int8 (zeroed where w2 = 0) or times ``weight`` in the net's dtype; z in row chunks."""
    n, m = x.shape[0], net.m
    out = torch.empty(n, m, dtype=torch.bool if int8 else x.dtype)
    rows = max(1, _CHUNK_BYTES // (m * x.element_size()))
    for lo in range(0, n, rows):
        z = net.preactivations(x[lo:lo + rows])
        torch.gt(z, 0, out=out[lo:lo + rows])
    if not int8:
        return out.mul_(weight)
    out = out.view(torch.int8)
    return out if keep is None else out.mul_(keep)


def step_activation_ntk(net, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                        output: int | str | None = None) -> torch.Tensor:
    """Theta(x1, x2) for a step-derivative activation; (n1, n2) in the network's dtype."""
    n1, n2 = x1.shape[0], (x1 if x2 is None else x2).shape[0]
    with torch.no_grad(), _threads_for(float(n1 + n2) * net.m * net.d + float(n1) * n2 * net.m):
        dtype = net.W.dtype
        x1 = x1.to(dtype)
        x2 = None if x2 is None else x2.to(dtype)
        w2 = _weights_sq(net, output) * _STEP_SCALE[net.activation] ** 2
        nz = w2 != 0
        c = w2[nz]
        int8 = bool(c.numel() > 0 and c.max() == c.min())
        keep = None if (not int8 or bool(nz.all())) else nz.view(torch.int8)
        scale = float(c[0]) if int8 else 1.0
        m1 = _masks(net, x1, keep, int8, None if int8 else w2.sqrt())
        m2 = m1 if x2 is None else _masks(net, x2, keep, int8, None if int8 else w2.sqrt())
        n1, n2 = m1.shape[0], m2.shape[0]
        out = _geometry(net, x1, x2, scale)
        if int8:  # exact integer counts, row block by row block, into the geometric factor
            rows = max(1, _CHUNK_BYTES // (4 * n2))
            m2t = m2.T
            for lo in range(0, n1, rows):
                out[lo:lo + rows].mul_(torch._int_mm(m1[lo:lo + rows], m2t))
        else:  # one BLAS product (syrk when symmetric), multiplied into the geometric factor
            out.mul_(_product(m1, None if x2 is None else m2))
        return out


def _product(a: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """a b^T, or a a^T (exactly symmetric) when b is None.

    Large products go to NumPy's BLAS on the shared buffer (syrk: half the flops); small ones stay in torch, as
    handing a few-millisecond product to a second thread pool costs more than it saves on 2 cores.
    """
    n2 = a.shape[0] if b is None else b.shape[0]
    if float(a.shape[0]) * n2 * a.shape[1] >= _SMALL_WORK:
        an = a.numpy()
        return torch.from_numpy(an @ an.T if b is None else an @ b.numpy().T)
    if b is not None:
        return a @ b.T
    g = a @ a.T
    return g.triu_().add_(g.triu(1).T)


def _geometry(net, x1, x2, scale: float) -> torch.Tensor:
    """scale * (x1 x2^T / d [W] + 1 [b]); syrk (exactly symmetric) when x2 is None."""
    n1, n2 = x1.shape[0], (x1 if x2 is None else x2).shape[0]
    if not net.W.requires_grad:
        return torch.full((n1, n2), scale, dtype=x1.dtype)
    root = math.sqrt(scale / net.d)  # on both sides, so that the symmetric product is one syrk
    out = _product(x1 * root, None if x2 is None else x2 * root)
    if net.b is not None and net.b.requires_grad:
        out += scale
    return out
