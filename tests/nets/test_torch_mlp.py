"""The MLP of torch layers (Agarwal et al.'s variants) against an independent nn.Sequential, its init scales,
and the factory entry that builds it from a config."""

from __future__ import annotations

import io
import math

import pytest
import torch

from ntklab import ConfigError
from ntklab.config import RunConfig, apply_overrides
from ntklab.nets import ACTIVATIONS, TorchMLP, build_network, has_batch_statistics

F64 = torch.float64


class _ReferenceNormalizedReLU(torch.nn.Module):
    """The reference the library is tested against, written out independently:
    sigma(z) = sqrt(2 pi / (pi - 1)) (relu(z) - 1 / sqrt(2 pi))."""

    def forward(self, z):
        return math.sqrt(2 * math.pi / (math.pi - 1)) * (torch.relu(z) - 1 / math.sqrt(2 * math.pi))


def _sequential_copy(net: TorchMLP) -> torch.nn.Sequential:
    """The same network as a plain nn.Sequential holding copies of its weights and BatchNorm state."""
    layers = []
    for i, lin in enumerate(net.linears):
        layers.append(lin)
        if net.norms is not None:
            layers.append(net.norms[i])
        layers.append(_ReferenceNormalizedReLU() if net.activation == "normalized_relu" else torch.nn.ReLU())
    seq = torch.nn.Sequential(*layers, net.readout)
    buf = io.BytesIO()
    torch.save(seq, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


@pytest.mark.parametrize("activation, batch_norm", [("relu", False), ("relu", True), ("normalized_relu", False),
                                                    ("normalized_relu", True)])
def test_forward_matches_an_independent_sequential(activation, batch_norm):
    net = TorchMLP(7, [16, 16, 16], 3, activation=activation, batch_norm=batch_norm, seed=1, dtype=F64)
    seq = _sequential_copy(net)
    x = torch.randn(32, 7, generator=torch.Generator().manual_seed(0), dtype=F64)
    for mode in ("train", "eval"):  # train mode: batch statistics (and an update of the running ones) in both
        getattr(net, mode)(), getattr(seq, mode)()
        torch.testing.assert_close(net(x), seq(x), rtol=0, atol=0)
    if batch_norm:
        torch.testing.assert_close(net.norms[0].running_mean, seq[1].running_mean, rtol=0, atol=0)
        assert float(net.norms[0].running_mean.abs().max()) > 0  # the train-mode pass did update them
    assert has_batch_statistics(net) is batch_norm


def test_initialisation_scales_and_zero_biases():
    """W^l ~ N(0, s^2 / fan_in), readout N(0, 1 / m), biases 0.  A sample std of N draws has relative standard
    error 1/sqrt(2N): 0.44% for the 25,600 input weights, 0.28% for the 65,536 hidden ones, 1.4% for the 2,560
    readout weights; the bounds (2%, 2%, 6%) are over 4 standard errors."""
    net = TorchMLP(100, [256, 256], 10, weight_std=math.sqrt(2.0), seed=0, dtype=F64).requires_grad_(False)
    assert float(net.linears[0].weight.std()) == pytest.approx(math.sqrt(2 / 100), rel=0.02)
    assert float(net.linears[1].weight.std()) == pytest.approx(math.sqrt(2 / 256), rel=0.02)
    assert float(net.readout.weight.std()) == pytest.approx(math.sqrt(1 / 256), rel=0.06)
    assert all(float(p.abs().max()) == 0 for n, p in net.named_parameters() if n.endswith("bias"))
    again = TorchMLP(100, [256, 256], 10, weight_std=math.sqrt(2.0), seed=0, dtype=torch.float32)
    torch.testing.assert_close(again.linears[1].weight, net.linears[1].weight.float())  # same draws in any dtype


def test_normalised_relu_with_lecun_init_keeps_the_second_moment():
    """E sigma(z)^2 = 1 under N(0, 1) with weights N(0, 1 / fan_in): the second moment stays ~1 through the layers
    (a marginally stable fixed point: finite-width fluctuations ~ sqrt(2 / 2048) per layer random-walk, ~7% after
    5 layers; 25% is a loose bound on that walk)."""
    net = TorchMLP(40, [2048] * 5, 10, activation="normalized_relu", weight_std=1.0, seed=0)
    x = torch.randn(256, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = net.hidden_features(x)[-2]
    assert math.isclose(float(h.pow(2).mean()), 1.0, rel_tol=0.25)
    z = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(ACTIVATIONS["normalized_relu"](z), _ReferenceNormalizedReLU()(z))


def test_parameter_families():
    net = TorchMLP(5, [8, 8], 2, batch_norm=True, trainable=("W", "u"))
    trains = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trains == {"linears.0.weight", "linears.1.weight", "norms.0.weight", "norms.1.weight", "readout.weight",
                      "readout.bias"}
    with pytest.raises(ConfigError, match="^trainable"):
        TorchMLP(5, [8], 2, trainable=("x",))


def _cfg(**network):
    return RunConfig(network={"kind": "torch_mlp", "parameterization": "standard", "width": 12, "depth": 3,
                              "bias": True, "bias_std": 0.0, "trainable": ["W", "u", "b"], **network})


def test_factory_builds_the_configured_network():
    net = build_network(_cfg(batch_norm=True, activation="normalized_relu", weight_std=1.0).network, d=4, out_dim=3,
                        seed=2, dtype=F64)
    assert isinstance(net, TorchMLP) and net.widths == (12, 12, 12) and net.batch_norm and net.out_dim == 3
    assert net.activation == "normalized_relu" and net.linears[0].weight.dtype == F64
    same = TorchMLP(4, [12] * 3, 3, activation="normalized_relu", batch_norm=True, weight_std=1.0, seed=2, dtype=F64)
    for a, b in zip(net.state_dict().values(), same.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("overrides, field", [
    (["network.parameterization=ntk"], "network.parameterization"),
    (["network.scaling.kind=zipf"], "network.scaling.kind"),
])
def test_factory_refuses_what_torch_mlp_cannot_build(overrides, field):
    cfg = apply_overrides(_cfg(), overrides)
    with pytest.raises(ConfigError, match=f"^{field}"):
        build_network(cfg.network, d=3, out_dim=1, seed=0)


@pytest.mark.parametrize("kind, depth, parameterization", [("shallow", 1, "ntk"), ("mlp", 2, "standard")])
def test_other_kinds_refuse_batch_norm(kind, depth, parameterization):
    cfg = RunConfig(network={"kind": kind, "depth": depth, "parameterization": parameterization, "batch_norm": True})
    with pytest.raises(ConfigError, match="^network.batch_norm"):
        build_network(cfg.network, d=3, out_dim=1, seed=0)


def test_a_readout_only_network_is_least_squares_on_its_features():
    """trainable=("u",), no biases: only the readout trains; one GD step of the training loop moves it by
    -lr * (2/n) Phi^T (Phi w - y), Phi = readout_features(x), and leaves every hidden layer as it was."""
    from ntklab.data import load_dataset
    from ntklab.dynamics import ListSink, LoopRun, train_group

    cfg = RunConfig(name="top", seed=3, dtype="float64", data={"name": "sphere_random", "options": {"n_train": 10,
                    "n_test": 4, "d": 5, "labels": "gaussian"}},
                    network={"kind": "torch_mlp", "parameterization": "standard", "width": 32, "depth": 3,
                             "bias": False, "activation": "normalized_relu", "weight_std": 1.0, "trainable": ["u"]},
                    optimizer={"name": "gd", "lr": 0.05}, training={"steps": 1, "loss": "mse"},
                    probes={"every": 1, "ntk": False, "top_nodes": 0})
    data = load_dataset(cfg.data.name, **cfg.data.options)
    net = build_network(cfg.network, d=5, out_dim=1, seed=3, dtype=F64)
    assert {n for n, p in net.named_parameters() if p.requires_grad} == {"readout.weight"}
    with torch.no_grad():
        phi = net.readout_features(data.x_train)
        torch.testing.assert_close(net(data.x_train), phi @ net.readout.weight.T)
        r = phi @ net.readout.weight.T - data.y_train
        expected = net.readout.weight - 0.05 * (2 / 10) * (phi.T @ r).T
    sink = ListSink()
    train_group([LoopRun(cfg)], data, sink)
    state = sink.results[0].model_state
    torch.testing.assert_close(state["readout.weight"], expected, rtol=1e-12, atol=1e-14)
    for name, value in net.state_dict().items():
        if name != "readout.weight":
            torch.testing.assert_close(state[name], value, rtol=0, atol=0)
