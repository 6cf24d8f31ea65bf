"""Every path on the run's device: kernels, a training run, checkpoint/resume across devices, the linearised
network, the store, the config field and the CLI.

The ``device`` fixture (tests/conftest.py) is the CPU always and CUDA when ``torch.cuda.is_available()``.  On a
CPU-only machine the plumbing is still exercised: every call passes ``device=`` explicitly, and torch's global
default device is set to ``meta`` while ntklab runs (:func:`meta_default`), so a tensor constructed without a
device lands on ``meta`` and the first arithmetic with real data fails.  A static check
(:func:`test_no_device_less_constructors`) finds constructors without ``device=`` in the training and kernel
paths.

Tolerances across devices: on the CPU every comparison is bitwise (the same kernels run).  CUDA runs other
float kernels (cuBLAS sums in another order), so float64 kernels are compared at rtol 1e-12 (a few hundred
ulps of accumulated rounding over n, m <= 64 terms) and a 20-step float32 GD run at rtol 1e-4 (float32's 6e-8
unit roundoff, amplified by at most the 20 steps' contraction factor, measured ~1e-6 on a 2-layer net).
"""

from __future__ import annotations

import ast
import json
import math
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import ntklab
from ntklab._device import as_float64, current_device, exact_float32, resolve_device, using_device
from ntklab.dynamics import LinearizedNetwork, ListSink, LoopRun, train_group
from ntklab.runs import config_hash, load_model

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # as the conftest fixture


@contextmanager
def meta_default():
    """torch's default device is ``meta`` within the block: any implicit-device tensor cannot compute."""
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


def close(a: torch.Tensor, b: torch.Tensor, device: torch.device, rtol: float) -> bool:
    a, b = a.detach().cpu(), b.detach().cpu()
    if device.type == "cpu":
        return torch.equal(a, b)
    return bool(torch.allclose(a, b, rtol=rtol, atol=rtol * float(b.abs().max())))


def sphere(n: int, d: int, device, seed: int = 0) -> torch.Tensor:
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64, device="cpu")
    return torch.nn.functional.normalize(x, dim=1).to(device)


# --- kernels ---------------------------------------------------------------------------------------------------

NETS = {
    "shallow relu ntk": lambda: ntklab.ScaledShallowNet(5, 64, seed=1, dtype=torch.float64),
    "shallow tanh zipf": lambda: ntklab.ScaledShallowNet(
        5, 64, seed=2, dtype=torch.float64, activation="tanh",
        lambdas=ntklab.node_scaling(64, kind="zipf", gamma=0.5, seed=2)),
    "mlp gelu": lambda: ntklab.MLP(5, [32, 32], activation="gelu", bias=True, seed=3, dtype=torch.float64),
}


@pytest.mark.parametrize("net", NETS)
def test_empirical_ntk_on_device(device, net):
    ref_net = NETS[net]()
    x_cpu = sphere(7, 5, "cpu")
    expected = ntklab.empirical_ntk(ref_net, x_cpu)
    model = NETS[net]().to(device)
    x = x_cpu.to(device)
    with meta_default():
        theta = ntklab.empirical_ntk(model, x)
        generic = ntklab.empirical_ntk_generic(model, x)  # torch.func autodiff: an independent computation
    assert theta.device == x.device and generic.device == x.device
    assert close(theta, expected, device, 1e-12)
    assert torch.allclose(theta.cpu(), generic.cpu(), rtol=1e-10, atol=1e-12)  # closed form against autodiff


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu", "leaky_relu", "callable"])
@pytest.mark.parametrize("kind", ["nngp", "ntk"])
def test_infinite_kernel_on_device(device, activation, kind):
    act = (lambda z: torch.sin(z) + 0.3 * z) if activation == "callable" else activation
    x_cpu = sphere(6, 4, "cpu")
    expected = ntklab.infinite_kernel(x_cpu, depth=3, activation=act, kind=kind)
    x = x_cpu.to(device)
    with meta_default():
        k = ntklab.infinite_kernel(x, depth=3, activation=act, kind=kind)
    assert k.device == x.device and k.dtype == torch.float64
    assert close(k, expected, device, 1e-12)


def test_network_limit_random_features_and_spectra_on_device(device):
    net = NETS["mlp gelu"]().to(device)
    x = sphere(6, 5, device)
    with meta_default():
        lim = ntklab.network_limit(net, x)
        rf = ntklab.kernels.random_network_nngp(x, depth=2, activation="relu", width=256, seed=0)
        mean = ntklab.kernels.shallow_mean_ntk(x)
        ev = ntklab.spectrum(lim)
        drift = ntklab.kernel_drift(lim, lim * 1.01)
    for t in (lim, rf, mean, ev):
        assert t.device == x.device
    assert ev.shape == (lim.shape[0],) and bool((ev[1:] >= ev[:-1]).all())
    assert math.isclose(drift["drift_fro_rel"], 0.01 / 1.01, rel_tol=1e-9)  # ‖Θ − 1.01 Θ‖ / ‖1.01 Θ‖ exactly
    assert close(lim, ntklab.network_limit(NETS["mlp gelu"](), x.cpu()), device, 1e-12)


