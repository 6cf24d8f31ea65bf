"""Function-space predictions (MSE, n = 1000, 10^5 steps): ntklab vs neural-tangents ``predict``.

Kernel: the empirical NTK of a shallow ReLU net (m = 2000, d = 50) on 1000 sphere points, float64 for both.
Where they overlap: gradient flow (ntklab ``FunctionSpaceModes.flow("gradient_flow")`` vs
``nt.predict.gradient_descent_mse``) and the heavy-ball ODE (``FunctionSpaceModes.ode("heavy_ball")`` vs
``nt.predict.gradient_descent(momentum=...)``), train-set loss at T = 1000 times spread over 10^5 steps, each
including its own eigendecomposition / set-up; the heavy-ball ODE is compared at T = 100 times to 10^3 steps,
since neural-tangents' odeint had not finished 10^5 steps after 5 minutes.  ntklab's discrete GD / HB / NAG losses at all 10^5 steps are
timed too (neural-tangents has no discrete-step prediction).

Test points and ensembles (``check_test_points``, accuracy rows, target 1e-8 in float64): the same net's lazy
prediction on 200 test points from Theta(X_test, X_train) (``FunctionSpaceModes.at``) against
``nt.predict.gradient_descent_mse(..., k_test_train=...)`` (closed form) and ``nt.predict.gradient_descent(...,
momentum=...)`` (its ODE, integrated by odeint at its default tolerance 1.4e-8, so that row is held to 1e-6);
the infinite-width ensembles of the one-hidden-layer ReLU MLP (``gp_ensemble`` with ntklab's ``infinite_kernel``
against ``nt.predict.gradient_descent_mse_ensemble`` with the stax kernel, NNGP and NTK, mean and covariance,
finite times and t = inf) and ``gp_inference`` against ``nt.predict.gp_inference``.  Differences are relative
to the largest entry of the compared quantity.
"""

from __future__ import annotations

import time

import numpy as np

from _common import INPUTS, QUICK, Row, interleave, median, save_rows, setup_torch
from _peers import start_peer

torch = setup_torch()
import ntklab  # noqa: E402
import ntklab.dynamics as dyn  # noqa: E402

N, M, D = (300 if QUICK else 1000), 2000, 50
STEPS, T = 100_000, 1000
SHORT, T_SHORT = 1000, 100  # the heavy-ball ODE is compared with neural-tangents over this horizon
REPEATS = 3


PEER_TEST_POINTS = r"""
import json, os, sys
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import numpy as np, scipy.linalg
for _name in ("tril", "triu"):  # removed from scipy.linalg after JAX 0.4.23 was released; jax.scipy wraps them
    if not hasattr(scipy.linalg, _name):
        setattr(scipy.linalg, _name, getattr(np, _name))
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import neural_tangents as nt
from neural_tangents import stax

req = json.loads(sys.argv[1])
d = {k: np.load(v) for k, v in req["inputs"].items()}
out = {}
fn = nt.predict.gradient_descent_mse(d["k_dd"], d["y"], learning_rate=1.0)
out["gd_mse"] = fn(t=jnp.asarray(req["T"]), fx_train_0=d["f0_tr"], fx_test_0=d["f0_te"], k_test_train=d["k_td"])[1]
loss = lambda fx, y: jnp.mean((fx - y) ** 2)
fn = nt.predict.gradient_descent(loss, d["k_dd"], d["y"], learning_rate=req["lr"], momentum=req["beta"])
out["hb_ode"] = fn(t=jnp.asarray(req["hb_steps"]), fx_train_or_state_0=d["f0_tr"], fx_test_0=d["f0_te"], k_test_train=d["k_td"])[1]
_, _, kernel_fn = stax.serial(stax.Dense(1, W_std=req["w_std"], b_std=req["b_std"]), stax.Relu(),
                              stax.Dense(1, W_std=req["w_std"], b_std=req["b_std"]))
for name, (a, b) in {"dd": ("x_tr", None), "td": ("x_te", "x_tr"), "tt": ("x_te", None)}.items():
    k = kernel_fn(d[a], None if b is None else d[b], ("nngp", "ntk"))
    out[f"nngp_{name}"], out[f"ntk_{name}"] = k.nngp, k.ntk
ens = nt.predict.gradient_descent_mse_ensemble(kernel_fn, d["x_tr"], d["y"], diag_reg=0.0)
for label, t in (("t", jnp.asarray(req["T"])), ("inf", None)):
    g = ens(t=t, x_test=d["x_te"], get=("nngp", "ntk"), compute_cov=True)
    for kind in ("nngp", "ntk"):
        out[f"ens_{kind}_{label}_mean"] = getattr(g, kind).mean
        out[f"ens_{kind}_{label}_cov"] = getattr(g, kind).covariance
gp = nt.predict.gp_inference(d["nngp_dd"], d["y"], diag_reg=req["diag_reg"])(get="nngp", k_test_train=d["nngp_td"],
                                                                             k_test_test=d["nngp_tt"])
out["gp_mean"], out["gp_cov"] = gp.mean, gp.covariance
np.savez(req["out"], **{k: np.asarray(v) for k, v in out.items()})
print(json.dumps({"ok": True}))
"""
N_TEST, W_STD, B_STD, DIAG_REG = 200, 2.0 ** 0.5, 0.1, 1e-3
EXACT, ODE_TOL = 1e-8, 1e-6


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a.reshape(b.shape) - b).max() / max(np.abs(b).max(), 1e-300))


