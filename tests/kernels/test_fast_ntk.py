"""The fast step-activation NTK (int8 / f32 mask products) equals the torch.func NTK and the general closed form."""

import pytest
import torch

import ntklab
from ntklab.kernels import _mask_gram
from ntklab.kernels._empirical_shallow import shallow_ntk


def _net(d, m, *, kind="ntk", activation="relu", bias=False, trainable=("W",), out_dim=1, prune=0, seed=0):
    lam = None if kind == "ntk" else ntklab.node_scaling(m, kind="zipf", gamma=0.3, alpha=0.6)
    net = ntklab.ScaledShallowNet(d, m, lambdas=lam, activation=activation, bias=bias, trainable=trainable,
                                  out_dim=out_dim, seed=seed, dtype=torch.float64)
    if prune:
        net.mask[:prune] = 0
    return net


CASES = [
    dict(kind="ntk"), dict(kind="zipf"), dict(kind="ntk", prune=5), dict(kind="zipf", prune=3),
    dict(kind="ntk", activation="normalized_relu"), dict(kind="ntk", bias=True, trainable=("W", "b")),
    dict(kind="zipf", bias=True, trainable=("b",)), dict(kind="ntk", out_dim=3),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("sym", [True, False])
def test_fast_path_equals_autodiff(case, sym):
    net = _net(7, 40, **case)
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(11, 7, generator=g, dtype=torch.float64)
    x2 = None if sym else torch.randn(5, 7, generator=g, dtype=torch.float64)
    outputs = [None] if net.out_dim == 1 else [1, "mean"]
    for out in outputs:
        assert _mask_gram.applies(net, x1, x2, out)
        fast = ntklab.empirical_ntk(net, x1, x2, output=out)
        auto = ntklab.empirical_ntk(net, x1, x2, output=out, method="generic")
        general = shallow_ntk(net, x1, x2, output=out, block=4)  # the block argument forces the general path
        # float64 throughout: the two products differ only by summation order, O(m eps) relative.
        torch.testing.assert_close(fast, auto, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(fast, general, rtol=1e-12, atol=1e-14)


def test_int8_path_is_taken_and_exact_in_float32():
    """The NTK scaling has one weight value: the int8 count product is exact, so the f32 result matches the
    float64 kernel to f32 rounding of the final products (a few ulps), tighter than an f32 GEMM over m terms."""
    net32 = ntklab.ScaledShallowNet(20, 3000, seed=2)
    net64 = ntklab.ScaledShallowNet(20, 3000, seed=2, dtype=torch.float64)
    x = torch.randn(300, 20, generator=torch.Generator().manual_seed(3))
    k32 = ntklab.empirical_ntk(net32, x)
    k64 = ntklab.empirical_ntk(net64, x.double())
    # preactivations round differently in f32 and f64, so a mask can flip where |z| ~ 1e-7: compare where the
    # f64 preactivations are safely away from 0 by restricting to the kernel's relative error over all entries.
    rel = ((k32.double() - k64).abs() / k64.abs().max()).max()
    assert rel < 1e-5, rel
    assert torch.equal(k32, k32.T)


def test_chunked_masks_and_row_blocks_agree(monkeypatch):
    """Small chunks (many preactivation chunks and int32 row blocks) give the same kernel as one chunk."""
    x = torch.randn(37, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for kind in ("zipf", "ntk"):
        net = _net(6, 50, kind=kind)
        one = _mask_gram.step_activation_ntk(net, x)
        with monkeypatch.context() as mp:
            mp.setattr(_mask_gram, "_CHUNK_BYTES", 8 * 50 * 3)  # 3 rows of preactivations, few rows of counts
            many = _mask_gram.step_activation_ntk(net, x)
        assert torch.equal(many, one)  # the same products in the same order: bit-identical
        assert torch.equal(many, many.T)


def test_fast_path_declines_what_it_cannot_compute():
    x = torch.randn(4, 5, dtype=torch.float64)
    assert not _mask_gram.applies(_net(5, 8, activation="normalized_relu", trainable=("W", "u")), x, None, None)
    tanh = ntklab.ScaledShallowNet(5, 8, activation="tanh", dtype=torch.float64)
    assert not _mask_gram.applies(tanh, x, None, None)
    assert not _mask_gram.applies(_net(5, 8, out_dim=2), x, None, None)  # the (n, n, K, K) form


class _Scale(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x):
        return x * self.c


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("sym", [True, False])
def test_structured_generic_equals_jacobian(K, sym):
    from ntklab.kernels import empirical_ntk_generic

    torch.manual_seed(0)
    net = torch.nn.Sequential(_Scale(0.7), torch.nn.Linear(4, 12), torch.nn.Tanh(), torch.nn.Linear(12, 9),
                              torch.nn.ReLU(), torch.nn.Linear(9, K, bias=False)).double()
    net[1].bias.requires_grad_(False)  # a frozen bias, a bias-free layer: every trainable subset shape
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(7, 4, generator=g, dtype=torch.float64)
    x2 = None if sym else torch.randn(5, 4, generator=g, dtype=torch.float64)
    for out in ([None] if K == 1 else [None, 2, "mean"]):
        fast = empirical_ntk_generic(net, x1, x2, output=out, implementation="structured")
        ref = empirical_ntk_generic(net, x1, x2, output=out, implementation="jacobian")
        torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-14)  # float64, different summation order


def test_structured_falls_back_where_it_does_not_apply():
    from ntklab.kernels import empirical_ntk_generic
    from ntklab.kernels._empirical_structured import structured_ntk

    lin = torch.nn.Linear(3, 3).double()
    shared = torch.nn.Sequential(lin, torch.nn.Tanh(), lin)  # one layer called twice
    bn = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1)).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    assert structured_ntk(shared, x) is None and structured_ntk(bn, x) is None
    torch.testing.assert_close(empirical_ntk_generic(shared, x, implementation="structured"),
                               empirical_ntk_generic(shared, x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("param", ["ntk", "mup"])
def test_structured_equals_jacobian_on_ntklab_mlp(param):
    from ntklab.kernels import empirical_ntk_generic

    net = ntklab.MLP(4, [10, 8], 2, parameterization=param, bias=True, seed=0, dtype=torch.float64)
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    from ntklab.kernels._empirical_structured import structured_ntk
    assert structured_ntk(net, x) is not None  # the MLP layers are handled, not a fallback
    fast = empirical_ntk_generic(net, x, implementation="structured")
    ref = empirical_ntk_generic(net, x, implementation="jacobian")
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-14)  # float64, different summation order


class _Centre(torch.nn.Module):
    """Subtracts the batch mean: samples interact, which the per-layer Gram identity cannot see."""

    def forward(self, x):
        return x - x.mean(0, keepdim=True)


def test_auto_uses_structured_and_falls_back_when_samples_interact():
    from ntklab.kernels import empirical_ntk_generic

    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    plain = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    torch.testing.assert_close(empirical_ntk_generic(plain, x), empirical_ntk_generic(plain, x, implementation="jacobian"),
                               rtol=1e-12, atol=1e-14)
    coupled = torch.nn.Sequential(torch.nn.Linear(3, 8), _Centre(), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    forced = empirical_ntk_generic(coupled, x, implementation="structured")  # the batch-coupled gradients
    with pytest.warns(RuntimeWarning, match="samples interact"):
        auto = empirical_ntk_generic(coupled, x)
    ref = empirical_ntk_generic(coupled, x, implementation="jacobian")  # per-example: the kernel's definition
    torch.testing.assert_close(auto, ref, rtol=0, atol=0)
    assert float((forced - ref).abs().max()) > 1e-3


def test_step_kernel_sees_changed_node_weights():
    """The per-net analysis of the node weights is cached; in-place changes and new buffers invalidate it."""
    net = ntklab.ScaledShallowNet(5, 40, seed=0, dtype=torch.float64)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ntklab.empirical_ntk(net, x)
    with torch.no_grad():
        net.mask[:10] = 0  # in place: pruned nodes
    torch.testing.assert_close(ntklab.empirical_ntk(net, x), ntklab.empirical_ntk(net, x, method="generic"),
                               rtol=1e-12, atol=1e-14)
    net.lambdas = torch.linspace(0.01, 0.04, 40, dtype=torch.float64)  # a new buffer: unequal weights
    torch.testing.assert_close(ntklab.empirical_ntk(net, x), ntklab.empirical_ntk(net, x, method="generic"),
                               rtol=1e-12, atol=1e-14)


def test_many_output_blocks_agree_with_one(monkeypatch):
    """Blocked evaluation (upper block triangle, mirrored) equals the single-block kernel, x2 given or not."""
    from ntklab.kernels import _gram_products

    g = torch.Generator().manual_seed(5)
    x, x2 = torch.randn(45, 6, generator=g, dtype=torch.float64), torch.randn(23, 6, generator=g, dtype=torch.float64)
    for kind in ("zipf", "ntk"):
        net = _net(6, 50, kind=kind, bias=True, trainable=("W", "b"))
        one, one2 = _mask_gram.step_activation_ntk(net, x), _mask_gram.step_activation_ntk(net, x, x2)
        with monkeypatch.context() as mp:
            mp.setattr(_gram_products, "_BLOCK_ROWS", 8)  # 6 x 6 output blocks
            many, many2 = _mask_gram.step_activation_ntk(net, x), _mask_gram.step_activation_ntk(net, x, x2)
        torch.testing.assert_close(many, one, rtol=1e-13, atol=1e-15)  # float64, other GEMM block shapes
        torch.testing.assert_close(many2, one2, rtol=1e-13, atol=1e-15)
        assert torch.equal(many, many.T)
        torch.testing.assert_close(many, ntklab.empirical_ntk(net, x, method="generic"), rtol=1e-12, atol=1e-14)
