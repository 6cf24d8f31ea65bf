r"""Sums of Hadamard products of Gram matrices, block by block, in one thread pool.

Every closed-form empirical NTK here has the shape

    Theta = sum_t  prod_f  L_{t,f} R_{t,f}^T            (prod: entrywise; L_{t,f} is n1 x p, R_{t,f} n2 x p)

- a shallow net: one term, the geometric factor (x x^T / d + 1) times the activation-pattern Gram S S^T;
- a stack of dense layers: one term per layer, (a^l a^l^T) o (delta^l delta^l^T).

:func:`hadamard_gram_sum` evaluates it on row blocks of the output, so that the factors' n x n products are
never all held at once: a block's Grams go to two small buffers reused from block to block (no fresh pages to
fault in), then one fused multiply-add into the output.  When R = L for every factor the result is symmetric:
only the blocks on and above the diagonal are computed (about (b + 1) / 2b of the flops with b blocks) and the
rest is mirrored, so that the result is exactly symmetric.  An ``int8`` 0/1 factor is multiplied exactly with
int32 accumulation (``torch._int_mm``; VNNI on x86), about four times the rate of an f32 product here.
Everything stays in torch (MKL and its OpenMP pool): handing products to NumPy's BLAS starts a second thread
pool, and the two pools' spinning threads slowed the elementwise work around them tenfold on two cores.

Example:
    >>> import torch
    >>> from ntklab.kernels._gram_products import hadamard_gram_sum
    >>> a, s = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    >>> k = hadamard_gram_sum([[(a, None), (s, None)]])
    >>> bool(torch.allclose(k, (a @ a.T) * (s @ s.T))) and bool(torch.equal(k, k.T))
    True
"""

from __future__ import annotations

import math

import torch

from .._scratch import scratch

__all__ = ["hadamard_gram_sum", "block_rows", "mirror_upper_blocks"]

_BLOCK_ROWS = 1024  # output blocks at most this many rows (and columns): 4 MiB in f32, cache-sized GEMMs
Factor = tuple[torch.Tensor, "torch.Tensor | None"]


def block_rows(n: int, block: int | None = None) -> list[tuple[int, int]]:
    """Split range(n) into near-equal blocks of at most ``block`` rows."""
    b = _BLOCK_ROWS if block is None else max(1, int(block))
    k = max(1, math.ceil(n / b))
    step = math.ceil(n / k)
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


class _Workspace:
    """The block buffers (one factor's product, the running Hadamard product, int32 counts), reused across calls."""

    def __init__(self, rows: int, cols: int, dtype: torch.dtype, device: torch.device):
        self.numel = rows * cols
        self.dtype, self.device = dtype, device

    def get(self, name: str, r: int, c: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        buf = scratch(f"gram_products.{name}", (self.numel,), dtype or self.dtype, self.device)
        return buf[: r * c].view(r, c)


def _product_into(out: torch.Tensor, left: torch.Tensor, right: torch.Tensor, ws: _Workspace) -> torch.Tensor:
    """out = left right^T; int8 factors exactly through int32 counts."""
    if left.dtype == torch.int8:
        counts = ws.get("counts", out.shape[0], out.shape[1], torch.int32)
        if out.device.type == "cpu":
            torch._int_mm(left, right.T, out=counts)
            return out.copy_(counts)
        # elsewhere (_int_mm on GPUs wants multiples of 8): a float product, exact for counts below 2^24 (f32)
        return torch.mm(left.to(out.dtype), right.to(out.dtype).T, out=out)
    return torch.mm(left, right.T, out=out)


def _block(terms, i: tuple[int, int], j: tuple[int, int], ws: _Workspace, out: torch.Tensor) -> None:
    """out (the (i, j) block of Theta, possibly a strided view) = sum_t prod_f L_{t,f}[i] R_{t,f}[j]^T."""
    r, c = i[1] - i[0], j[1] - j[0]

    def product(buf: str, factor: Factor) -> torch.Tensor:
        left, right = factor
        right = left if right is None else right
        return _product_into(ws.get(buf, r, c), left[i[0]:i[1]], right[j[0]:j[1]], ws)

    for t, factors in enumerate(terms):
        if len(factors) == 1:
            if t == 0 and out.is_contiguous() and factors[0][0].dtype != torch.int8:
                left, right = factors[0]
                right = left if right is None else right
                torch.mm(left[i[0]:i[1]], right[j[0]:j[1]].T, out=out)
            elif t == 0:
                out.copy_(product("p1", factors[0]))
            else:
                out.add_(product("p1", factors[0]))
            continue
        acc = product("p0", factors[0])
        for factor in factors[1:-1]:
            acc.mul_(product("p1", factor))
        last = product("p1", factors[-1])
        if t == 0:
            torch.mul(acc, last, out=out)
        else:
            out.addcmul_(acc, last)


def hadamard_gram_sum(terms: list[list[Factor]], *, out: torch.Tensor | None = None,
                      block: int | None = None) -> torch.Tensor:
    """sum over terms of the entrywise product over factors of L R^T (R = None: L L^T, symmetric).

    ``terms`` is a list of terms, each a list of (L, R) factors with L (n1, p), R (n2, p) or None; every
    factor of every term has the same n1 (and n2).  Symmetric (all R None): only the upper block triangle is
    computed, then mirrored.  Float factors must share one dtype; int8 factors hold 0/1 (or small) values.
    """
    if not terms or not all(terms):
        raise ValueError("terms: need at least one term with at least one factor")
    sym = all(r is None for factors in terms for _, r in factors)
    left0, right0 = terms[0][0]
    n1 = left0.shape[0]
    n2 = n1 if right0 is None else right0.shape[0]
    floats = [t for factors in terms for lr in factors for t in lr if t is not None and t.dtype != torch.int8]
    dtype = floats[0].dtype if floats else torch.float32
    device = left0.device
    if out is None:
        out = torch.empty(n1, n2, dtype=dtype, device=device)
    rows, cols = block_rows(n1, block), block_rows(n2, block)
    ws = _Workspace(rows[0][1] - rows[0][0], cols[0][1] - cols[0][0], dtype, device)
    for bi, i in enumerate(rows):
        for bj, j in enumerate(cols):
            if sym and bj < bi:
                continue
            _block(terms, i, j, ws, out[i[0]:i[1], j[0]:j[1]])
    if sym:
        mirror_upper_blocks(out, rows)
    return out


def mirror_upper_blocks(out: torch.Tensor, rows: list[tuple[int, int]]) -> None:
    """Copy the upper block triangle to the lower one; make the diagonal blocks exactly symmetric."""
    for bi, (lo, hi) in enumerate(rows):
        diag = out[lo:hi, lo:hi]
        upper = diag.triu(1)
        diag.tril_().triu_().add_(upper).add_(upper.T)
        for lo2, hi2 in rows[bi + 1:]:
            out[lo2:hi2, lo:hi].copy_(out[lo:hi, lo2:hi2].T)