def test_exact_float32_restores_the_callers_precision():
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    try:
        with exact_float32():
            assert torch.backends.cuda.matmul.fp32_precision == "ieee"
            assert torch.backends.cudnn.conv.fp32_precision == "ieee"
            with exact_float32():  # a kernel calling another: the inner exit must not restore TF32
                pass
            assert torch.backends.cuda.matmul.fp32_precision == "ieee"
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
        # and the kernels enter it: a kernel called under TF32 sees IEEE products while it runs
        seen = []
        net = ntklab.ScaledShallowNet(3, 8, seed=0)
        orig = net.features

        def spy(x):
            seen.append(torch.backends.cuda.matmul.fp32_precision)
            return orig(x)

        net.features = spy
        ntklab.empirical_ntk_generic(net, torch.ones(2, 3, device="cpu"))
        assert seen and set(seen) == {"ieee"}
    finally:
        torch.backends.cuda.matmul.fp32_precision = "none"


def test_as_float64_keeps_a_tensors_device():
    t = torch.ones(2, dtype=torch.float32, device="meta")
    assert as_float64(t).device.type == "meta" and as_float64(t).dtype == torch.float64
    with meta_default():
        assert as_float64(1.5).device.type == "cpu"  # a number goes to the CPU, never the default device


# --- training, checkpoints, the store --------------------------------------------------------------------------

def cfg_for(device, **extra) -> ntklab.RunConfig:
    base = {"network": {"width": 24, "scaling": {"kind": "zipf", "gamma": 0.5}},
            "data": {"options": {"n_train": 16, "n_test": 8, "d": 4}},
            "training": {"steps": 20}, "probes": {"every": 5, "top_nodes": 2}, "seed": 3, "device": str(device)}
    for k, v in extra.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    return ntklab.RunConfig(**base)


def metrics(run) -> dict:
    m = run.metrics
    return {(int(r.step), r.metric, r.key): float(r.value) for r in m.itertuples()}


def test_a_training_run_on_device_matches_the_cpu(device, tmp_path):
    ref = ntklab.train(cfg_for("cpu"), out=tmp_path / "cpu", progress=False)
    with meta_default():
        run = ntklab.train(cfg_for(device), out=tmp_path / "dev", progress=False)
    assert run.status == "done" and run.config["device"] == str(device)
    a, b = metrics(run), metrics(ref)
    assert a.keys() == b.keys() and len(a) > 20
    if device.type == "cpu":
        assert a == b
    else:
        assert all(math.isclose(a[k], b[k], rel_tol=1e-4, abs_tol=1e-7) for k in a), "float32 GD drifted"
    model = load_model(run, device=device)  # model.pt is stored on the CPU and loads on any device
    assert next(model.parameters()).device == device
    stored = torch.load(run.path / "model.pt", weights_only=True)
    assert all(t.device.type == "cpu" for t in stored.values())


def test_minibatch_and_momentum_runs_on_device(device, tmp_path):
    cfg = cfg_for(device, training={"batch_size": 5}, optimizer={"name": "heavy_ball", "lr": 0.5, "momentum": 0.5})
    ref = ntklab.train(cfg.model_copy(update={"device": "cpu"}), out=tmp_path / "cpu", progress=False)
    with meta_default():
        run = ntklab.train(cfg, out=tmp_path / "dev", progress=False)
    a, b = metrics(run), metrics(ref)
    assert a.keys() == b.keys()  # the same batches on every device (the generators stay on the CPU)
    assert all(math.isclose(a[k], b[k], rel_tol=1e-4 if device.type != "cpu" else 0.0, abs_tol=0 if
                            device.type == "cpu" else 1e-7) for k in a)