def _ensembles(nngp: dict, ntk: dict, y, T) -> dict:
    """ntklab's ensembles and gp_inference from the kernels on (train, train), (test, train), (test, test)."""
    out = {}
    for kind in ("nngp", "ntk"):
        ens = dyn.gp_ensemble({"nngp": nngp["dd"], "ntk": ntk["dd"]}, {"nngp": nngp["td"], "ntk": ntk["td"]}, y,
                              nngp_test=nngp["tt"], get=kind)
        for label, t in (("t", np.asarray(T) / 2), ("inf", [np.inf])):
            e = ens.flow(t)
            out[f"ens_{kind}_{label}_mean"], out[f"ens_{kind}_{label}_cov"] = e.mean, e.cov
    out["gp_mean"], out["gp_cov"] = dyn.gp_inference(nngp["dd"], nngp["td"], y, k_test=nngp["tt"], diag_reg=DIAG_REG)
    return out


def _ours_test_points(net, x, xt, y, lr, beta, T, hb_steps):
    """ntklab's side: the lazy test predictions and the ensembles (with their kernels, saved for the peer)."""
    theta = ntklab.empirical_ntk(net, x)
    k_td = ntklab.empirical_ntk(net, xt, x)
    with torch.no_grad():
        f0_tr, f0_te = net(x), net(xt)
    lazy = dyn.FunctionSpaceModes(theta, f0_tr - y).at(k_td, f0_te)
    ours = {"gd_mse": lazy.flow("gradient_flow", np.asarray(T) / 2),  # nt's time T is 2t for the mean loss
            "hb_ode": lazy.ode("heavy_ball", lr=lr, momentum=beta, steps=hb_steps)}
    kern = {name: ntklab.infinite_kernel(a, b, depth=1, kind="both", weight_var=W_STD ** 2, bias_var=B_STD ** 2)
            for name, (a, b) in {"dd": (x, None), "td": (xt, x), "tt": (xt, None)}.items()}
    nngp = {k: v[0].numpy() for k, v in kern.items()}
    ntk = {k: v[1].numpy() for k, v in kern.items()}
    ours.update(_ensembles(nngp, ntk, y, T))
    ours.update({f"{kind}_{k}": v for kind, ks in (("nngp", nngp), ("ntk", ntk)) for k, v in ks.items()})
    arrays = {"k_dd": theta, "k_td": k_td, "f0_tr": f0_tr, "f0_te": f0_te, "y": y, "x_tr": x, "x_te": xt,
              "nngp_dd": nngp["dd"], "nngp_td": nngp["td"], "nngp_tt": nngp["tt"]}
    return ours, {k: np.asarray(v.detach() if hasattr(v, "detach") else v) for k, v in arrays.items()}


