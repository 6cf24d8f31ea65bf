"""The fused float32 ReLU step (``_relu_step.c``) against float64 autograd, the unfused float32 step, and itself
across thread counts; and its build: cached, honouring the umask, falling back where it cannot be built."""

import os
import stat

import pytest
import torch

import ntklab
from ntklab._threads import torch_threads
from ntklab.dynamics import _relu_kernel, _shallow_grad
from ntklab.dynamics._shallow_grad import ShallowMSEGradient
from ntklab.dynamics._stacked import StackedModels

needs_kernel = pytest.mark.skipif(_relu_kernel.library() is None, reason=f"fused step: {_relu_kernel.status()}")


def _nets(dtype, R, m, d, *, seed=0):
    return [ntklab.ScaledShallowNet(d, m, lambdas=None if r % 2 == 0 else
                                    ntklab.node_scaling(m, kind="zipf", gamma=0.3, alpha=0.6),
                                    seed=seed + r, dtype=dtype) for r in range(R)]


def _data(n, d, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True), torch.randn(n, 1, generator=g, dtype=torch.float64)


def _fused_step(nets, x, y, alive=None, threshold=float("inf")):
    st = StackedModels(nets)
    step = ShallowMSEGradient(st, x.float(), y.float())
    assert step.fused is not None
    alive = torch.ones(st.R, dtype=torch.bool) if alive is None else alive
    return step.loss_and_grad(alive, threshold), st.params["W"].grad.clone()


# (R, m, n, d): the E1 block shape; n past one 112-column block and m past no tile or chunk boundary; d past one
# 64-column sweep with a 2-column tail; exact multiples of 16; one run of a few nodes
SHAPES = [(3, 300, 40, 20), (2, 97, 113, 50), (2, 13, 5, 130), (2, 192, 16, 16), (1, 7, 100, 3)]


@needs_kernel
@pytest.mark.parametrize("R,m,n,d", SHAPES)
def test_fused_step_matches_float64_autograd(R, m, n, d):
    x, y = _data(n, d)
    st64 = StackedModels(_nets(torch.float64, R, m, d))
    loss64 = ((st64.forward(x) - y) ** 2).mean(dim=(1, 2))
    loss64.sum().backward()
    loss32, g32 = _fused_step(_nets(torch.float32, R, m, d), x, y)
    g64 = st64.params["W"].grad
    # each gradient entry is a float32 sum of n terms after a dot product of length d: the deterministic bound is
    # about (n + d) u = (113 + 50) * 6e-8 = 1e-5 relative to the sum of |terms| at the largest shape; 2e-5
    # normwise covers it (measured 1e-7 .. 4e-7)
    for r in range(R):
        assert float((g32[r].double() - g64[r]).norm() / g64[r].norm()) < 2e-5
    torch.testing.assert_close(loss32.double(), loss64.detach(), rtol=2e-5, atol=0)


@needs_kernel
def test_fused_and_unfused_float32_steps_agree(monkeypatch):
    x, y = _data(100, 50)
    loss_f, g_f = _fused_step(_nets(torch.float32, 4, 500, 50), x, y)
    monkeypatch.setattr(_shallow_grad, "FUSED", False)
    st = StackedModels(_nets(torch.float32, 4, 500, 50))
    step = ShallowMSEGradient(st, x.float(), y.float())
    assert step.fused is None
    loss_u = step.loss_and_grad(torch.ones(4, dtype=torch.bool))
    # two float32 evaluations of one sum in different orders: each within ~(n + d) u of the exact value
    assert float((g_f - st.params["W"].grad).norm() / g_f.norm()) < 2e-5
    torch.testing.assert_close(loss_f, loss_u, rtol=2e-5, atol=0)


@needs_kernel
@pytest.mark.parametrize("R,m,n,d", [(3, 2000, 100, 50), (2, 13, 5, 130), (1, 7, 100, 3)])
def test_fused_step_is_the_same_on_one_and_two_threads(R, m, n, d):
    """Each thread takes its own rows of a run; a run of 13 or 7 nodes leaves one thread none at all."""
    x, y = _data(n, d)
    out = []
    for threads in (1, 2):
        with torch_threads(threads):
            out.append(_fused_step(_nets(torch.float32, R, m, d), x, y))
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])


