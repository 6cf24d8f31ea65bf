"""The segment-sum loss and gradient against autograd (float64) and the node-sum path; the stopping rule."""

import math

import pytest
import torch

from ntklab.approximation import (NetStack, SegmentLoss, ShallowNet1d, descend, gauss_legendre, gd_train, init_params,
                                  make_target)
from ntklab.approximation._descent import MIN_RECORDS, tail_drop


def _stack(trainable=("a", "w", "b")):
    f = make_target("jump")
    qs = [gauss_legendre(300), gauss_legendre(300, breaks=f.singularities), gauss_legendre(300, breaks=(-0.2, 0.1))]
    ps = [init_params(6, seed=0, output="random"), init_params(10, seed=1, breakpoints="gaussian", output="random"),
          init_params(4, seed=2, scaling="standard", output="random")]
    ps[2]["w"][1] = 0.0  # w = 0: the constant relu(b) on every node
    ps[2]["b"][1] = 0.7
    ps[2]["w"][2] = 0.0  # w = 0, b < 0: a dead node
    ps[2]["b"][2] = -0.3
    node = float(qs[0].x[100])  # breakpoints exactly on a node (w = +-1: t = -b / w = node without rounding)
    ps[0]["w"][0], ps[0]["b"][0] = 1.0, -node  # active for x > node: the node itself is off
    ps[0]["w"][1], ps[0]["b"][1] = -1.0, node  # active for x < node
    return NetStack.from_params(ps, qs, trainable=trainable), ps, qs, f


@pytest.mark.parametrize("trainable", [("a", "w", "b"), ("w", "b"), ("b",)])
def test_segment_loss_and_gradient_match_autograd(trainable):
    st, ps, qs, f = _stack(trainable)
    y = f(st.x)
    loss, grad = SegmentLoss(st, y).loss_and_grad(st.params)
    for i, (p, q) in enumerate(zip(ps, qs)):
        net = ShallowNet1d.from_params(p, trainable=trainable)
        ref = 0.5 * (q.w * (net(q.x)[:, 0] - f(q.x)) ** 2).sum()
        ref.backward()
        m = p["a"].shape[0]
        # float64: the segment sums regroup the same quadrature sum, so only rounding differs (~1e-16 L)
        assert float(loss[i]) == pytest.approx(ref.item(), rel=1e-11)
        for k in ("a", "w", "b"):
            expect = getattr(net, k).grad if k in trainable else torch.zeros(m, dtype=torch.float64)
            torch.testing.assert_close(grad[k][i, :m], expect, rtol=1e-9, atol=1e-13)
            assert float(grad[k][i, m:].abs().sum()) == 0.0  # padding never moves


def test_kept_index_and_order_give_the_fresh_result_along_a_gd_path():
    """The walked breakpoint index and the kept sort equal a fresh computation at every step, including steps
    where breakpoints cross each other, cross nodes by many places and leave [-1, 1]."""
    st, _, _, f = _stack()
    y = f(st.x)
    kept = SegmentLoss(st, y)
    p = {k: v.clone() for k, v in st.params.items()}
    gen = torch.Generator().manual_seed(0)
    for step in range(40):
        scale = 0.3 if step % 10 == 9 else 0.01  # mostly small moves, sometimes jumps of many nodes
        p = {k: v + scale * torch.randn(v.shape, generator=gen, dtype=v.dtype) * st.mask for k, v in p.items()}
        loss, grad = kept.loss_and_grad(p)
        ref_loss, ref_grad = st.loss_and_grad(p, y)  # the node-sum path: searchsorted from scratch
        torch.testing.assert_close(loss, ref_loss, rtol=1e-11, atol=0)
        for k in grad:
            torch.testing.assert_close(grad[k], ref_grad[k], rtol=1e-9, atol=1e-13)
        k_kept, _ = kept.index(p)
        k_fresh, _ = st._index(p)
        assert torch.equal(k_kept, k_fresh)


def test_select_keeps_the_rows():
    st, _, _, f = _stack()
    y = f(st.x)
    full, part = SegmentLoss(st, y), SegmentLoss(st, y).select(torch.tensor([2, 0]))
    loss, grad = full.loss_and_grad(st.params)
    sub = {k: v[[2, 0]] for k, v in st.params.items()}
    loss2, grad2 = part.loss_and_grad(sub)
    torch.testing.assert_close(loss2, loss[[2, 0]], rtol=1e-14, atol=0)
    torch.testing.assert_close(grad2["w"], grad["w"][[2, 0]], rtol=1e-14, atol=0)


class _Quadratic:
    """L = 1/2 h u^2 + c: GD multiplies u by (1 - eta h) a step, so L_t is known in closed form."""

    def __init__(self, h, c=0.01):
        self.h, self.c = h, c

    def loss_and_grad(self, p):
        return 0.5 * self.h * p["u"] ** 2 + self.c, {"u": self.h * p["u"]}

    def select(self, rows):
        return _Quadratic(self.h[rows], self.c)


