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


def test_block_row_split_is_symmetric_and_consistent(monkeypatch):
    """Several row blocks (mirrored off-diagonal blocks) give the same kernel as one block."""
    net = _net(6, 50, kind="zipf")
    x = torch.randn(37, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    one = _mask_gram.step_activation_ntk(net, x)
    monkeypatch.setattr(_mask_gram, "_F32_ROWS", 8)
    many = _mask_gram.step_activation_ntk(net, x)
    torch.testing.assert_close(many, one, rtol=1e-13, atol=1e-15)
    net8 = _net(6, 50, kind="ntk")
    one8 = _mask_gram.step_activation_ntk(net8, x)
    monkeypatch.setattr(_mask_gram, "_INT8_ROWS", 8)
    many8 = _mask_gram.step_activation_ntk(net8, x)
    # the counts are exact integers; only the d-term geometric dot products may round differently (GEMM vs syrk)
    torch.testing.assert_close(many8, one8, rtol=1e-14, atol=1e-16)
    assert torch.equal(many8, many8.T)


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