@pytest.mark.parametrize("resume_on", DEVICES)
def test_checkpoints_resume_on_another_device(device, resume_on):
    """Train on ``device`` to step 10, resume the checkpoint on ``resume_on``: the rows equal an uninterrupted
    run's (bitwise when both are the CPU)."""
    resume_on = torch.device(resume_on)
    cfg = cfg_for(device, probes={"checkpoint_every": 10}, optimizer={"name": "nesterov", "lr": 0.5,
                                                                      "momentum": 0.6})
    data = ntklab.load_dataset(cfg.data.name, **cfg.data.options)
    whole = ListSink()
    train_group([LoopRun(cfg.model_copy(update={"device": "cpu"}))], data, whole)
    first = ListSink()
    with meta_default():
        train_group([LoopRun(cfg)], data, first)
    ckpt = first.checkpoints[0]
    assert ckpt["step"] == 10

    def devices_of(obj):
        if torch.is_tensor(obj):
            yield obj.device.type
        elif isinstance(obj, dict):
            for v in obj.values():
                yield from devices_of(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                yield from devices_of(v)

    assert set(devices_of(ckpt)) == {"cpu"}  # a checkpoint holds CPU tensors only: it loads anywhere
    second = ListSink()
    with meta_default():
        train_group([LoopRun(cfg.model_copy(update={"device": str(resume_on)}), ckpt)], data, second)
    got, want = second.results[0].rows, whole.results[0].rows
    assert [r[:3] for r in got] == [r[:3] for r in want]
    if device.type == "cpu" and resume_on.type == "cpu":
        assert got == want
    else:
        assert all(math.isclose(g[3], w[3], rel_tol=1e-4, abs_tol=1e-7) for g, w in zip(got, want))


def test_the_linearised_network_on_device(device):
    """f_lin(θ0 + δ) = f(θ0) + J δ, against a central finite difference of the network itself in float64:
    J δ ≈ (f(θ0 + hδ) − f(θ0 − hδ)) / 2h, with an O(h²) error (about 1e-9 relative at h = 1e-3 on this smooth
    tanh net), so 1e-7 of the output's scale leaves room for rounding and none for a wrong Jacobian."""
    make = NETS["shallow tanh zipf"]
    x = sphere(6, 5, device)
    with meta_default():
        lin = LinearizedNetwork(make().to(device))
        with torch.no_grad():
            for p in lin.parameters():
                p.add_(0.05)
            out = lin(x)
    assert out.device == x.device

    def shifted(h: float) -> torch.Tensor:
        net = make().to(device)
        with torch.no_grad():
            for p in net.parameters():
                if p.requires_grad:
                    p.add_(0.05 * h)
            return net(x)

    h = 1e-3
    with torch.no_grad():
        expected = shifted(0.0) + (shifted(h) - shifted(-h)) / (2 * h)
    assert torch.allclose(out, expected, rtol=0, atol=1e-7 * float(expected.abs().max()))


# --- the config field, the identity, presets and the CLI -------------------------------------------------------

def test_the_device_field_is_validated_and_not_part_of_the_identity():
    a = ntklab.RunConfig(device="cpu").model_dump(mode="json")
    b = dict(a, device="cuda:1")  # may not exist here: a config is readable anywhere
    assert config_hash(a) == config_hash(b) == config_hash({k: v for k, v in a.items() if k != "device"})
    with pytest.raises(ntklab.ConfigError, match="device"):
        ntklab.config.config_from_dict({"device": "gpu"})
    assert ntklab.RunConfig().device == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_a_missing_device_is_refused_in_one_line(tmp_path, capsys):
    from ntklab.cli import main

    with pytest.raises(ntklab.ConfigError, match="not available here"):
        ntklab.train(cfg_for("cpu").model_copy(update={"device": "cuda"}), out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # refused before anything is written
    assert main(["run", "asym-simulated", "--quick", "--set", "device=cuda", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device" in err[0] and "Traceback" not in err[0]


def test_a_preset_passes_its_device_to_every_run(tmp_path):
    from ntklab.experiments import _registry

    seen = []
    real = _registry.get_preset("asym-simulated")

    def execute(opts, out, progress):
        seen.append(current_device())
        ntklab.train_many([cfg_for("cpu")], out=out / "runs", progress=False)

    fake = _registry.Preset("device-probe", "records the device", real.options, execute, lambda o, out:
                            _registry.ExperimentResult(out, []))
    _registry.register_preset(fake)
    try:
        _registry.run_preset("device-probe", tmp_path / "e", overrides=["device=cpu"], progress=False)
    finally:
        _registry.PRESETS.unregister("device-probe")
    assert seen == ["cpu"]
    record = json.loads((tmp_path / "e" / "experiment.json").read_text())
    assert record["device"] == "cpu" and "device" not in record["options"]
    run_cfgs = list((tmp_path / "e" / "runs").glob("*/config.json"))
    assert len(run_cfgs) == 1 and json.loads(run_cfgs[0].read_text())["config"]["device"] == "cpu"


def test_using_device_sets_and_restores():
    assert current_device() is None
    with using_device("cpu"):
        assert current_device() == "cpu"
    assert current_device() is None
    assert resolve_device("cpu") == torch.device("cpu")


# --- static: no tensor constructor without a device on the training and kernel paths ---------------------------

CONSTRUCTORS = {"zeros", "ones", "empty", "arange", "eye", "tensor", "full", "randn", "rand", "randint", "linspace",
                "logspace", "as_tensor", "randperm", "normal", "Generator"}
PATHS = ["dynamics", "nets", "optim", "kernels", "data", "runs", "_scratch.py", "_device.py"]


def test_no_device_less_constructors():
    root = Path(ntklab.__file__).parent
    found = []
    for part in PATHS:
        files = [root / part] if part.endswith(".py") else sorted((root / part).glob("*.py"))
        for f in files:
            for node in ast.walk(ast.parse(f.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
                        and node.func.attr in CONSTRUCTORS and not any(k.arg == "device" for k in node.keywords)):
                    found.append(f"{f.relative_to(root)}:{node.lineno}: torch.{node.func.attr}(...) without device=")
    assert not found, "\n".join(found)
