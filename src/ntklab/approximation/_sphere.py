r"""Width sweep on the sphere S^{d-1}: ReLU nets of constant depth trained by GD on the Monte Carlo
L2(S^{d-1}) loss L = 1/2 sum_q omega_q (f(x_q) - y_q)^2 (omega_q = |S^{d-1}| / n), the error measured on an
independent Monte Carlo set (the estimate of the continuous error).

- ``depth=1`` (shallow): f(x) = (1/sqrt(m)) sum_r a_r relu(<w_r, x> + b_r);
- ``depth=H >= 2`` (Welper 2023's deep nets, constant depth, increasing width): H hidden layers of width m,
  h_1 = relu(W_1 x + b_1), h_l = relu(sqrt(2/m) W_l h_{l-1} + b_l), f = (1/sqrt(m)) sum_r a_r h_{H,r}, every
  entry of W_l, b_l, a ~ N(0, 1); as in Welper's analysis only the **second-to-last layer** trains, here
  (W_H, b_H) (the layer below the output; the shallow net's inner layer when H = 1).  The layers below it are
  fixed, so f(x) = (1/sqrt(m)) sum_r a_r relu(<w_r, phi(x)> + b_r) with fixed features
  phi(x) = sqrt(2/m) h_{H-1}(x) computed once: the deep net trains as a shallow net on phi (tested against
  autograd through the whole net).

Outer weights come in symmetric pairs (a_{r+m/2} = -a_r, same inner weights) so f_0 = 0.  Step size
eta = lr_factor / lambda_max(Theta_0) by power iteration with the closed-form jvp / vjp
(J t = c sum_r [t_a,r relu(z_r) + a_r 1{z_r > 0} (<t_w,r, x> + t_b,r)]); ``lr_factor`` may be a list (a step-size
sweep).  Each net runs to the stopping rule of :func:`ntklab.approximation.descend`.  Seeds (and step sizes) of one
width train as one batched program.

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
from ._descent import descend, tail_drop
from ._net1d import check_trainable
from ._quadrature import sphere_monte_carlo

__all__ = ["sphere_width_sweep", "sphere_init", "sphere_forward", "sphere_vjp", "deep_features", "SphereLoss"]


def sphere_init(m: int, d: int, *, seed: int, dtype=torch.float32) -> dict:
    """The symmetric initialisation of the width-m net f(x) = (1/√m) Σ_r a_r relu(<w_r, x> + b_r): m/2 nodes with
    w, b, a ~ N(0, 1) and their copies with a_r negated, so that f_0 ≡ 0; a dict of ``w`` (m, d), ``b`` (m,),
    ``a`` (m,) in ``dtype``, drawn from ``seed`` on the CPU."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    h = m // 2
    w = torch.randn(h, d, generator=gen, dtype=torch.float64)
    b = torch.randn(h, generator=gen, dtype=torch.float64)
    a = torch.randn(h, generator=gen, dtype=torch.float64)
    return {k: v.to(dtype) for k, v in
            {"w": torch.cat([w, w]), "b": torch.cat([b, b]), "a": torch.cat([a, -a])}.items()}


def deep_features(x: torch.Tensor, m: int, depth: int, *, seed: int) -> torch.Tensor:
    """phi(x) = sqrt(2/m) h_{depth-1}(x): the fixed layers below the trained one ((n, m); x itself for depth 1)."""
    if depth == 1:
        return x
    gen = torch.Generator().manual_seed(seed)
    h = x.double()
    for layer in range(depth - 1):
        fan = h.shape[1]
        scale = 1.0 if layer == 0 else math.sqrt(2 / fan)
        W = torch.randn(m, fan, generator=gen, dtype=torch.float64)
        b = torch.randn(m, generator=gen, dtype=torch.float64)
        h = torch.relu(scale * h @ W.T + b)
    return (math.sqrt(2 / m) * h).to(x.dtype)


def _pre(p: dict, x: torch.Tensor) -> torch.Tensor:
    """z (S, n, m) for inputs shared by the nets (n, d) or one per net (S, n, d)."""
    spec = "nd,smd->snm" if x.ndim == 2 else "snd,smd->snm"
    return torch.einsum(spec, x, p["w"]) + p["b"][:, None, :]


