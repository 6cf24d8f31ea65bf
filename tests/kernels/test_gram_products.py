"""Block sums of Hadamard products of Gram matrices against the explicit products, and the scratch buffers."""

import pytest
import torch

from ntklab._scratch import MAX_BYTES, scratch
from ntklab.kernels._gram_products import block_rows, hadamard_gram_sum


def _explicit(terms):
    total = 0
    for factors in terms:
        prod = 1
        for left, right in factors:
            right = left if right is None else right
            prod = prod * (left.double() @ right.double().T)
        total = total + prod
    return total


def _factors(n, gen, widths=(3, 5), int8=False):
    out = [torch.randn(n, w, generator=gen, dtype=torch.float64) for w in widths]
    if int8:
        out.append((torch.rand(n, 7, generator=gen) > 0.5).to(torch.int8))
    return out


@pytest.mark.parametrize("block", [None, 1, 3, 4, 100])
@pytest.mark.parametrize("int8", [False, True])
def test_symmetric_sum_matches_explicit_products_and_is_exactly_symmetric(block, int8):
    g = torch.Generator().manual_seed(0)
    a, s, *rest = _factors(10, g, int8=int8)
    terms = [[(a, None), (s, None)], [(s, None)], [(a, None), (s, None), (a, None)]]
    if int8:
        terms.append([(s, None), (rest[0], None)])
    k = hadamard_gram_sum(terms, block=block)
    assert k.dtype == torch.float64
    torch.testing.assert_close(k, _explicit(terms), rtol=1e-13, atol=1e-12)  # float64 sums of ~10 products
    assert torch.equal(k, k.T)


@pytest.mark.parametrize("block", [None, 2, 5])
def test_two_sided_sum_matches_explicit_products(block):
    g = torch.Generator().manual_seed(1)
    a, s = _factors(9, g)
    b, t = _factors(6, g)
    m1 = (torch.rand(9, 11, generator=g) > 0.5).to(torch.int8)
    m2 = (torch.rand(6, 11, generator=g) > 0.5).to(torch.int8)
    terms = [[(a, b), (s, t)], [(s, t), (m1, m2)], [(a, b)]]
    k = hadamard_gram_sum(terms, block=block)
    assert k.shape == (9, 6)
    torch.testing.assert_close(k, _explicit(terms), rtol=1e-13, atol=1e-12)


def test_int8_counts_are_exact_beyond_float32_integers():
    """0/1 products accumulate in int32: counts above 2^24 would round in float32, not here."""
    m = torch.ones(2, 2**24 + 3, dtype=torch.int8)
    g = torch.ones(2, 1, dtype=torch.float64)
    k = hadamard_gram_sum([[(g, None), (m, None)]])
    assert torch.equal(k, torch.full((2, 2), float(2**24 + 3), dtype=torch.float64))


def test_float32_against_float64():
    g = torch.Generator().manual_seed(2)
    a, s = _factors(300, g, widths=(50, 400))
    terms64 = [[(a, None), (s, None)], [(s, None)]]
    terms32 = [[(a.float(), None), (s.float(), None)], [(s.float(), None)]]
    k64, k32 = hadamard_gram_sum(terms64, block=128), hadamard_gram_sum(terms32, block=128)
    # inner products of 50 and 400 terms in float32: relative error a few times sqrt(p) * 2^-24
    torch.testing.assert_close(k32.double(), k64, rtol=2e-5, atol=2e-5 * float(k64.abs().max()))


def test_block_rows_cover_the_range():
    for n, b in [(1, None), (10, 3), (1024, None), (1025, None), (4000, 1000)]:
        blocks = block_rows(n, b)
        assert blocks[0][0] == 0 and blocks[-1][1] == n
        assert all(hi == lo2 for (_, hi), (lo2, _) in zip(blocks, blocks[1:]))
        assert max(hi - lo for lo, hi in blocks) <= (b or 1024)


def test_bad_terms():
    with pytest.raises(ValueError, match="terms"):
        hadamard_gram_sum([])
    with pytest.raises(ValueError, match="terms"):
        hadamard_gram_sum([[]])


def test_scratch_reuses_memory_per_name_and_not_across_names():
    a = scratch("test.a", (4, 5), torch.float32)
    a2 = scratch("test.a", (2, 3), torch.float32)
    b = scratch("test.b", (4, 5), torch.float32)
    assert a.data_ptr() == a2.data_ptr() and a2.shape == (2, 3) and a2.is_contiguous()
    assert b.data_ptr() != a.data_ptr()
    big = scratch("test.a", (MAX_BYTES // 4 + 1,), torch.float32)  # over the cap: a fresh tensor
    assert big.data_ptr() != scratch("test.a", (MAX_BYTES // 4 + 1,), torch.float32).data_ptr()