def check_test_points(x, y, net, lr) -> list:
    """Accuracy rows: ntklab's test-point predictions and ensembles against neural-tangents (module docstring)."""
    import json
    import subprocess

    from _peers import ensure_venv

    g = torch.Generator().manual_seed(1)
    xt = torch.randn(N_TEST, D, generator=g, dtype=torch.float64)
    xt = xt / xt.norm(dim=1, keepdim=True)
    beta, T, hb_steps = 0.9, [0.0, 10.0, 1e3, 1e5], [0.0, 100.0, 1000.0]
    t0 = time.perf_counter()
    ours, arrays = _ours_test_points(net, x, xt, y, lr, beta, T, hb_steps)
    t_ours = time.perf_counter() - t0
    INPUTS.mkdir(parents=True, exist_ok=True)
    paths = {k: str(INPUTS / f"tp_{k}.npy") for k in arrays}
    for k, v in arrays.items():
        np.save(paths[k], v)
    result = INPUTS / "tp_peer.npz"
    py = ensure_venv()
    rows = []
    if py is None:
        return [Row("test-point prediction", "neural-tangents comparison", "ntklab", t_ours,
                    note="no peer environment: not compared")]
    req = {"inputs": paths, "T": T, "hb_steps": hb_steps, "lr": lr, "beta": beta, "w_std": W_STD, "b_std": B_STD,
           "diag_reg": DIAG_REG, "out": str(result)}
    proc = subprocess.run([str(py), "-c", PEER_TEST_POINTS, json.dumps(req)], capture_output=True, text=True,
                          env=dict(__import__("os").environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if proc.returncode != 0:
        return [Row("test-point prediction", "neural-tangents comparison", "ntklab", t_ours,
                    note=f"neural-tangents failed: {proc.stderr.strip().splitlines()[-1][:100]}")]
    peer = dict(np.load(result))
    # the predictors compared on the same (neural-tangents') kernels; the kernels compared on their own rows
    same = _ensembles({k: peer[f"nngp_{k}"] for k in ("dd", "td", "tt")},
                      {k: peer[f"ntk_{k}"] for k in ("dd", "td", "tt")}, y.numpy(), T)
    cases = {"gd_mse": f"lazy test points, gradient flow, n={N}, n_test={N_TEST}, T to 1e5",
             "hb_ode": "lazy test points, heavy-ball ODE (odeint), 3 times to 1000 steps"}
    for kind in ("nngp", "ntk"):
        for k in ("dd", "td", "tt"):
            cases[f"{kind}_{k}"] = f"infinite-width {kind.upper()} kernel ({k}), infinite_kernel vs stax"
        for label in ("t", "inf"):
            for part in ("mean", "cov"):
                cases[f"ens_{kind}_{label}_{part}"] = f"ensemble {kind.upper()} {part}, " + (
                    "4 times to T=1e5" if label == "t" else "t = inf") + " (the same kernels)"
    cases["gp_mean"], cases["gp_cov"] = "gp_inference mean (diag_reg 1e-3)", "gp_inference covariance"
    kappa = np.linalg.cond(peer["ntk_dd"])
    for key, case in cases.items():
        err = _rel((same if key.startswith(("ens_", "gp_")) else ours)[key], peer[key])
        tol = ODE_TOL if key == "hb_ode" else EXACT
        rows.append(Row("test-point prediction", case, "ntklab vs neural-tangents", float("nan"),
                        target=f"max rel diff <= {tol:g}", met="yes" if err <= tol else "NO",
                        note=f"max rel diff {err:.1e}"))
    for kind in ("nngp", "ntk"):  # end to end: each side's own kernels (kernel differences times cond(Theta))
        err = _rel(ours[f"ens_{kind}_t_mean"], peer[f"ens_{kind}_t_mean"])
        rows.append(Row("test-point prediction", f"ensemble {kind.upper()} mean, each side's own kernels",
                        "ntklab vs neural-tangents", float("nan"), note=f"max rel diff {err:.1e} "
                        f"(cond of the NTK on the training points {kappa:.1e})"))
    return rows


def main():
    modes_cls = dyn.FunctionSpaceModes
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.randn(N, 1, generator=g, dtype=torch.float64)
    net = ntklab.ScaledShallowNet(D, M, seed=0, dtype=torch.float64)
    theta = ntklab.empirical_ntk(net, x)
    with torch.no_grad():
        f0 = net(x)
    e0 = f0 - y
    probe = modes_cls(theta, e0)
    lr = 1.0 / probe.lambda_max
    steps = np.linspace(STEPS / T, STEPS, T)
    tflow = steps * lr
    beta = 0.9
    INPUTS.mkdir(parents=True, exist_ok=True)
    paths = {k: str(INPUTS / f"pred_{k}.npy") for k in ("k", "y", "f0", "gd", "hb")}
    np.save(paths["k"], theta.numpy())
    np.save(paths["y"], y.numpy())
    np.save(paths["f0"], f0.numpy())
    theta_np, e0_np = theta.numpy(), e0.numpy()

    def ours_flow():
        return modes_cls(theta_np, e0_np).flow("gradient_flow", tflow).loss

    short = np.linspace(SHORT / T_SHORT, SHORT, T_SHORT)  # where neural-tangents' odeint finishes

    def ours_hb_ode(at=steps):
        return modes_cls(theta_np, e0_np).ode("heavy_ball", lr=lr, momentum=beta, steps=at).loss

    rows = []
    peer, why = start_peer()
    try:
        for label, ours, method, kw, at in (
                ("gradient flow", ours_flow, "gd_mse", {}, steps),
                ("heavy-ball ODE", ours_hb_ode, "gd_momentum", {"momentum": beta}, steps),
                ("heavy-ball ODE", lambda: ours_hb_ode(short), "gd_momentum", {"momentum": beta}, short)):
            case = f"n={N}, T={len(at)} times to {int(at[-1])} steps"
            contenders = {"ntklab": ours}
            note = ""
            if method == "gd_momentum" and at[-1] > SHORT:  # odeint of a stiff system over 10^5 steps: > 5 min
                note = ("neural-tangents' gradient_descent(momentum) integrates the ODE with odeint: "
                        f"still running after 5 min for 10^5 steps, not timed (compared at {SHORT} steps below)")
            elif peer is not None:
                key = f"pred-{method}-{len(at)}"
                try:
                    # gradient_descent_mse follows the flow of 1/(2n)||f - y||^2: twice the rate gives ntklab's
                    # mean-square loss; gradient_descent gets ntklab's loss itself
                    lr_nt = 2 * lr if method == "gd_mse" else lr
                    peer.prepare(key, "predict", k=paths["k"], y=paths["y"], f0=paths["f0"], x64=True,
                                 method=method, lr=lr_nt, steps=list(at), out=paths["gd"], **kw)
                    fx = np.load(paths["gd"]).reshape(len(at), N)
                    nt_loss = ((fx - y.numpy().reshape(1, N)) ** 2).mean(1)
                    err = float(np.abs(nt_loss - ours()).max() / nt_loss.max())
                    note = f"max rel diff of the loss curves {err:.1e}"
                    contenders["neural-tangents"] = peer.timer(key)
                except Exception as exc:  # noqa: BLE001
                    note = f"neural-tangents failed: {str(exc)[:80]}"
            times = interleave(contenders, REPEATS)
            t = median(times["ntklab"])
            r = Row("function-space prediction", f"{label}, {case}", "ntklab", t, times["ntklab"], note=note)
            if "neural-tangents" in times:
                tp = median(times["neural-tangents"])
                r.ratio = t / tp
                rows.append(r)
                rows.append(Row("function-space prediction", f"{label}, {case}", "neural-tangents", tp,
                                times["neural-tangents"], ratio=t / tp))
            else:
                r.note = r.note or f"no peer: {why}"
                rows.append(r)
    finally:
        if peer is not None:
            peer.close()
    modes = modes_cls(theta_np, e0_np)
    for method, mom in (("gd", 0.0), ("heavy_ball", beta), ("nag", 0.0)):
        ts = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            modes.discrete(method, lr=lr, momentum=mom, steps=STEPS)
            ts.append(time.perf_counter() - t0)
        rows.append(Row("function-space prediction", f"discrete {method}, n={N}, all {STEPS} steps", "ntklab",
                        median(ts), ts, note="after the eigendecomposition; no neural-tangents counterpart"))
    rows += check_test_points(x, y, net, lr)
    save_rows(rows, "predict")
    return rows


def _shallow_problem():
    """The kernel's net and data (as ``main``): m = 2000, d = 50, N points on the sphere, float64; lr = 1/a_max."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.randn(N, 1, generator=g, dtype=torch.float64)
    net = ntklab.ScaledShallowNet(D, M, seed=0, dtype=torch.float64)
    with torch.no_grad():
        e0 = net(x) - y
    return x, y, net, 1.0 / dyn.FunctionSpaceModes(ntklab.empirical_ntk(net, x), e0).lambda_max


if __name__ == "__main__":
    import sys

    from _common import print_table

    if "--test-points" in sys.argv:  # only the accuracy rows against neural-tangents
        print_table(check_test_points(*_shallow_problem()))
    else:
        print_table(main())