def sphere_forward(p: dict, x: torch.Tensor, t: dict | None = None) -> torch.Tensor:
    """(S, n) outputs of S stacked nets (p['w'] (S, m, d), p['b'], p['a'] (S, m)); with t the jvp J t."""
    z = _pre(p, x)
    c = 1 / math.sqrt(p["a"].shape[1])
    if t is None:
        return torch.einsum("snm,sm->sn", torch.relu(z), p["a"]) * c
    dz = _pre(t, x)
    return (torch.einsum("snm,sm->sn", torch.relu(z), t["a"]) + torch.einsum("snm,sm->sn", (z > 0) * dz, p["a"])) * c


def sphere_vjp(p: dict, x: torch.Tensor, g: torch.Tensor, z: torch.Tensor | None = None) -> dict:
    """J^T g for residual weights g (S, n): dL/da, dL/dw, dL/db of L = 1/2 sum_q omega_q (f - y)^2 (``z``: the
    pre-activations of ``p`` on ``x`` when already computed)."""
    z = _pre(p, x) if z is None else z
    c = 1 / math.sqrt(p["a"].shape[1])
    G = (z > 0) * (g[:, :, None] * p["a"][:, None, :] * c)
    spec = "snm,nd->smd" if x.ndim == 2 else "snm,snd->smd"
    return {"a": torch.einsum("sn,snm->sm", g, torch.relu(z)) * c, "w": torch.einsum(spec, G, x), "b": G.sum(1)}


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


class SphereLoss:
    """The Monte Carlo loss of stacked sphere nets as a :func:`descend` objective (inputs x (n, d) or (S, n, d))."""

    def __init__(self, x, y, omega):
        self.x, self.y, self.omega = x, y, omega

    def loss_and_grad(self, p):
        z = _pre(p, self.x)  # shared by the forward pass and the vjp
        r = torch.einsum("snm,sm->sn", torch.relu(z), p["a"]) / math.sqrt(p["a"].shape[1]) - self.y
        return 0.5 * (self.omega * r * r).sum(1), sphere_vjp(p, self.x, self.omega * r, z)

    def select(self, rows):
        x = self.x if self.x.ndim == 2 else self.x[rows]
        return SphereLoss(x, self.y, self.omega)


def _train(m, *, seeds, factors, steps, data, tol, every, trainable, dtype, depth, on_rise, lazy_radius):
    x, y, xt, yt, omega = data
    combos = [(s, lf) for s in range(seeds) for lf in factors]
    ps = [sphere_init(m, m if depth > 1 else x.shape[1], seed=1000 * s + m, dtype=dtype) for s, _ in combos]
    p = {k: torch.stack([q[k] for q in ps]) for k in ps[0]}
    feats = [(deep_features(x, m, depth, seed=7 + 1000 * s + m), deep_features(xt, m, depth, seed=7 + 1000 * s + m))
             for s, _ in combos] if depth > 1 else None
    X = x if feats is None else torch.stack([f for f, _ in feats])
    XT = xt if feats is None else torch.stack([f for _, f in feats])
    eta = (torch.tensor([lf for _, lf in combos], dtype=torch.float64)
           / _top_eigenvalue(p, X, omega, trainable).double()).to(dtype)
    ytn = torch.sqrt((omega * yt * yt).sum())
    ynorm = torch.sqrt((omega * y * y).sum())

    def monitor(rows, q):
        xt_rows = XT if XT.ndim == 2 else XT[rows]
        rt = sphere_forward(q, xt_rows) - yt
        return {"rel_error": torch.sqrt((omega * rt * rt).sum(1)) / ytn}

    budgets = [int(round(steps * max(factors) / lf)) for _, lf in combos]
    den = sum((p[k].flatten(1) ** 2).sum(1) for k in trainable)
    loss = SphereLoss(X, y, omega)
    min_time = None if lazy_radius is None else lazy_radius ** 2 * den.double() / loss.loss_and_grad(p)[0].double()
    res = descend(loss, p, eta, steps=budgets, every=every, tol=tol, trainable=trainable, monitor=monitor,
                  on_rise=on_rise, min_time=min_time)
    num = sum(((res.params[k] - p[k]).flatten(1) ** 2).sum(1) for k in trainable)
    curves = res.curves.assign(train_rel_error=lambda d: (2 * d.loss.clip(lower=0)).pow(0.5) / float(ynorm))
    return combos, curves, torch.sqrt(num / den), eta, res, torch.sqrt(den)


