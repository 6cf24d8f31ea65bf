"""Networks with BatchNorm in the training loop: trained alone, exactly as a hand-written SGD loop; probes measure
in eval mode, restore train mode and leave the network (running statistics included) as it was; the gradient-norm
probe; resuming from a checkpoint."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from ntklab.config import RunConfig
from ntklab.data import load_dataset
from ntklab.dynamics import ListSink, LoopRun, ProbeState, StackedModels, batch_key, train_group
from ntklab.nets import build_network

F64 = torch.float64


def _cfg(seed=0, **probes):
    return RunConfig(
        name=f"bn{seed}", seed=seed, dtype="float64", data={"name": "digits", "options": {"standardise_x": True}},
        network={"kind": "torch_mlp", "parameterization": "standard", "width": 16, "depth": 2, "batch_norm": True,
                 "activation": "normalized_relu", "weight_std": 1.0, "bias": True, "bias_std": 0.0,
                 "trainable": ["W", "u", "b"]},
        optimizer={"name": "momentum", "lr": 0.05, "momentum": 0.9},
        training={"steps": 12, "loss": "cross_entropy", "batch_size": 32},
        probes={"every": 4, "ntk": False, "top_nodes": 0, "grad_norm": True, **probes})


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", standardise_x=True).to(F64)


def _net(cfg, data):
    return build_network(cfg.network, d=data.d, out_dim=data.out_dim, seed=cfg.seed, dtype=F64)


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _assert_same_state(a: dict, b: dict, **tol):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k, **({"rtol": 0, "atol": 0} | tol))


def test_probes_measure_in_eval_mode_and_leave_the_network_unchanged(data):
    cfg = _cfg()
    net = _net(cfg, data)
    with torch.no_grad():
        net(data.x_train[:64])  # running statistics away from their initial (0, 1)
    net.norms[1].eval()  # a module's own flag is restored as it was, not set to train
    before = _state(net)
    probes = ProbeState(net, data, cfg)
    rows = {m: v for _, m, _, v in probes.measure(net, 0)}
    _assert_same_state(_state(net), before)
    assert net.training and net.norms[0].training and not net.norms[1].training
    labels = data.y_train.argmax(-1)
    eval_net = copy.deepcopy(net).eval()
    with torch.no_grad():
        eval_risk = float(F.cross_entropy(eval_net(data.x_train), labels))
        train_risk = float(F.cross_entropy(copy.deepcopy(net)(data.x_train), labels))
    assert rows["train_risk"] == pytest.approx(eval_risk, rel=1e-12)
    assert abs(train_risk - eval_risk) > 1e-3  # the modes differ here, so the check can tell which one was used


def test_gradient_norm_probe_is_the_train_mode_gradient_on_the_first_batch(data):
    cfg = _cfg()
    net = _net(cfg, data)
    before = _state(net)
    value = dict((m, v) for _, m, _, v in ProbeState(net, data, cfg).measure(net, 0))["grad_norm"]
    _assert_same_state(_state(net), before)
    # independently: torch.func on copies of the buffers (BatchNorm updates those copies, not the network's)
    params = {k: p.detach().clone().requires_grad_() for k, p in net.named_parameters()}
    buffers = {k: b.clone() for k, b in net.named_buffers()}
    x, y = data.x_train[:32], data.y_train[:32].argmax(-1)
    F.cross_entropy(functional_call(net, {**params, **buffers}, (x,)), y).backward()
    expected = float(torch.sqrt(sum((p.grad ** 2).sum() for p in params.values())))
    assert value == pytest.approx(expected, rel=1e-12)


def test_batch_norm_runs_are_never_stacked(data):
    a, b = _cfg(0), _cfg(1)
    assert batch_key(a) is None and batch_key(b) is None
    plain = [c.model_copy(update={"network": c.network.model_copy(update={"batch_norm": False})}) for c in (a, b)]
    assert batch_key(plain[0]) == batch_key(plain[1]) is not None
    with pytest.raises(ValueError, match="batch statistics"):
        StackedModels([_net(a, data), _net(b, data)])


def test_the_loop_trains_a_batch_norm_network_as_plain_torch_sgd(data):
    """12 steps of the loop equal 12 hand-written steps of torch.optim.SGD(momentum) in train mode on the loop's
    minibatches (its generator, seeded seed * 1_000_003 + 17), parameters and running statistics alike: the probes
    in between (every 4 steps) change nothing.  float64; the tolerance allows for summation order only."""
    cfg = _cfg(seed=3)
    sink = ListSink()
    train_group([LoopRun(cfg)], data, sink)
    result = sink.results[0]
    assert result.status == "done"
    net = _net(cfg, data)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 17)
    n, labels = data.x_train.shape[0], data.y_train.argmax(-1)
    for _ in range(12):
        idx = torch.randperm(n, generator=gen)[:32]
        opt.zero_grad()
        F.cross_entropy(net(data.x_train[idx]), labels[idx]).backward()
        opt.step()
    _assert_same_state(result.model_state, _state(net), rtol=1e-12, atol=1e-14)
    assert int(result.model_state["norms.0.num_batches_tracked"]) == 12
    steps = sorted({s for s, m, _, _ in result.rows if m == "grad_norm"})
    assert steps == [0, 4, 8, 12]


class _CopyingSink(ListSink):
    """Checkpoints hold the live tensors of the loop; keep a copy as the run store does (it saves them)."""

    def checkpoint(self, index, state):
        super().checkpoint(index, copy.deepcopy(state))


def test_a_resumed_batch_norm_run_ends_bitwise_identical(data):
    cfg = _cfg(seed=1, checkpoint_every=6)
    whole = _CopyingSink()
    train_group([LoopRun(cfg)], data, whole)
    resumed = ListSink()
    train_group([LoopRun(cfg, whole.checkpoints[0])], data, resumed)
    assert whole.checkpoints[0]["step"] == 6
    _assert_same_state(resumed.results[0].model_state, whole.results[0].model_state)
    assert resumed.results[0].rows == whole.results[0].rows
