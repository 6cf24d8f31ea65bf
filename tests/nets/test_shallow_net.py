import math

import pytest
import torch

import ntklab
from ntklab import ConfigError


def test_forward_matches_explicit_sum():
    d, m, K = 4, 30, 3
    lam = ntklab.node_scaling(m, kind="zipf", gamma=0.3, alpha=0.6)
    net = ntklab.ScaledShallowNet(d, m, out_dim=K, lambdas=lam, bias=True, activation="tanh", seed=1,
                                 dtype=torch.float64)
    x = torch.randn(5, d, dtype=torch.float64)
    out = net(x).detach()
    expected = torch.zeros(5, K, dtype=torch.float64)
    with torch.no_grad():
        for i, k in [(i, k) for i in range(5) for k in range(K)]:
            expected[i, k] = sum(net.u[k, j] * math.sqrt(lam[j]) * math.tanh(net.W[j] @ x[i] / math.sqrt(d) + net.b[j])
                                 for j in range(m))
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_paper_initialisation_and_trainable_flags():
    net = ntklab.ScaledShallowNet(50, 20000, seed=0)
    assert float(net.W.detach().std()) == pytest.approx(math.sqrt(2), rel=0.01)  # 1e6 draws: sd error ~ 0.07 %
    assert set(net.u.unique().tolist()) == {-1.0, 1.0}
    assert net.b is None
    assert net.W.requires_grad and not net.u.requires_grad
    torch.testing.assert_close(net.lambdas, torch.full((20000,), 1 / 20000))
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["W"]


def test_seeded_init_is_reproducible_and_double_works():
    a = ntklab.ScaledShallowNet(3, 10, seed=5)
    b = ntklab.ScaledShallowNet(3, 10, seed=5)
    assert torch.equal(a.W, b.W) and torch.equal(a.u, b.u)
    a = a.double()
    assert a.W.dtype == a.lambdas.dtype == torch.float64
    assert a(torch.randn(2, 3, dtype=torch.float64)).dtype == torch.float64


def test_mask_removes_nodes_exactly():
    net = ntklab.ScaledShallowNet(3, 6, seed=0, trainable=("W", "u")).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    net.mask[2:] = 0
    keep = net.features(x)[:, :2] @ net.u[:, :2].T
    torch.testing.assert_close(net(x), keep, rtol=0, atol=0)


def test_state_dict_roundtrip_keeps_scaling():
    lam = ntklab.node_scaling(8, kind="zipf", gamma=0.0, alpha=0.5)
    a = ntklab.ScaledShallowNet(2, 8, lambdas=lam, seed=0)
    b = ntklab.ScaledShallowNet(2, 8, seed=1)
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 2)
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("kwargs,field", [
    (dict(trainable=("V",)), "trainable"),
    (dict(trainable=("b",)), "trainable"),
    (dict(activation="swish"), "activation"),
    (dict(lambdas=torch.ones(3)), "lambdas"),
    (dict(lambdas=-torch.ones(5)), "lambdas"),
])
def test_bad_arguments(kwargs, field):
    with pytest.raises(ConfigError) as exc:
        ntklab.ScaledShallowNet(2, 5, **kwargs)
    assert exc.value.field == field
