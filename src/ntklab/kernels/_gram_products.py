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
pool, and the two pools' spinning threads slowed the elementwise work around them 8-18-fold on two cores.

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


def _buffer(name: str, r: int, c: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A block buffer reused across blocks and calls (no fresh pages to fault in)."""
    return scratch(f"gram_products.{name}", (r, c), dtype, device)


def _product(dest: torch.Tensor | str, dtype: torch.dtype, left: torch.Tensor, right: torch.Tensor,
             counts_ok: bool) -> torch.Tensor:
    """left right^T into ``dest`` (a tensor, or the name of a block buffer of ``dtype``).

    int8 factors are multiplied exactly with int32 accumulation; the int32 counts are returned as they are when
    ``counts_ok`` (the caller multiplies them into a float, which promotes), else converted into ``dest``.
    """
    r, c = left.shape[0], right.shape[0]
    if left.dtype == torch.int8 and left.device.type == "cpu":
        counts = torch._int_mm(left, right.T, out=_buffer("counts", r, c, torch.int32, left.device))
        if counts_ok:
            return counts
        return (dest if isinstance(dest, torch.Tensor) else _buffer(dest, r, c, dtype, left.device)).copy_(counts)
    out = dest if isinstance(dest, torch.Tensor) else _buffer(dest, r, c, dtype, left.device)
    if left.dtype == torch.int8:  # _int_mm on GPUs wants multiples of 8: a float product, exact below 2^24 (f32)
        return torch.mm(left.to(dtype), right.to(dtype).T, out=out)
    return torch.mm(left, right.T, out=out)


def _rows(t: torch.Tensor, span: tuple[int, int]) -> torch.Tensor:
    return t if span[0] == 0 and span[1] == t.shape[0] else t[span[0]:span[1]]


def _block(terms, i: tuple[int, int], j: tuple[int, int], out: torch.Tensor) -> None:
    """out (the (i, j) block of Theta, possibly a strided view) = sum_t prod_f L_{t,f}[i] R_{t,f}[j]^T."""
    direct = out.is_contiguous()  # the first term's first product can go straight into the output

    def product(dest: torch.Tensor | str, factor: Factor, counts_ok: bool = False) -> torch.Tensor:
        left, right = factor
        return _product(dest, out.dtype, _rows(left, i), _rows(left if right is None else right, j), counts_ok)

    for t, factors in enumerate(terms):
        first = t == 0
        if first and direct:
            acc = product(out, factors[0])
        elif len(factors) == 1:
            if first:
                out.copy_(product("p1", factors[0]))
            else:
                out.add_(product("p1", factors[0], counts_ok=True))
            continue
        else:
            acc = product("p0", factors[0])
        for f, factor in enumerate(factors[1:], start=1):
            p = product("p1", factor, counts_ok=True)
            if f < len(factors) - 1 or (first and direct):
                acc.mul_(p)
            elif first:
                torch.mul(acc, p, out=out)
            else:
                out.addcmul_(acc, p)


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
    if out is None:
        floats = [t for factors in terms for lr in factors for t in lr if t is not None and t.dtype != torch.int8]
        out = torch.empty(n1, n2, dtype=floats[0].dtype if floats else torch.float32, device=left0.device)
    rows, cols = block_rows(n1, block), block_rows(n2, block)
    if len(rows) == len(cols) == 1:
        _block(terms, rows[0], cols[0], out)
    else:
        for bi, i in enumerate(rows):
            for bj, j in enumerate(cols):
                if not (sym and bj < bi):
                    _block(terms, i, j, out[i[0]:i[1], j[0]:j[1]])
    if sym:
        mirror_upper_blocks(out, rows)
    return out


def mirror_upper_blocks(out: torch.Tensor, rows: list[tuple[int, int]]) -> None:
    """Copy the upper block triangle to the lower one; make the diagonal blocks exactly symmetric."""
    for bi, (lo, hi) in enumerate(rows):
        diag = out[lo:hi, lo:hi]
        diag.triu_().add_(diag.triu(1).T)  # the strict lower half := the strict upper half, transposed
        for lo2, hi2 in rows[bi + 1:]:
            out[lo2:hi2, lo:hi].copy_(out[lo:hi, lo2:hi2].T)