@needs_kernel
def test_fused_step_refuses_buffers_of_the_wrong_kind():
    x, y = _data(10, 3)
    st = StackedModels(_nets(torch.float32, 2, 8, 3))
    k = ShallowMSEGradient(st, x.float(), y.float()).fused
    W, grad = st.params["W"].detach(), torch.empty(2, 8, 3)
    loss, ok, alive = torch.empty(2), torch.empty(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    for bad in ({"alive": alive.float()}, {"loss": torch.empty(3)}, {"ok": ok.to(torch.uint8)},
                {"grad": torch.empty(2, 8, 4)}, {"W": W.double()}):
        args = {"W": W, "grad": grad, "alive": alive, "loss": loss, "ok": ok} | bad
        with pytest.raises(ValueError, match=next(iter(bad))):
            k.step(args["W"], args["grad"], args["alive"], 1e3, args["loss"], args["ok"])


@needs_kernel
def test_fused_step_flags_diverged_and_dead_runs():
    x, y = _data(40, 20)
    nets = _nets(torch.float32, 4, 300, 20)
    with torch.no_grad():
        nets[1].W.mul_(1e3)  # loss far above the threshold below
        nets[2].W[5, 3] = float("nan")  # a NaN weight: the run's loss must come out NaN, not be hidden by the ReLU
    alive = torch.tensor([True, True, True, False])  # run 3 is already dead
    loss, grad = _fused_step(nets, x, y, alive, threshold=1e3)
    assert loss[1] > 1e3 and torch.isnan(loss[2])
    for r in (1, 2, 3):
        assert torch.count_nonzero(grad[r]) == 0
    _, alone = _fused_step(nets[:1], x, y)
    assert torch.equal(grad[0], alone[0])  # a run's step does not depend on the others in the stack


def test_no_compiler_means_the_unfused_path(monkeypatch):
    monkeypatch.setattr(_relu_kernel, "_STATE", {})
    monkeypatch.setattr(_relu_kernel, "_compiler", lambda: None)
    assert _relu_kernel.library() is None and "no C compiler" in _relu_kernel.status()
    x, y = _data(20, 5)
    st = StackedModels(_nets(torch.float32, 2, 30, 5))
    step = ShallowMSEGradient(st, x.float(), y.float())
    assert step.fused is None
    assert step.loss_and_grad(torch.ones(2, dtype=torch.bool)).shape == (2,)


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setattr(_relu_kernel, "_STATE", {})
    monkeypatch.setenv("NTKLAB_FUSED_RELU", "0")
    assert _relu_kernel.library() is None and "NTKLAB_FUSED_RELU=0" in _relu_kernel.status()


@needs_kernel
def test_build_is_cached_and_honours_the_umask(monkeypatch, tmp_path):
    monkeypatch.setenv("NTKLAB_CACHE_DIR", str(tmp_path / "cache"))
    compiles = []
    real_run = _relu_kernel.subprocess.run

    def run(args, **kw):
        if "-o" in args:
            compiles.append(args)
        return real_run(args, **kw)

    monkeypatch.setattr(_relu_kernel.subprocess, "run", run)
    old = os.umask(0o027)
    try:
        first = _relu_kernel._build(_relu_kernel._compiler())
    finally:
        os.umask(old)
    assert first.parent == tmp_path / "cache" and stat.S_IMODE(first.stat().st_mode) & 0o027 == 0
    assert _relu_kernel._build(_relu_kernel._compiler()) == first
    assert len(compiles) == 1  # the second build found the first
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary file left behind


def test_a_failing_compiler_is_reported_not_raised(monkeypatch, tmp_path):
    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\necho 'cc: error: no such flag' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(_relu_kernel, "_STATE", {})
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("NTKLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert _relu_kernel.library() is None
    assert "build failed" in _relu_kernel.status() and "no such flag" in _relu_kernel.status()
    assert list((tmp_path / "cache").iterdir()) == []


@needs_kernel
@pytest.mark.parametrize("R,m,n,d", [(4, 300, 40, 20), (2, 13, 5, 130)])
def test_fused_descent_is_the_gradient_then_the_gd_step_bitwise(R, m, n, d):
    """loss_and_descend = loss_and_grad then W.add_(grad, alpha=-lr), bit for bit (the same multiply-add), with a
    diverged, a NaN and a dead run left where they are."""
    x, y = _data(n, d)
    lr, threshold = 0.7, 1e3
    alive = torch.tensor([True, True, False, True][:R])
    stacks = []
    for _ in range(2):
        nets = _nets(torch.float32, R, m, d)
        if R == 4:
            with torch.no_grad():
                nets[1].W.mul_(1e3)  # diverges at the first step
                nets[3].W[2, 1] = float("nan")
        st = StackedModels(nets)
        stacks.append((st, ShallowMSEGradient(st, x.float(), y.float())))
    (st_a, step_a), (st_b, step_b) = stacks
    assert step_b.descends
    W0 = st_b.params["W"].detach().clone()
    opt = torch.optim.SGD(st_a.param_list(), lr=lr)
    for _ in range(5):
        loss_a = step_a.loss_and_grad(alive, threshold)
        opt.step()
        loss_b = step_b.loss_and_descend(alive, threshold, lr)
        torch.testing.assert_close(loss_a, loss_b, rtol=0, atol=0, equal_nan=True)
    W_a, W_b = st_a.params["W"].detach(), st_b.params["W"].detach()
    assert torch.equal(W_a.nan_to_num(), W_b.nan_to_num()) and torch.equal(W_a.isnan(), W_b.isnan())
    assert st_b.params["W"].grad is None  # the gradient is never stored
    assert not torch.equal(W_b[0], W0[0])  # a healthy run moved
    for r in ([1, 2, 3] if R == 4 else []):  # the diverged, the dead and the NaN run did not
        assert torch.equal(W_b[r].nan_to_num(), W0[r].nan_to_num())


def test_descent_needs_the_fused_kernel(monkeypatch):
    monkeypatch.setattr(_shallow_grad, "FUSED", False)
    x, y = _data(10, 3)
    step = ShallowMSEGradient(StackedModels(_nets(torch.float32, 1, 8, 3)), x.float(), y.float())
    assert not step.descends
    with pytest.raises(RuntimeError, match="fused kernel"):
        step.loss_and_descend(torch.ones(1, dtype=torch.bool), 1e3, 0.1)


def _e1_cfg(seed, optimizer):
    return ntklab.RunConfig(
        name=f"s{seed}", seed=seed, dtype="float32",
        data={"name": "sphere_sin", "options": {"n_train": 60, "n_test": 30, "d": 20, "seed": 0}},
        network={"kind": "shallow", "width": 200, "scaling": {"kind": "zipf", "gamma": 0.3, "alpha": 0.5}},
        optimizer=optimizer, training={"steps": 120}, probes={"every": 40, "top_nodes": 2},
    )


@needs_kernel
@pytest.mark.parametrize("optimizer,descends", [({"name": "gd", "lr": 1.0}, True),
                                                ({"name": "heavy_ball", "lr": 0.5, "momentum": 0.5}, False)])
def test_the_loop_takes_the_gd_step_in_the_kernel_only_for_plain_gd(tmp_path, monkeypatch, optimizer, descends):
    """Plain GD trains through loss_and_descend, and every metric is bit for bit what the gradient and the
    optimiser's step give; heavy ball keeps the optimiser's step."""
    from ntklab.dynamics import _loop

    calls = []
    original = ShallowMSEGradient.loss_and_descend
    monkeypatch.setattr(ShallowMSEGradient, "loss_and_descend",
                        lambda self, *a: calls.append(1) or original(self, *a))
    cfgs = [_e1_cfg(s, optimizer) for s in range(2)]
    kernel = ntklab.train_many(cfgs, out=tmp_path / "kernel", progress=False)
    assert len(calls) == (120 if descends else 0)  # the two runs train stacked: one call a step
    monkeypatch.setattr(_loop, "plain_descent_lr", lambda opt, param: None)
    separate = ntklab.train_many(cfgs, out=tmp_path / "separate", progress=False)
    for a, b in zip(kernel, separate):
        key = ["step", "metric", "key"]
        ma, mb = a.metrics.sort_values(key).reset_index(drop=True), b.metrics.sort_values(key).reset_index(drop=True)
        assert ma.equals(mb)
