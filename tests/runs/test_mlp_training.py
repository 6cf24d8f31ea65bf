"""Deep MLPs in the core: the network factory, the training loop's per-layer learning rates, probes, stacking."""

import numpy as np
import pytest
import torch

import ntklab
from ntklab import ConfigError
from ntklab.config import RunConfig, apply_overrides
from ntklab.data import load_dataset
from ntklab.runs import load_model, train_many
from ntklab.experiments.asym.simulated import AsymSimulatedOptions, base_config
from ntklab.kernels import empirical_ntk_generic
from ntklab.nets import build_network, parameter_groups

F64 = torch.float64




def _cfg(**net):
    network = {"kind": "mlp", "width": 24, "depth": 2, "parameterization": "mup", "trainable": ["W", "u"],
               "scaling": {"kind": "zipf", "gamma": 0.5, "alpha": 0.7}, **net}
    return RunConfig(name="mlp", dtype="float64", network=network,
                     data={"name": "sphere_sin", "options": {"n_train": 12, "n_test": 8, "d": 5}},
                     optimizer={"name": "gd", "lr": 0.2}, training={"steps": 4}, probes={"every": 2, "top_nodes": 3})


def test_factory_builds_the_configured_mlp():
    cfg = _cfg(bias=True, scaling={"kind": "inverse_gamma", "gamma": 0.3})
    net = build_network(cfg.network, d=5, out_dim=2, seed=3, dtype=F64)
    assert isinstance(net, ntklab.MLP) and net.widths == (24, 24) and net.parameterization == "mup"
    assert net.node_weights().shape == (24, 5) and net.trainable == ("W", "u")
    # layer 1 gets the same draw as the shallow net of this config; layer 2 its own
    from ntklab.nets._factory import scaling_from_config
    torch.testing.assert_close(net.lambdas, scaling_from_config(cfg.network.scaling, 24, seed=3))
    assert not torch.equal(net.layer_lambdas()[0], net.layer_lambdas()[1])


@pytest.mark.parametrize("overrides, field", [
    (["network.kind=shallow", "network.depth=2"], "network.kind"),
    (["network.kind=shallow", "network.parameterization=mup"], "network.kind"),
    (["network.kind=mlp", "network.parameterization=spp"], "network.parameterization"),
])
def test_factory_refuses_what_a_kind_cannot_build(overrides, field):
    """The config refuses unregistered names; the factory what a registered kind cannot build."""
    with pytest.raises(ConfigError, match=f"^{field}"):
        cfg = apply_overrides(RunConfig(), overrides)
        build_network(cfg.network, d=3, out_dim=1, seed=0)


def test_training_loop_applies_the_per_layer_learning_rates(tmp_path):
    """The stored model after 4 steps equals 4 hand-made SGD steps with parameter_groups (float64)."""
    cfg = _cfg()
    run = ntklab.train(cfg, out=tmp_path / "run", progress=False)
    data = load_dataset("sphere_sin", n_train=12, n_test=8, d=5).to(F64)
    net = build_network(cfg.network, d=data.d, out_dim=1, seed=cfg.seed, dtype=F64)
    opt = torch.optim.SGD(parameter_groups(net, 0.2), lr=0.2)
    for _ in range(4):
        opt.zero_grad()
        ((net(data.x_train) - data.y_train) ** 2).mean().backward()
        opt.step()
    trained = load_model(run)
    for (k, p), q in zip(net.named_parameters(), trained.parameters()):
        torch.testing.assert_close(q, p.detach(), rtol=1e-12, atol=1e-14, msg=k)
    # one global lr (no multipliers) gives another network: the check can tell them apart
    plain = build_network(cfg.network, d=data.d, out_dim=1, seed=cfg.seed, dtype=F64)
    opt = torch.optim.SGD([p for p in plain.parameters() if p.requires_grad], lr=0.2)
    for _ in range(4):
        opt.zero_grad()
        ((plain(data.x_train) - data.y_train) ** 2).mean().backward()
        opt.step()
    assert not torch.allclose(trained.hidden[0].weight, plain.hidden[0].weight, rtol=1e-6)


def test_core_probes_work_for_deep_nets(tmp_path):
    cfg = _cfg()
    run = ntklab.train(cfg, out=tmp_path / "run", progress=False)
    m = run.metrics
    for metric in ("lambda_min", "drift_fro_rel", "max_node_displacement", "weight_change_rel"):
        s = run.series(metric)
        assert list(s.index) == [0, 2, 4] and np.isfinite(s.values).all(), metric
    assert run.series("lambda_min").iloc[0] > 0 and run.final("drift_fro_rel") > 0
    # probed nodes: the three largest lambda of the first hidden layer
    lam = run.arrays["lambdas"]
    keys = sorted(m[m.metric == "node_displacement"].key.unique(), key=int)
    assert keys == sorted(str(j) for j in np.argsort(-lam, kind="stable")[:3])
    # Theta_0 of the probe (layer-wise closed form) against the generic torch.func kernel of the init net
    data = load_dataset("sphere_sin", n_train=12, n_test=8, d=5).to(F64)
    net0 = build_network(cfg.network, d=5, out_dim=1, seed=cfg.seed, dtype=F64)
    np.testing.assert_allclose(run.arrays["ntk_0"], empirical_ntk_generic(net0, data.x_train).numpy(), rtol=1e-10)


def test_stacked_training_with_groups_is_exact(tmp_path):
    cfgs = [_cfg().model_copy(update={"seed": s, "name": f"s{s}"}) for s in (0, 1)]
    stacked = train_many(cfgs, out=tmp_path / "stacked", progress=False, batch=True)
    alone = train_many(cfgs, out=tmp_path / "alone", progress=False, batch=False)
    for a, b in zip(stacked, alone):
        ma, mb = a.metrics.sort_values(["step", "metric", "key"]), b.metrics.sort_values(["step", "metric", "key"])
        assert list(ma.metric) == list(mb.metric)
        np.testing.assert_allclose(ma.value.values, mb.value.values, rtol=1e-9, atol=1e-12)


def test_e1_accepts_deep_networks():
    o = AsymSimulatedOptions(depth=2, width=16)
    cfg = base_config(o, alpha=0.7, gamma=0.5, width=16, steps=2, seed=0, name="deep")
    assert cfg.network.kind == "mlp" and cfg.network.depth == 2
    net = build_network(cfg.network, d=o.d, out_dim=1, seed=0)
    assert net.depth == 2 and float(net.lambdas.sum()) == pytest.approx(1.0, rel=1e-6)
    shallow = base_config(AsymSimulatedOptions(), alpha=0.7, gamma=0.5, width=16, steps=2, seed=0, name="s")
    assert shallow.network.kind == "shallow"
