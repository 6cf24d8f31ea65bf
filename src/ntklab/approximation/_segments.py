r"""The quadrature L2 loss of stacked 1-d ReLU nets and its gradient in O(m) per step after the breakpoints are
located: sums over the breakpoint segments instead of over the n quadrature nodes.

On sorted nodes x_1 < ... < x_n, node r of f(x) = c sum_r a_r relu(w_r x + b_r) is active on a suffix q >= k_r
(w_r > 0) or a prefix q < k_r (w_r < 0) of the nodes, k_r the breakpoint index of t_r = -b_r / w_r.  Sorting the
k_r cuts the nodes into m + 1 segments [e_j, e_{j+1}), e = (0, k_(1), ..., k_(m), n), on each of which
f(x) = A_j x + B_j with A_j, B_j prefix sums (over the sorted nodes) of c a_r w_r and c a_r b_r.  With the segment
moments S_j[h] = sum_{q in segment j} omega_q h(x_q) for h in {1, x, x^2, y, x y} (differences of prefix sums
computed once per target),

    L = 1/2 sum_q omega_q (f(x_q) - y_q)^2 = 1/2 [ sum_j (A_j^2 S_j[x^2] + 2 A_j B_j S_j[x] + B_j^2 S_j[1]
                                                   - 2 A_j S_j[xy] - 2 B_j S_j[y]) + sum_q omega_q y_q^2 ],

and the residual g_q = omega_q (f(x_q) - y_q) summed over a segment is A_j S_j[x] + B_j S_j[1] - S_j[y] (times x:
A_j S_j[x^2] + B_j S_j[x] - S_j[xy]).  The prefix sums G, G^x of g that the gradient of :mod:`._net1d` reads at
each breakpoint are therefore cumulative sums over segments, and

    dL/da_r = c (w_r G^x_r + b_r G_r),   dL/dw_r = c a_r G^x_r,   dL/db_r = c a_r G_r

(G_r the sum of g over the nodes where node r is active).  This is the same quadrature sum as
:meth:`NetStack.loss_and_grad` (equal to rounding; tested against it and against autograd), at O(m) cost instead
of O(n + m log n) once the indices k_r and their order are known.

GD moves the breakpoints by a fraction of a node spacing per step, so both are kept from the previous step:
each k_r is walked to its new place by vectorised one-node moves (a full ``searchsorted`` when a breakpoint
jumps more than a few nodes, e.g. when w_r crosses 0), and the previous order is kept unless it no longer sorts
the new k_r (then those nets are re-sorted).  The result never depends on the history: it is the exact index and
a true sort.

Example:
    >>> import torch
    >>> from ntklab.approximation import NetStack, SegmentLoss, gauss_legendre, init_params, make_target
    >>> q, f = gauss_legendre(400), make_target("jump")
    >>> st = NetStack.from_params([init_params(8, seed=0, output="random")], [q])
    >>> y = f(st.x)
    >>> loss, grad = SegmentLoss(st, y).loss_and_grad(st.params)
    >>> ref, ref_grad = st.loss_and_grad(st.params, y)
    >>> bool(torch.allclose(loss, ref, rtol=1e-12)), bool(torch.allclose(grad["w"], ref_grad["w"], atol=1e-14))
    (True, True)
"""

from __future__ import annotations

import torch

__all__ = ["SegmentLoss"]

MAX_WALK = 3  # one-node moves per step before searchsorted relocates the breakpoints of a net