def sphere_width_sweep(targets, widths, *, seeds: int = 2, steps=300, n_points: int = 10_000,
                       n_test: int | None = None, data_seed: int = 0, lr_factor=1.0, every: int = 50,
                       tol: float = 0.0, on_rise: str = "stop", trainable=("w", "b"), dtype: str = "float32",
                       depth: int = 1, lazy_radius: float | None = None, progress=None) -> dict[str, pd.DataFrame]:
    """Frames ``errors`` (target, d, m, seed, lr_factor, rel_error (test), train_rel_error, weight_change, lr,
    status, steps_run, budget, halvings, depth, tail_drop, time_run = sum_t eta_t at the stop, init_norm =
    ||theta_0|| of the trained layer, loss0 = L(theta_0)) and ``curves`` (seed, lr_factor, step, time,
    train_rel_error, rel_error, target, d, m, depth).
    ``steps``: one budget or a dict width -> budget; ``n_test`` test points (default ``n_points``);
    ``lazy_radius`` rho: no net stops by the rule before its lazy-window time rho^2 ||theta_0||^2 / L(theta_0)."""
    trainable = check_trainable(trainable)
    if depth > 1 and "a" in trainable:
        raise ValueError("the deep nets train the second-to-last layer only: trainable must be a subset of w, b")
    factors = [float(v) for v in (lr_factor if isinstance(lr_factor, (list, tuple)) else [lr_factor])]
    dt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    errors, curves = [], []
    with torch_threads(1):
        for f in targets:
            d = int(f.options["d"])
            q, qt = sphere_monte_carlo(n_points, d, seed=data_seed), sphere_monte_carlo(n_test or n_points, d,
                                                                                        seed=data_seed + 1)
            data = (q.x.to(dt), f(q.x).to(dt)[None], qt.x.to(dt), f(qt.x).to(dt)[None], q.w[0].to(dt))
            for m in widths:
                budget = int(steps[m] if isinstance(steps, dict) else steps)
                combos, cv, change, eta, res, init_norm = _train(
                    int(m), seeds=seeds, factors=factors, steps=budget, data=data, tol=tol, every=every,
                    trainable=trainable, dtype=dt, depth=depth, on_rise=on_rise, lazy_radius=lazy_radius)
                s_of = {i: s for i, (s, _) in enumerate(combos)}
                lf_of = {i: lf for i, (_, lf) in enumerate(combos)}
                cv = cv.assign(seed=cv.net.map(s_of), lr_factor=cv.net.map(lf_of), target=f.name, d=d, m=int(m),
                               depth=depth)
                curves.append(cv.drop(columns=["net", "loss"]))
                last = cv.sort_values("step").groupby("net").tail(1).set_index("net")
                for i, (s, lf) in enumerate(combos):
                    row, ci = last.loc[i], cv[cv.net == i].sort_values("step")
                    errors.append({"target": f.name, "d": d, "m": int(m), "seed": s, "lr_factor": lf,
                                   "rel_error": float(row.rel_error), "train_rel_error": float(row.train_rel_error),
                                   "weight_change": float(change[i]), "lr": float(eta[i]), "status": res.status[i],
                                   "steps_run": int(res.steps_run[i]), "budget": int(round(budget * max(factors) / lf)),
                                   "halvings": int(res.halvings[i]), "depth": depth,
                                   "time_run": float(ci.time.iloc[-1]), "init_norm": float(init_norm[i]),
                                   "loss0": float(ci.loss.iloc[0]),
                                   "tail_drop": tail_drop(ci.step, ci.loss)})
                if progress is not None:
                    progress(f"{f.name} d={d} m={m}")
    return {"errors": pd.DataFrame(errors), "curves": pd.concat(curves, ignore_index=True)}
