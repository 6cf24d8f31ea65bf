"""The neural-tangents side of the benchmarks; runs inside bench/.peers-venv (JAX 0.4.23, neural-tangents 0.6.5).

A long-lived worker: one JSON request per stdin line, one JSON reply per stdout line, so the driver can
interleave peer and ntklab repeats.  Requests:

    {"op": "prepare", "key": K, "kind": "shallow_ntk" | "mlp_ntk" | "stax_kernel" | "predict", ...inputs as .npy paths}
        -> builds and jit-compiles the function on the inputs, saves its output to "out" (.npy), replies
           {"compile_s": first call time, "peak_mb": rise of the resident set during one call}
    {"op": "time", "key": K, "number": k}  -> {"s": seconds of k calls in a row (block_until_ready),
                                               "calls": each call's seconds}
    {"op": "quit"}
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

threads = os.environ.get("BENCH_THREADS", "2")
os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import neural_tangents as nt  # noqa: E402
from neural_tangents import stax  # noqa: E402

FUNCS: dict = {}


def _status_mb():
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmHWM", "VmRSS")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) / 1024
    return out


def _peak(fn):
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = _status_mb()["VmRSS"]
    r = jax.block_until_ready(fn())
    peak = _status_mb()["VmHWM"]
    del r
    return peak - base


def _load(path, dtype=None):
    a = np.load(path)
    return jnp.asarray(a if dtype is None else a.astype(dtype))


def build_shallow(req):
    """f(W, x) = relu(x @ W / sqrt(d)) @ c, W stored (d, m) as neural-tangents' structured path wants."""
    x = _load(req["x"])
    W = _load(req["W"])
    c = _load(req["c"])
    d = x.shape[1]

    def f(params, xx):
        return jax.nn.relu(xx @ params / np.sqrt(d)) @ c[:, None]

    kfn = jax.jit(nt.empirical_ntk_fn(f, vmap_axes=0, implementation=int(req["impl"])))
    return lambda: kfn(x, None, W)


def _mlp(depth, width, w_std, b_std):
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(width, W_std=w_std, b_std=b_std, parameterization="ntk"), stax.Relu()]
    layers += [stax.Dense(1, W_std=w_std, b_std=b_std, parameterization="ntk")]
    return stax.serial(*layers)


def build_mlp(req):
    """The stax MLP with the torch model's weights: params (W (in, out), b (out,)) per Dense, () per Relu."""
    x = _load(req["x"])
    _, apply_fn, _ = _mlp(req["depth"], req["width"], req["w_std"], req["b_std"])
    arrs = np.load(req["params"])
    params = []
    for i in range(req["depth"] + 1):
        params.append((jnp.asarray(arrs[f"W{i}"]), jnp.asarray(arrs[f"b{i}"])))
        if i < req["depth"]:
            params.append(())
    kfn = jax.jit(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=int(req["impl"])))
    return lambda: kfn(x, None, params)


def build_stax_kernel(req):
    x = _load(req["x"], np.float64 if req.get("x64") else None)
    _, _, kernel_fn = _mlp(req["depth"], 1, req["w_std"], req["b_std"])
    kfn = jax.jit(lambda a: kernel_fn(a, None, "ntk"))
    return lambda: kfn(x)


def build_predict(req):
    """Function-space predictions on the training set after ``t`` steps (train outputs, MSE)."""
    k = _load(req["k"])
    y = _load(req["y"])
    f0 = _load(req["f0"])
    lr, t = req["lr"], jnp.asarray(req["steps"])

    def run():
        # built inside the timed call: each includes its own eigendecomposition / set-up, as ntklab's does
        if req["method"] == "gd_mse":
            fn = nt.predict.gradient_descent_mse(k, y, learning_rate=lr, diag_reg=0.0)
        else:
            loss = lambda fx, yy: jnp.mean((fx - yy) ** 2)  # noqa: E731 - ntklab's MSE
            fn = nt.predict.gradient_descent(loss, k, y, learning_rate=lr, momentum=req.get("momentum"))
        return fn(t, f0)

    return run


BUILDERS = {"shallow_ntk": build_shallow, "mlp_ntk": build_mlp, "stax_kernel": build_stax_kernel,
            "predict": build_predict}


def handle(req):
    op = req["op"]
    if op == "prepare":
        if req.get("x64"):
            jax.config.update("jax_enable_x64", True)
        fn = BUILDERS[req["kind"]](req)
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        compile_s = time.perf_counter() - t0
        arr = np.asarray(out)
        if "out" in req:
            np.save(req["out"], arr.reshape(arr.shape[0], -1) if arr.ndim > 2 else arr)
        del out, arr
        peak = _peak(fn)
        FUNCS[req["key"]] = fn
        return {"compile_s": compile_s, "peak_mb": peak}
    if op == "time":
        fn = FUNCS[req["key"]]
        calls = []
        for _ in range(int(req.get("number", 1))):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            calls.append(time.perf_counter() - t0)
        return {"s": sum(calls), "calls": calls}
    if op == "drop":
        FUNCS.pop(req["key"], None)
        gc.collect()
        return {}
    raise ValueError(f"unknown op {op!r}")


def main():
    print(json.dumps({"ready": True, "jax": jax.__version__, "devices": str(jax.devices())}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("op") == "quit":
            break
        try:
            reply = handle(req)
        except Exception as exc:  # reported to the driver, which marks the row
            reply = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
