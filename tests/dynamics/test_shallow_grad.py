"""The closed-form stacked MSE gradient equals autograd, and training with it equals training through autograd."""

import pytest
import torch

import ntklab
from ntklab.dynamics import _shallow_grad
from ntklab.dynamics._shallow_grad import ShallowMSEGradient
from ntklab.dynamics._stacked import StackedModels


def _nets(R, *, d=6, m=30, out_dim=1, activation="relu", bias=False):
    nets = []
    for r in range(R):
        lam = None if r % 2 == 0 else ntklab.node_scaling(m, kind="zipf", gamma=0.2, alpha=0.5)
        net = ntklab.ScaledShallowNet(d, m, out_dim=out_dim, lambdas=lam, activation=activation, bias=bias,
                                      seed=r, dtype=torch.float64)
        net.mask[r] = 0  # a pruned node
        nets.append(net)
    return nets


@pytest.mark.parametrize("out_dim,activation,bias", [(1, "relu", False), (3, "relu", True), (2, "tanh", False),
                                                     (1, "normalized_relu", True)])
def test_closed_form_gradient_equals_autograd(out_dim, activation, bias):
    nets = _nets(3, out_dim=out_dim, activation=activation, bias=bias)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 6, generator=g, dtype=torch.float64)
    y = torch.randn(9, out_dim, generator=g, dtype=torch.float64)
    st = StackedModels(nets)
    alive = torch.tensor([True, False, True])
    out = st.forward(x)
    loss_auto = ((out - y) ** 2).mean(dim=(1, 2))
    loss_auto[alive].sum().backward()
    grad_auto = st.params["W"].grad.clone()
    st.params["W"].grad = None
    fast = ShallowMSEGradient(st, x, y)
    loss_fast = fast.loss()
    fast.set_grads(alive)
    # float64; both sum the same n*K terms in different orders: agreement to ~1e-15 relative, 1e-12 is ample
    torch.testing.assert_close(loss_fast, loss_auto.detach(), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(st.params["W"].grad, grad_auto, rtol=1e-12, atol=1e-15)
    assert torch.count_nonzero(st.params["W"].grad[1]) == 0  # the dead run does not move


def _cfg(seed, gamma):
    return ntklab.RunConfig(
        name=f"g{gamma}", seed=seed, dtype="float64",
        data={"name": "sphere_sin", "options": {"n_train": 20, "n_test": 10, "d": 5, "seed": 0}},
        network={"kind": "shallow", "width": 40, "scaling": {"kind": "ntk" if gamma == 1 else "zipf", "gamma": gamma,
                                                           "alpha": 0.5}},
        optimizer={"name": "gd", "lr": 1.0}, training={"steps": 60}, probes={"every": 20},
    )


def test_training_with_closed_form_equals_autograd(tmp_path, monkeypatch):
    cfgs = [_cfg(0, 1.0), _cfg(1, 0.2)]
    fast = ntklab.train_many(cfgs, out=tmp_path / "fast", progress=False)
    monkeypatch.setattr(_shallow_grad, "ENABLED", False)
    slow = ntklab.train_many(cfgs, out=tmp_path / "auto", progress=False)
    for a, b in zip(fast, slow):
        ma, mb = a.metrics.sort_values(["step", "metric", "key"]), b.metrics.sort_values(["step", "metric", "key"])
        assert list(ma.metric) == list(mb.metric)
        # float64 GD for 60 steps from the same start: differences are rounding, amplified at most mildly
        torch.testing.assert_close(torch.tensor(ma.value.to_numpy()), torch.tensor(mb.value.to_numpy()),
                                   rtol=1e-9, atol=1e-12)


def test_fast_path_only_where_it_applies():
    nets = _nets(2)
    assert _shallow_grad.supports(nets, loss="mse", full_batch=True)
    assert not _shallow_grad.supports(nets, loss="cross_entropy", full_batch=True)
    assert not _shallow_grad.supports(nets, loss="mse", full_batch=False)
    both = [ntklab.ScaledShallowNet(3, 5, trainable=("W", "u"))]
    assert not _shallow_grad.supports(both, loss="mse", full_batch=True)
