"""Function-space predictions (MSE, n = 1000, 10^5 steps): ntklab vs neural-tangents ``predict``.

Kernel: the empirical NTK of a shallow ReLU net (m = 2000, d = 50) on 1000 sphere points, float64 for both.
Where they overlap: gradient flow (ntklab ``FunctionSpaceModes.flow("gradient_flow")`` vs
``nt.predict.gradient_descent_mse``) and the heavy-ball ODE (``FunctionSpaceModes.ode("heavy_ball")`` vs
``nt.predict.gradient_descent(momentum=...)``), train-set loss at T = 1000 times spread over 10^5 steps, each
including its own eigendecomposition / set-up; the heavy-ball ODE is compared at T = 100 times to 10^3 steps,
since neural-tangents' odeint had not finished 10^5 steps after 5 minutes.  ntklab's discrete GD / HB / NAG losses at all 10^5 steps are
timed too (neural-tangents has no discrete-step prediction).
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
    save_rows(rows, "predict")
    return rows


if __name__ == "__main__":
    from _common import print_table

    print_table(main())