class SegmentLoss:
    """L and dL/dtheta of every net of a ReLU :class:`NetStack` against targets ``y`` (B, n) by segment sums."""

    def __init__(self, stack, y: torch.Tensor):
        if stack.activation != "relu":
            raise ValueError("segment sums need ReLU nets (f piecewise linear between breakpoints)")
        self.stack = stack
        x, om = stack.x, stack.omega
        B, n = x.shape
        self.n = n
        inf = torch.full((B, 1), float("inf"), dtype=x.dtype)
        self.xpad = torch.cat([-inf, x, inf], 1)  # xpad[:, q + 1] = x[:, q]
        zero = x.new_zeros(1, B, 1)
        mom = torch.stack([om, om * x, om * x * x, om * y, om * x * y])  # h = 1, x, x^2, y, xy
        self.prefix = torch.cat([zero.expand(5, -1, -1), mom.cumsum(2)], 2)  # (5, B, n + 1)
        self.yy = (om * y * y).sum(1)
        self.right = None  # count of x_q <= t_r, kept between steps
        self.order = None  # argsort of k, kept between steps
        self.cm = stack.c * stack.mask

    def select(self, rows: torch.Tensor) -> "SegmentLoss":
        """The same loss for the nets ``rows`` only (their kept index and order carried over)."""
        new = object.__new__(SegmentLoss)
        new.stack, new.n = self.stack.select(rows), self.n
        new.xpad, new.prefix, new.yy, new.cm = self.xpad[rows], self.prefix[:, rows], self.yy[rows], self.cm[rows]
        new.right = None if self.right is None else self.right[rows]
        new.order = None if self.order is None else self.order[rows]
        return new

    # ---- breakpoint index ------------------------------------------------------------------------------
    def _breakpoints(self, w, b):
        nz = w != 0
        return torch.where(nz, -b / torch.where(nz, w, torch.ones_like(w)), torch.zeros_like(w))

    def _walk(self, t: torch.Tensor) -> torch.Tensor:
        """right_r = #{q : x_q <= t_r}: walked from the previous step's value; the nets with a breakpoint still
        off its place after ``MAX_WALK`` moves (or every net, on the first call) are located by searchsorted."""
        if self.right is None:
            return torch.searchsorted(self.stack.x, t.contiguous(), right=True)
        right = self.right
        for _ in range(MAX_WALK):
            up = self.xpad.gather(1, right + 1) <= t
            down = self.xpad.gather(1, right) > t
            off = up | down
            if not off.any():
                return right
            right = right + up.long() - down.long()
        rows = off.any(1).nonzero().flatten()
        right[rows] = torch.searchsorted(self.stack.x[rows], t[rows].contiguous(), right=True)
        return right

    def index(self, p):
        """Breakpoint index k (B, M) and whether node r is active on the suffix q >= k_r (as NetStack._index)."""
        w, b = p["w"], p["b"]
        t = self._breakpoints(w, b)
        right = self._walk(t)
        self.right = right
        tie = (self.xpad.gather(1, right) == t) & (right > 0)  # x_{right-1} == t: the prefix ends one earlier
        k = torch.where(w > 0, right, torch.where(w < 0, right - tie.long(), torch.where(b > 0, 0, self.n)))
        return k, w >= 0

    def _sorted(self, k: torch.Tensor):
        if self.order is None:
            self.order = torch.argsort(k, 1)
        ks = k.gather(1, self.order)
        bad = (ks.diff(1) < 0).any(1)
        if bad.any():
            rows = bad.nonzero().flatten()
            self.order[rows] = torch.argsort(k[rows], 1)
            ks = k.gather(1, self.order)
        return self.order, ks

    # ---- loss and gradient -----------------------------------------------------------------------------
    def loss_and_grad(self, p) -> tuple[torch.Tensor, dict]:
        """L per net (B,) and dL/da, dL/dw, dL/db (B, M); frozen parameters (not in ``trainable``) get zeros."""
        k, suffix = self.index(p)
        order, ks = self._sorted(k)
        B, M = k.shape
        a, w, b = p["a"], p["w"], p["b"]
        ca = self.cm * a
        vals = torch.stack([ca * w, ca * b]).gather(2, order.expand(2, -1, -1))  # slope, intercept parts, sorted
        suf = suffix.gather(1, order)
        on_suf, on_pre = vals * suf, vals * ~suf
        zero = vals.new_zeros(2, B, 1)
        AB = (torch.cat([zero, on_suf.cumsum(2)], 2) + on_pre.sum(2, keepdim=True)
              - torch.cat([zero, on_pre.cumsum(2)], 2))  # (2, B, M + 1): A_j, B_j on segment j
        edges = torch.cat([k.new_zeros(B, 1), ks, k.new_full((B, 1), self.n)], 1)  # (B, M + 2)
        at = self.prefix.gather(2, edges.expand(5, -1, -1))
        S1, Sx, Sxx, Sy, Sxy = at[..., 1:] - at[..., :-1]  # each (B, M + 1)
        A, Bc = AB[0], AB[1]
        g = A * Sx + Bc * S1 - Sy  # sum of the residual g_q over each segment
        gx = A * Sxx + Bc * Sx - Sxy
        loss = 0.5 * ((A * (A * Sxx + 2 * Bc * Sx - 2 * Sxy) + Bc * (Bc * S1 - 2 * Sy)).sum(1) + self.yy)
        C = torch.cat([zero, torch.stack([g, gx]).cumsum(2)], 2)  # (2, B, M + 2): sum of g over q < e_j
        before = C[:, :, 1:M + 1]  # sorted position p (0-based) has k = e_{p+1}: the sum over q < k is C[p+1]
        total = C[:, :, -1:]
        sums = torch.where(suf, total - before, before)  # (2, B, M) in sorted order
        G = torch.empty_like(sums).scatter_(2, order.expand(2, -1, -1), sums)
        out = {"a": self.cm * (w * G[1] + b * G[0]), "w": ca * G[1], "b": ca * G[0]}
        trainable = self.stack.trainable
        return loss, {kk: (v if kk in trainable else torch.zeros_like(v)) for kk, v in out.items()}
