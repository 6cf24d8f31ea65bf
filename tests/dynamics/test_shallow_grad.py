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
    loss_fast = fast.loss_and_grad(alive)
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


def _e1_nets(dtype, *, R=3, m=300, d=20):
    return [ntklab.ScaledShallowNet(d, m, lambdas=None if r == 0 else
                                    ntklab.node_scaling(m, kind="zipf", gamma=0.5 * (r - 1), alpha=0.5),
                                    seed=r, dtype=dtype) for r in range(R)]


def _e1_data(n=40, d=20):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True), torch.randn(n, 1, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("onednn", [True, False])
def test_float32_step_matches_float64_autograd(onednn, monkeypatch):
    """The unfused float32 step (oneDNN's fused products, or torch.mm) against autograd in float64 on the same nets
    (the fused kernel has its own tests in test_relu_kernel.py)."""
    monkeypatch.setattr(_shallow_grad, "ONEDNN", onednn)
    monkeypatch.setattr(_shallow_grad, "FUSED", False)
    x, y = _e1_data()
    st64 = StackedModels(_e1_nets(torch.float64))
    loss64 = ((st64.forward(x) - y) ** 2).mean(dim=(1, 2))
    loss64.sum().backward()
    st32 = StackedModels(_e1_nets(torch.float32))
    loss32 = ShallowMSEGradient(st32, x.float(), y.float()).loss_and_grad(torch.ones(3, dtype=torch.bool))
    g64, g32 = st64.params["W"].grad, st32.params["W"].grad.double()
    # each entry is a float32 dot product of length n = 40 after one of length d = 20: the deterministic bound
    # is about (n + d) u = 60 * 6e-8 = 3.6e-6 relative to the sum of |terms|; 1e-5 normwise covers it
    # (measured ~2e-7 at the E1 shapes)
    for r in range(3):
        assert float((g32[r] - g64[r]).norm() / g64[r].norm()) < 1e-5
    torch.testing.assert_close(loss32.double(), loss64.detach(), rtol=1e-5, atol=0)


def test_onednn_and_torch_mm_products_agree():
    """oneDNN's fused linear gives a @ b.T (and its ReLU) as torch.mm does, to float32 rounding."""
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(700, 50, generator=g), torch.randn(100, 50, generator=g)
    ref = (a.double() @ b.double().T)
    for relu in (False, True):
        out = _shallow_grad.matmul_nt(a, b, relu=relu)
        want = ref.clamp(min=0) if relu else ref
        # length-50 float32 dot products: |error| <= 50 u sum|a_i b_i| ~ 3e-6 * sqrt(50) * typical |a b|
        torch.testing.assert_close(out.double(), want, rtol=0, atol=1e-4)


def test_diverged_and_dead_runs_get_a_zero_gradient():
    x, y = _e1_data()
    nets = _e1_nets(torch.float64)
    with torch.no_grad():
        nets[1].W.mul_(1e3)  # loss far above the threshold below
        nets[2].W[0, 0] = float("nan")  # a non-finite loss
    st = StackedModels(nets)
    loss = ShallowMSEGradient(st, x, y).loss_and_grad(torch.tensor([True, True, True]), threshold=1e3)
    assert loss[1] > 1e3 and torch.isnan(loss[2])
    grad = st.params["W"].grad
    assert torch.count_nonzero(grad[1]) == 0 and torch.count_nonzero(grad[2]) == 0
    st0 = StackedModels(_e1_nets(torch.float64)[:1])
    ((st0.forward(x) - y) ** 2).mean().backward()
    torch.testing.assert_close(grad[0], st0.params["W"].grad[0], rtol=1e-12, atol=1e-15)


def _e1_cfg(seed, gamma, dtype):
    return ntklab.RunConfig(
        name=f"g{gamma}", seed=seed, dtype=dtype,
        data={"name": "sphere_sin", "options": {"n_train": 60, "n_test": 30, "d": 20, "seed": 0}},
        network={"kind": "shallow", "width": 200, "scaling": {"kind": "ntk" if gamma == 1 else "zipf", "gamma": gamma,
                                                            "alpha": 0.5}},
        optimizer={"name": "gd", "lr": 1.0}, training={"steps": 150}, probes={"every": 50, "top_nodes": 2},
    )


def test_float32_training_keeps_the_probes_numbers(tmp_path, monkeypatch):
    """E1-style float32 training with the closed form is as close to float64 autograd as float32 autograd is."""
    cfgs = lambda dtype: [_e1_cfg(0, 1.0, dtype), _e1_cfg(1, 0.2, dtype)]  # noqa: E731
    fast = ntklab.train_many(cfgs("float32"), out=tmp_path / "fast", progress=False)
    monkeypatch.setattr(_shallow_grad, "ENABLED", False)
    auto = ntklab.train_many(cfgs("float32"), out=tmp_path / "auto32", progress=False)
    ref = ntklab.train_many(cfgs("float64"), out=tmp_path / "auto64", progress=False)
    key = ["step", "metric", "key"]
    for f, a, r in zip(fast, auto, ref):
        mf, ma, mr = (x.metrics.sort_values(key).reset_index(drop=True) for x in (f, a, r))
        assert list(mf.metric) == list(mr.metric)
        scale = mr.value.abs().clip(lower=1e-12)
        err = mr.assign(fast=(mf.value - mr.value).abs() / scale, auto=(ma.value - mr.value).abs() / scale)
        worst = err.groupby("metric")[["fast", "auto"]].max()
        # per metric, the closed form's float32 error may differ from autograd's float32 error by rounding order
        # only: within 4x of it, or below 1e-6 (measured: equal to within 1.5x, both 1e-8..2e-4 by metric)
        bad = worst[worst.fast > 4 * worst.auto + 1e-6]
        assert bad.empty, bad
