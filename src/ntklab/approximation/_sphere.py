r"""Width sweep on the sphere S^{d-1}: shallow ReLU nets f(x) = (1/sqrt(m)) sum_r a_r relu(<w_r, x> + b_r) trained by
GD on the Monte Carlo L2(S^{d-1}) loss L = 1/2 sum_q omega_q (f(x_q) - y_q)^2 (omega_q = |S^{d-1}| / n).

As in Welper's analysis the inner layer trains and the outer weights stay fixed (``trainable=("w", "b")``, any
subset of a, w, b allowed).  Init w_r ~ N(0, I_d), b_r ~ N(0, 1), a_r ~ N(0, 1), in symmetric pairs (f_0 = 0).
Step size eta = lr_factor / lambda_max(Theta_0) by power iteration with ``torch.func`` jvp/vjp.  The error is
reported on the training points and on an independent Monte Carlo set (the estimate of the continuous error).
Seeds of one width train as one batched program.

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
from torch.func import jvp, vjp

from ._gd import one_thread
from ._net1d import check_trainable
from ._quadrature import sphere_monte_carlo

__all__ = ["sphere_width_sweep", "sphere_init"]


def sphere_init(m: int, d: int, *, seed: int, dtype=torch.float32) -> dict:
    gen = torch.Generator().manual_seed(seed)
    h = m // 2
    w = torch.randn(h, d, generator=gen, dtype=torch.float64)
    b = torch.randn(h, generator=gen, dtype=torch.float64)
    a = torch.randn(h, generator=gen, dtype=torch.float64)
    return {k: v.to(dtype) for k, v in
            {"w": torch.cat([w, w]), "b": torch.cat([b, b]), "a": torch.cat([a, -a])}.items()}


def _forward(p: dict, x: torch.Tensor) -> torch.Tensor:
    """(S, n) outputs of S stacked nets: p['w'] (S, m, d), p['b'], p['a'] (S, m)."""
    z = torch.einsum("nd,smd->snm", x, p["w"]) + p["b"][:, None, :]
    return torch.einsum("snm,sm->sn", torch.relu(z), p["a"]) / math.sqrt(p["a"].shape[1])


def _top_eigenvalue(p, frozen, x, omega, iters=30):
    f = lambda q: _forward({**frozen, **q}, x)  # noqa: E731
    gen = torch.Generator().manual_seed(0)
    v = {k: torch.randn(t.shape, generator=gen, dtype=t.dtype) for k, t in p.items()}
    lam = None
    for _ in range(iters):
        nrm = torch.sqrt(sum((t.flatten(1) ** 2).sum(1) for t in v.values()))
        v = {k: t / nrm.reshape(-1, *[1] * (t.ndim - 1)) for k, t in v.items()}
        _, jv = jvp(f, (p,), (v,))
        hv = vjp(f, p)[1](omega * jv)[0]
        lam = sum((v[k] * hv[k]).flatten(1).sum(1) for k in p)
        v = hv
    return lam


def _train(target, m, *, seeds, steps, x, y, xt, yt, omega, lr_factor, every, trainable, dtype):
    ps = [sphere_init(m, x.shape[1], seed=1000 * s + m, dtype=dtype) for s in range(seeds)]
    full = {k: torch.stack([p[k] for p in ps]) for k in ps[0]}
    p = {k: v.clone().requires_grad_(True) for k, v in full.items() if k in trainable}
    frozen = {k: v for k, v in full.items() if k not in trainable}
    init = {k: v.detach().clone() for k, v in p.items()}
    eta = (lr_factor / _top_eigenvalue({k: v.detach() for k, v in p.items()}, frozen, x, omega)).to(dtype)
    ynorm, ytn = torch.sqrt((omega * y * y).sum()), torch.sqrt((omega * yt * yt).sum())
    rows = []
    for t in range(steps + 1):
        r = _forward({**frozen, **p}, x) - y
        loss = 0.5 * (omega * r * r).sum(1)
        if t % every == 0 or t == steps:
            with torch.no_grad():
                rt = _forward({**frozen, **p}, xt) - yt
                test = torch.sqrt((omega * rt * rt).sum(1)) / ytn
            rows += [(s, t, float(torch.sqrt(2 * loss[s]) / ynorm), float(test[s])) for s in range(seeds)]
        if t == steps:
            break
        grads = torch.autograd.grad(loss.sum(), list(p.values()))
        with torch.no_grad():
            for (k, v), g in zip(p.items(), grads):
                v -= eta.reshape(-1, *[1] * (v.ndim - 1)) * g
    with torch.no_grad():
        num = sum(((p[k] - init[k]).flatten(1) ** 2).sum(1) for k in p)
        den = sum((init[k].flatten(1) ** 2).sum(1) for k in p)
    curves = pd.DataFrame(rows, columns=["seed", "step", "train_rel_error", "rel_error"])
    return curves, torch.sqrt(num / den), eta


def sphere_width_sweep(targets, widths, *, seeds: int = 2, steps: int = 300, n_points: int = 10_000,
                       data_seed: int = 0, lr_factor: float = 1.0, every: int = 50, trainable=("w", "b"),
                       dtype: str = "float32", progress=None) -> dict[str, pd.DataFrame]:
    """Frames ``errors`` (target, d, m, seed, rel_error, train_rel_error, weight_change, lr) and ``curves``."""
    trainable = check_trainable(trainable)
    dt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    errors, curves = [], []
    with one_thread():
        for f in targets:
            d = int(f.options["d"])
            q, qt = sphere_monte_carlo(n_points, d, seed=data_seed), sphere_monte_carlo(n_points, d, seed=data_seed + 1)
            x, xt, omega = q.x.to(dt), qt.x.to(dt), q.w[0].to(dt)
            y, yt = f(q.x).to(dt)[None], f(qt.x).to(dt)[None]
            for m in widths:
                cv, change, eta = _train(f, int(m), seeds=seeds, steps=steps, x=x, y=y, xt=xt, yt=yt, omega=omega,
                                         lr_factor=lr_factor, every=every, trainable=trainable, dtype=dt)
                cv = cv.assign(target=f.name, d=d, m=int(m))
                curves.append(cv)
                last = cv[cv.step == cv.step.max()]
                for s in range(seeds):
                    row = last[last.seed == s].iloc[0]
                    errors.append({"target": f.name, "d": d, "m": int(m), "seed": s, "rel_error": row.rel_error,
                                   "train_rel_error": row.train_rel_error, "weight_change": float(change[s]),
                                   "lr": float(eta[s])})
                if progress is not None:
                    progress(f"{f.name} d={d} m={m}")
    return {"errors": pd.DataFrame(errors), "curves": pd.concat(curves, ignore_index=True)}