def test_stopping_rule_in_closed_form():
    h = torch.tensor([4e-3, 1e-5, 1.0, 10.0], dtype=torch.float64)
    eta = torch.tensor([1.0, 1.0, 0.5, 0.3], dtype=torch.float64)  # eta h = 3 > 2: the last one diverges
    every, tol, steps = 10, 0.05, 4000
    res = descend(_Quadratic(h), {"u": torch.ones(4, dtype=torch.float64)}, eta, steps=steps, every=every, tol=tol)
    # the slow one (h = 1e-5) lowers L by a tiny fraction of L, but steadily: it is not a plateau, it runs on
    assert res.status == ["converged", "budget", "converged", "diverged"]
    L = lambda t: 2e-3 * (1 - 4e-3) ** (2 * t) + 0.01  # noqa: E731  net 0 in closed form
    j = next(j for j in range(8, steps // every) if L((j // 4) * every) - L(j * every) <= tol * L(j * every)
             and L((j // 4) * every) - L(j * every) <= tol * (L(0) - L(j * every)))
    assert int(res.steps_run[0]) == j * every
    assert int(res.steps_run[2]) == MIN_RECORDS * every  # u halves a step: the first check finds the floor
    assert 0 < int(res.steps_run[3]) < 10  # |u| doubles a step: 1e3 L_0 within 6 steps
    assert float(res.params["u"][0]) == pytest.approx((1 - 4e-3) ** (j * every), rel=1e-12)
    assert float(res.params["u"][1]) == pytest.approx((1 - 1e-5) ** steps, rel=1e-12)
    last = res.curves.groupby("net").step.max().tolist()
    assert last == res.steps_run.tolist()


class _Plateau:
    """A scripted loss per step (one problem): 1 -> 0.5 linearly over 100 steps, a plateau to step 250 (a saddle),
    0.5 -> 0.1 by step 300, then flat: the stopping rule sees only the losses."""

    def __init__(self):
        self.t = -1

    def loss_and_grad(self, p):
        self.t += 1
        t = self.t
        level = (1 - 0.5 * t / 100 if t < 100 else 0.5 if t < 250 else max(0.1, 0.5 - 0.4 * (t - 250) / 50))
        return torch.tensor([level], dtype=torch.float64), {"u": torch.zeros(1, dtype=torch.float64)}


def test_a_plateau_does_not_stop_the_rule_unless_three_times_as_long_as_the_run_before_it():
    # a window of the last half would stop at t = 200 on the plateau (L(100) = L(200) = 0.5); the last three
    # quarters see the descent before it (L(50) - L(200) = 0.25 > 0.2 L(200)) and stop on the final floor at the
    # first t with t / 4 >= 300 (the descent ends at 300)
    res = descend(_Plateau(), {"u": torch.zeros(1, dtype=torch.float64)}, torch.ones(1, dtype=torch.float64),
                  steps=5000, every=10, tol=0.2)
    assert res.status == ["converged"] and int(res.steps_run[0]) == 1200
    assert float(res.loss[0]) == pytest.approx(0.1)
    assert tail_drop([0, 300, 1200], [1.0, 0.1, 0.1]) == 0.0


def test_a_rising_loss_is_unstable_and_budgets_may_differ_per_problem():
    # eta h = 2.02: |u| grows by 1.02 a step, far below the divergence factor at the first record (1.02^20 = 1.5)
    h = torch.tensor([1.0, 1.0, 1e-3], dtype=torch.float64)
    eta = torch.tensor([2.02, 0.5, 1.0], dtype=torch.float64)
    res = descend(_Quadratic(h, c=0.0), {"u": torch.ones(3, dtype=torch.float64)}, eta, steps=[100, 100, 30],
                  every=10, tol=0.0)
    assert res.status == ["unstable", "budget", "budget"]
    assert res.steps_run.tolist() == [10, 100, 30]
    assert float(res.params["u"][2]) == pytest.approx((1 - 1e-3) ** 30, rel=1e-12)


def test_gd_converges_to_the_rule_and_reports_per_net_factors():
    q = gauss_legendre(400)
    f = make_target("gaussian")
    st = NetStack.from_params([init_params(8, seed=0), init_params(8, seed=0)], [q, q])
    res = gd_train(st, f(st.x), steps=30_000, lr_factor=[0.1, 0.05], every=50, tol=0.05)
    assert res.status == ["converged", "converged"]
    assert float(res.lr[0]) == pytest.approx(2 * float(res.lr[1]), rel=1e-12)
    # the rule reads gradient-flow time t = eta * steps, so the half step needs about twice the steps
    ratio = int(res.steps_run[1]) / int(res.steps_run[0])
    assert 1.5 < ratio < 3
    assert math.isfinite(float(res.rel_error[0])) and float(res.rel_error[0]) < 0.9


def test_nets_of_different_widths_train_alike_alone_and_in_one_padded_stack():
    # width_sweep stacks every width into one program padded to the largest: the padded nodes (a = w = b = 0,
    # mask 0) must leave each net's GD path unchanged (the same quadrature sums, regrouped: rounding only)
    q, f = gauss_legendre(400, breaks=(0.0,)), make_target("cusp")
    ps = [init_params(8, seed=0), init_params(24, seed=1)]
    both = NetStack.from_params(ps, [q, q])
    joint = gd_train(both, f(both.x), steps=300, lr=0.05, every=50)
    for i, p in enumerate(ps):
        one = NetStack.from_params([p], [q])
        alone = gd_train(one, f(one.x), steps=300, lr=0.05, every=50)
        m = p["a"].shape[0]
        assert float(joint.rel_error[i]) == pytest.approx(float(alone.rel_error[0]), rel=1e-10)
        for k in ("a", "w", "b"):
            assert torch.allclose(joint.params[k][i, :m], alone.params[k][0], rtol=1e-10, atol=1e-13)
            assert (joint.params[k][i, m:] == 0).all()
