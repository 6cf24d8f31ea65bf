"""GD / HB / NAG / NAG-SC: the update rules against independent implementations and torch.optim.SGD."""

import numpy as np
import pytest
import torch

import ntklab
from ntklab import ConfigError
from ntklab.optim import GradientDescent, HeavyBall, Nesterov, NesterovSC, build_optimizer
from ntklab.runs import train_many
from ntklab.config import OptimizerConfig, config_from_dict

# float64 trajectories of 40 steps on a well-conditioned problem: rounding differences between two exact
# implementations of one recursion stay within a few hundred ulps, so 1e-12 relative is a tight bound.
RTOL = 1e-12


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    x = torch.randn(16, 4, generator=g, dtype=torch.float64)
    y = torch.randn(16, 2, generator=g, dtype=torch.float64)
    return net, x, y


def _trajectory(make_opt, steps=40, seed=0):
    net, x, y = _problem(seed)
    opt = make_opt(list(net.parameters()))
    out = []
    for _ in range(steps):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()
        out.append(torch.cat([p.detach().flatten() for p in net.parameters()]).clone())
    return torch.stack(out), opt


def test_gd_is_torch_sgd_bitwise():
    a, _ = _trajectory(lambda p: GradientDescent(p, lr=0.1))
    b, _ = _trajectory(lambda p: torch.optim.SGD(p, lr=0.1))
    assert torch.equal(a, b)


def test_heavy_ball_equals_torch_sgd_momentum():
    a, _ = _trajectory(lambda p: HeavyBall(p, lr=0.05, momentum=0.8, weight_decay=0.01))
    b, _ = _trajectory(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, weight_decay=0.01))
    torch.testing.assert_close(a, b, rtol=RTOL, atol=RTOL)


def test_nag_sc_lookahead_equals_torch_nesterov():
    """torch's nesterov=True parameter is NAG-SC's look-ahead y_k (the iterates θ_k are checked against the
    papers.md recursion in the next test)."""
    beta = 0.7
    a, opt = _trajectory(lambda p: NesterovSC(p, lr=0.05, momentum=beta))
    b, _ = _trajectory(lambda p: torch.optim.SGD(p, lr=0.05, momentum=beta, nesterov=True))
    torch.testing.assert_close(a, b, rtol=RTOL, atol=RTOL)
    thetas = torch.cat([t.flatten() for t in opt.iterates()])
    assert not torch.allclose(thetas, a[-1])  # the parameter is the look-ahead, not the iterate


def _reference_nag(grad, x0, lr, steps, beta_fn):
    """papers.md §4(a) verbatim: y_k = x_k + β_k (x_k - x_{k-1}); x_{k+1} = y_k - η ∇L(y_k); x_{-1} = x_0."""
    x_prev, x = x0.copy(), x0.copy()
    ys, xs = [x0.copy()], [x0.copy()]
    for k in range(steps):
        y = x + beta_fn(k) * (x - x_prev)
        x_prev, x = x, y - lr * grad(y)
        xs.append(x.copy())
        ys.append(x + beta_fn(k + 1) * (x - x_prev))
    return np.array(ys), np.array(xs)


