r"""Width sweep on the sphere S^{d-1}: shallow ReLU nets f(x) = (1/sqrt(m)) sum_r a_r relu(<w_r, x> + b_r) trained by
GD on the Monte Carlo L2(S^{d-1}) loss L = 1/2 sum_q omega_q (f(x_q) - y_q)^2 (omega_q = |S^{d-1}| / n).

As in Welper's analysis the inner layer trains and the outer weights stay fixed (``trainable=("w", "b")``, any
subset of a, w, b allowed).  Init w_r ~ N(0, I_d), b_r ~ N(0, 1), a_r ~ N(0, 1), in symmetric pairs (f_0 = 0).
Step size eta = lr_factor / lambda_max(Theta_0) by power iteration with the closed-form jvp / vjp
(J t = c sum_r [t_a,r relu(z_r) + a_r 1{z_r > 0} (<t_w,r, x> + t_b,r)], tested against autograd).  The error is
reported on the training points and on an independent Monte Carlo set (the estimate of the continuous error).
Seeds of one width train as one batched program.  A net whose loss becomes non-finite or exceeds 1e3 times its
initial loss stops there with status ``diverged`` (the rule of :func:`ntklab.approximation.gd_train`); the others
end with status ``budget``.

Example:
    >>> from ntklab.approximation import make_target, sphere_width_sweep
    >>> out = sphere_width_sweep([make_target("zonal", d=3)], [8], seeds=1, steps=5, n_points=500)
    >>> sorted(out)
    ['curves', 'errors']
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from .._threads import torch_threads
from ._gd import diverging
from ._net1d import check_trainable
from ._quadrature import sphere_monte_carlo

__all__ = ["sphere_width_sweep", "sphere_init", "sphere_forward", "sphere_vjp"]


def sphere_init(m: int, d: int, *, seed: int, dtype=torch.float32) -> dict:
    gen = torch.Generator().manual_seed(seed)
    h = m // 2
    w = torch.randn(h, d, generator=gen, dtype=torch.float64)
    b = torch.randn(h, generator=gen, dtype=torch.float64)
    a = torch.randn(h, generator=gen, dtype=torch.float64)
    return {k: v.to(dtype) for k, v in
            {"w": torch.cat([w, w]), "b": torch.cat([b, b]), "a": torch.cat([a, -a])}.items()}


def sphere_forward(p: dict, x: torch.Tensor, t: dict | None = None) -> torch.Tensor:
    """(S, n) outputs of S stacked nets (p['w'] (S, m, d), p['b'], p['a'] (S, m)); with t the jvp J t."""
    z = torch.einsum("nd,smd->snm", x, p["w"]) + p["b"][:, None, :]
    c = 1 / math.sqrt(p["a"].shape[1])
    if t is None:
        return torch.einsum("snm,sm->sn", torch.relu(z), p["a"]) * c
    dz = torch.einsum("nd,smd->snm", x, t["w"]) + t["b"][:, None, :]
    return (torch.einsum("snm,sm->sn", torch.relu(z), t["a"]) + torch.einsum("snm,sm->sn", (z > 0) * dz, p["a"])) * c


def sphere_vjp(p: dict, x: torch.Tensor, g: torch.Tensor) -> dict:
    """J^T g for residual weights g (S, n): dL/da, dL/dw, dL/db of L = 1/2 sum_q omega_q (f - y)^2."""
    z = torch.einsum("nd,smd->snm", x, p["w"]) + p["b"][:, None, :]
    c = 1 / math.sqrt(p["a"].shape[1])
    G = (z > 0) * (g[:, :, None] * p["a"][:, None, :] * c)
    return {"a": torch.einsum("sn,snm->sm", g, torch.relu(z)) * c, "w": torch.einsum("snm,nd->smd", G, x),
            "b": G.sum(1)}


def _top_eigenvalue(p, x, omega, trainable, iters=30):
    gen = torch.Generator().manual_seed(0)
    v = {k: torch.randn(t.shape, generator=gen, dtype=t.dtype) * (k in trainable) for k, t in p.items()}
    lam = None
    for _ in range(iters):
        nrm = torch.sqrt(sum((t.flatten(1) ** 2).sum(1) for t in v.values()))
        v = {k: t / nrm.reshape(-1, *[1] * (t.ndim - 1)) for k, t in v.items()}
        hv = sphere_vjp(p, x, omega * sphere_forward(p, x, v))
        hv = {k: t * (k in trainable) for k, t in hv.items()}
        lam = sum((v[k] * hv[k]).flatten(1).sum(1) for k in p)
        v = hv
    return lam


def _train(target, m, *, seeds, steps, x, y, xt, yt, omega, lr_factor, every, trainable, dtype):
    ps = [sphere_init(m, x.shape[1], seed=1000 * s + m, dtype=dtype) for s in range(seeds)]
    p = {k: torch.stack([q[k] for q in ps]) for k in ps[0]}
    init = {k: v.clone() for k, v in p.items()}
    eta = (lr_factor / _top_eigenvalue(p, x, omega, trainable)).to(dtype)
    ynorm, ytn = torch.sqrt((omega * y * y).sum()), torch.sqrt((omega * yt * yt).sum())
    active = torch.ones(seeds, dtype=torch.bool)
    steps_run = torch.zeros(seeds, dtype=torch.long)
    rows, first = [], None
    for t in range(steps + 1):
        r = sphere_forward(p, x) - y
        loss = 0.5 * (omega * r * r).sum(1)
        first = loss.clone() if first is None else first
        if t % every == 0 or t == steps:
            rt = sphere_forward(p, xt) - yt
            train = torch.sqrt((omega * r * r).sum(1)) / ynorm
            test = torch.sqrt((omega * rt * rt).sum(1)) / ytn
            rows += [(s, t, float(train[s]), float(test[s])) for s in range(seeds)]
        active &= ~diverging(loss, first)
        if t == steps or not active.any():
            break
        grads = sphere_vjp(p, x, omega * r)
        for k in trainable:
            shape = (-1, *[1] * (p[k].ndim - 1))
            p[k] = torch.where(active.reshape(shape), p[k] - eta.reshape(shape) * grads[k], p[k])
        steps_run += active.long()
    num = sum(((p[k] - init[k]).flatten(1) ** 2).sum(1) for k in trainable)
    den = sum((init[k].flatten(1) ** 2).sum(1) for k in trainable)
    curves = pd.DataFrame(rows, columns=["seed", "step", "train_rel_error", "rel_error"])
    status = ["budget" if a else "diverged" for a in active.tolist()]
    return curves, torch.sqrt(num / den), eta, status, steps_run


def sphere_width_sweep(targets, widths, *, seeds: int = 2, steps: int = 300, n_points: int = 10_000,
                       data_seed: int = 0, lr_factor: float = 1.0, every: int = 50, trainable=("w", "b"),
                       dtype: str = "float32", progress=None) -> dict[str, pd.DataFrame]:
    """Frames ``errors`` (target, d, m, seed, rel_error, train_rel_error, weight_change, lr, status, steps_run)
    and ``curves`` (seed, step, train_rel_error, rel_error, target, d, m)."""
    trainable = check_trainable(trainable)
    dt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    errors, curves = [], []
    with torch_threads(1):
        for f in targets:
            d = int(f.options["d"])
            q, qt = sphere_monte_carlo(n_points, d, seed=data_seed), sphere_monte_carlo(n_points, d, seed=data_seed + 1)
            x, xt, omega = q.x.to(dt), qt.x.to(dt), q.w[0].to(dt)
            y, yt = f(q.x).to(dt)[None], f(qt.x).to(dt)[None]
            for m in widths:
                cv, change, eta, status, steps_run = _train(
                    f, int(m), seeds=seeds, steps=steps, x=x, y=y, xt=xt, yt=yt, omega=omega, lr_factor=lr_factor,
                    every=every, trainable=trainable, dtype=dt)
                cv = cv.assign(target=f.name, d=d, m=int(m))
                curves.append(cv)
                last = cv[cv.step == cv.step.max()]
                for s in range(seeds):
                    row = last[last.seed == s].iloc[0]
                    errors.append({"target": f.name, "d": d, "m": int(m), "seed": s, "rel_error": row.rel_error,
                                   "train_rel_error": row.train_rel_error, "weight_change": float(change[s]),
                                   "lr": float(eta[s]), "status": status[s], "steps_run": int(steps_run[s])})
                if progress is not None:
                    progress(f"{f.name} d={d} m={m}")
    return {"errors": pd.DataFrame(errors), "curves": pd.concat(curves, ignore_index=True)}
