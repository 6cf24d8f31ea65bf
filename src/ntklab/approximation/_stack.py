r"""B one-dimensional shallow nets stacked as (B, M) tensors (padded width M, ``mask`` marks real nodes), on
per-net quadratures (x, omega) of shape (B, n), sorted ascending.  Three maps of the parameters theta = (a, w, b):

    forward  f(x_q)                       (B, n)
    vjp      g -> J^T g = dL/dtheta for residual g_q = omega_q (f(x_q) - y_q)
    jvp      p -> J p, the directional derivative of f

ReLU uses prefix sums over the breakpoint index of each node (see :mod:`._net1d`); other activations the dense
(B, n, M) form.  Nodes outside ``mask`` and parameters outside ``trainable`` get zero gradient.

Example:
    >>> import torch
    >>> from ntklab.approximation import NetStack, gauss_legendre, init_params
    >>> q = gauss_legendre(100)
    >>> st = NetStack.from_params([init_params(8, seed=0)], [q])
    >>> st.forward(st.params).shape
    torch.Size([1, 100])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..nets import get_activation
from ._net1d import PARAMS, check_trainable

__all__ = ["NetStack"]


def _pad(v: torch.Tensor, M: int) -> torch.Tensor:
    return torch.cat([v, v.new_zeros(M - v.shape[0])])


@dataclass
class NetStack:
    params: dict  # a, w, b: (B, M)
    c: torch.Tensor  # (B, 1)
    mask: torch.Tensor  # (B, M)
    x: torch.Tensor  # (B, n), ascending
    omega: torch.Tensor  # (B, n)
    activation: str = "relu"
    trainable: tuple = PARAMS
    fast: bool | None = None  # None: prefix sums for ReLU, dense otherwise

    @classmethod
    def from_params(cls, params_list, quads, **kw) -> "NetStack":
        M = max(p["a"].shape[0] for p in params_list)
        P = {k: torch.stack([_pad(p[k], M) for p in params_list]) for k in PARAMS}
        mask = torch.stack([_pad(torch.ones_like(p["a"]), M) for p in params_list])
        c = torch.stack([torch.as_tensor(p["c"], dtype=torch.float64) for p in params_list])[:, None]
        x = torch.stack([q.x for q in quads])
        if (x.diff(dim=1) < 0).any():
            raise ValueError("quadrature nodes must be sorted ascending")
        st = cls(P, c, mask, x, torch.stack([q.w for q in quads]), **kw)
        st.trainable = check_trainable(st.trainable)
        return st

    def select(self, rows: torch.Tensor) -> "NetStack":
        """The stack of the nets ``rows`` only (a view of the same parameters, quadratures and settings)."""
        return NetStack({k: v[rows] for k, v in self.params.items()}, self.c[rows], self.mask[rows], self.x[rows],
                        self.omega[rows], self.activation, self.trainable, self.fast)

    @property
    def use_fast(self) -> bool:
        return self.activation == "relu" if self.fast is None else self.fast

    # ---- ReLU by prefix sums -------------------------------------------------------------------------
    def _index(self, p):
        """Breakpoint index k (B, M) and whether the node is active on the suffix q >= k (else prefix q < k)."""
        w, b = p["w"], p["b"]
        nz = w != 0
        t = torch.where(nz, -b / torch.where(nz, w, torch.ones_like(w)), torch.zeros_like(w))
        right = torch.searchsorted(self.x, t.contiguous(), right=True)
        # first index with x_q >= t (the prefix end for w < 0): right minus one where x_{right-1} == t
        tie = self.x.gather(1, (right - 1).clamp(min=0)) == t
        left = right - (tie & (right > 0)).long()
        n = self.x.shape[1]
        k = torch.where(w > 0, right, torch.where(w < 0, left, torch.where(b > 0, 0, n)))
        return k, w >= 0

    def _active_sums(self, vals: torch.Tensor, k, suffix) -> torch.Tensor:
        """S[., q] = sum of vals[., r] over the nodes active at x_q; vals (C, B, M) -> (C, B, n)."""
        C, B, _ = vals.shape
        n = self.x.shape[1]
        idx = k.expand(C, -1, -1)
        suf = vals.new_zeros(C, B, n + 1).scatter_add_(2, idx, vals * suffix)
        pre = vals.new_zeros(C, B, n + 1).scatter_add_(2, idx, vals * ~suffix)
        total_pre = (vals * ~suffix).sum(-1, keepdim=True)
        return (suf.cumsum(2) + total_pre - pre.cumsum(2))[..., :n]

    def _fast_forward(self, p, pa=None, pw=None, pb=None, index=None):
        k, suffix = self._index(p) if index is None else index
        ca = self.c * self.mask
        if pa is None:  # f itself
            slope, icpt = ca * p["a"] * p["w"], ca * p["a"] * p["b"]
        else:  # J p
            slope = ca * (pa * p["w"] + p["a"] * pw)
            icpt = ca * (pa * p["b"] + p["a"] * pb)
        S = self._active_sums(torch.stack([slope, icpt]), k, suffix)
        return self.x * S[0] + S[1]

    def _fast_vjp(self, p, g, index=None):
        k, suffix = self._index(p) if index is None else index
        zero = g.new_zeros(g.shape[0], 1)
        G = torch.cat([zero, g.cumsum(1)], 1)
        Gx = torch.cat([zero, (g * self.x).cumsum(1)], 1)
        at = lambda P: torch.where(suffix, P[:, -1:] - P.gather(1, k), P.gather(1, k))  # noqa: E731
        G_r, Gx_r = at(G), at(Gx)
        cm = self.c * self.mask
        return {"a": cm * (p["w"] * Gx_r + p["b"] * G_r), "w": cm * p["a"] * Gx_r, "b": cm * p["a"] * G_r}

    # ---- dense (any activation) ----------------------------------------------------------------------
    def _z(self, p):
        return self.x[:, :, None] * p["w"][:, None, :] + p["b"][:, None, :]

    def _dense_forward(self, p, pa=None, pw=None, pb=None):
        act = get_activation(self.activation)
        z = self._z(p)
        cm = self.c * self.mask
        if pa is None:
            return torch.einsum("bnm,bm->bn", act(z), cm * p["a"])
        dz = self.x[:, :, None] * pw[:, None, :] + pb[:, None, :]
        return (torch.einsum("bnm,bm->bn", act(z), cm * pa)
                + torch.einsum("bnm,bm->bn", act.derivative(z) * dz, cm * p["a"]))

    def _dense_vjp(self, p, g):
        act = get_activation(self.activation)
        z = self._z(p)
        cm = self.c * self.mask
        sp = act.derivative(z)
        return {"a": cm * torch.einsum("bn,bnm->bm", g, act(z)),
                "w": cm * p["a"] * torch.einsum("bn,bnm->bm", g * self.x, sp),
                "b": cm * p["a"] * torch.einsum("bn,bnm->bm", g, sp)}

    # ---- public maps ---------------------------------------------------------------------------------
    def forward(self, p) -> torch.Tensor:
        return self._fast_forward(p) if self.use_fast else self._dense_forward(p)

    def vjp(self, p, g) -> dict:
        out = self._fast_vjp(p, g) if self.use_fast else self._dense_vjp(p, g)
        return {k: (v if k in self.trainable else torch.zeros_like(v)) for k, v in out.items()}

    def jvp(self, p, t) -> torch.Tensor:
        t = {k: (t[k] if k in self.trainable else torch.zeros_like(t[k])) * self.mask for k in PARAMS}
        fn = self._fast_forward if self.use_fast else self._dense_forward
        return fn(p, t["a"], t["w"], t["b"])

    def loss_and_grad(self, p, y) -> tuple[torch.Tensor, dict]:
        """L = 1/2 sum_q omega_q (f - y)^2 per net (B,), and dL/dtheta."""
        if not self.use_fast:
            r = self.forward(p) - y
            g = self.omega * r
            return 0.5 * (g * r).sum(1), self.vjp(p, g)
        index = self._index(p)  # shared by the forward and the backward pass
        r = self._fast_forward(p, index=index) - y
        g = self.omega * r
        grads = self._fast_vjp(p, g, index=index)
        return 0.5 * (g * r).sum(1), {k: (v if k in self.trainable else torch.zeros_like(v))
                                      for k, v in grads.items()}

    def top_eigenvalue(self, p, *, iters: int = 60, seed: int = 0) -> torch.Tensor:
        """lambda_max of J^T Omega J (= of the NTK operator on the quadrature) per net, by power iteration."""
        gen = torch.Generator().manual_seed(seed)
        v = {k: torch.randn(p[k].shape, generator=gen, dtype=p[k].dtype) * self.mask for k in PARAMS}
        lam = None
        for _ in range(iters):
            nrm = torch.sqrt(sum((v[k] ** 2).sum(1) for k in self.trainable))[:, None]
            v = {k: v[k] / nrm for k in PARAMS}
            hv = self.vjp(p, self.omega * self.jvp(p, v))
            lam = sum((v[k] * hv[k]).sum(1) for k in self.trainable)
            v = hv
        return lam