@pytest.mark.parametrize("cls,beta_fn,kw", [
    (Nesterov, lambda k: (k - 1) / (k + 2) if k >= 1 else 0.0, {}),
    (NesterovSC, lambda k: 0.6, {"momentum": 0.6}),
])
def test_nesterov_matches_reference_recursion(cls, beta_fn, kw):
    rng = np.random.default_rng(1)
    M = rng.standard_normal((5, 5))
    H = M @ M.T / 5 + 0.1 * np.eye(5)
    b = rng.standard_normal(5)
    x0 = rng.standard_normal(5)
    ys, xs = _reference_nag(lambda v: H @ v - b, x0, 0.3, 60, beta_fn)
    w = torch.nn.Parameter(torch.tensor(x0))
    Ht, bt = torch.tensor(H), torch.tensor(b)
    opt = cls([w], lr=0.3, **kw)
    for k in range(60):
        opt.zero_grad()
        (0.5 * w @ Ht @ w - bt @ w).backward()
        opt.step()
        np.testing.assert_allclose(w.detach().numpy(), ys[k + 1], rtol=RTOL, atol=RTOL)
        np.testing.assert_allclose(opt.iterates()[0].numpy(), xs[k + 1], rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("beta", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_momentum_is_refused(beta):
    p = [torch.nn.Parameter(torch.zeros(2))]
    for cls in (HeavyBall, NesterovSC):
        with pytest.raises(ConfigError, match="optimizer.momentum"):
            cls(p, lr=0.1, momentum=beta)
    with pytest.raises(ConfigError, match="optimizer.lr"):
        HeavyBall(p, lr=-1.0, momentum=0.5)


def test_registry_names_and_nag_refuses_constant_momentum():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(build_optimizer(p, OptimizerConfig(name="heavy_ball", momentum=0.5)), HeavyBall)
    assert isinstance(build_optimizer(p, OptimizerConfig(name="nag_sc", momentum=0.5)), NesterovSC)
    assert isinstance(build_optimizer(p, OptimizerConfig(name="nag")), Nesterov)
    with pytest.raises(ConfigError, match="optimizer.momentum"):
        build_optimizer(p, OptimizerConfig(name="nag", momentum=0.5))
    with pytest.raises(ConfigError, match="optimizer"):
        config_from_dict({"optimizer": {"name": "heavy_ball", "momentum": 1.0}})


def _cfg(name, seed, **opt):
    return ntklab.RunConfig(
        name=f"{name}-{seed}", seed=seed, dtype="float64",
        data={"name": "sphere_random", "options": {"n_train": 12, "n_test": 3, "d": 4}},
        network={"width": 30}, optimizer={"name": name, **opt}, training={"steps": 25},
        probes={"every": 5, "ntk": False, "top_nodes": 0})


@pytest.mark.parametrize("name,opt", [("heavy_ball", {"lr": 50.0, "momentum": 0.6}), ("nag", {"lr": 50.0})])
def test_stacked_training_is_exact(tmp_path, name, opt):
    """Two seeds trained as one vmapped program follow the same trajectories as trained alone."""
    cfgs = [_cfg(name, s, **opt) for s in (0, 1)]
    together = train_many(cfgs, out=tmp_path / "a", progress=False)
    alone = train_many(cfgs, out=tmp_path / "b", progress=False, batch=False)
    for r1, r2 in zip(together, alone):
        np.testing.assert_allclose(r1.series("train_risk").values, r2.series("train_risk").values, rtol=1e-10)


def test_diverging_run_is_recorded(tmp_path):
    run = ntklab.train(_cfg("heavy_ball", 0, lr=5000.0, momentum=0.5), out=tmp_path, progress=False)
    assert run.status == "diverged"
    assert run.info["step"] < 25


def test_plain_descent_lr_only_for_plain_gd():
    """The fused E1 kernel takes the GD step itself only where the optimiser's step is theta - lr grad."""
    from ntklab.optim import plain_descent_lr

    w, other = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    assert plain_descent_lr(torch.optim.SGD([w], lr=0.25), w) == 0.25
    assert plain_descent_lr(GradientDescent([w], lr=0.25), w) == 0.25
    assert plain_descent_lr(torch.optim.SGD([{"params": [other], "lr": 1.0}, {"params": [w], "lr": 3.0}], lr=0.1),
                            w) == 3.0  # the parameter's own group
    for opt in (torch.optim.SGD([w], lr=0.25, momentum=0.5), torch.optim.SGD([w], lr=0.25, weight_decay=1e-3),
                torch.optim.SGD([w], lr=0.25, momentum=0.5, nesterov=True),
                torch.optim.SGD([w], lr=0.25, maximize=True), torch.optim.SGD([w], lr=torch.tensor(0.25)),
                GradientDescent([w], lr=0.25, weight_decay=1e-3), HeavyBall([w], lr=0.25, momentum=0.5),
                torch.optim.Adam([w], lr=0.25), torch.optim.SGD([other], lr=0.25)):
        assert plain_descent_lr(opt, w) is None, opt
