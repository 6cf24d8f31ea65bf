"""The deep sphere nets (Welper 2023: constant depth, the second-to-last layer trained) against autograd through the
whole network, and the sphere sweep's stopping rule."""

import math

import pytest
import torch

from ntklab.approximation import (deep_features, make_target, sphere_forward, sphere_init, sphere_monte_carlo,
                                  sphere_vjp, sphere_width_sweep)
from ntklab.approximation._sphere import SphereLoss


def _full_net(x, m, depth, seed, p):
    """f(x) = (1/sqrt m) sum_r a_r relu(sqrt(2/m) <W_H,r, h_{H-1}> + b_H,r), h_1 = relu(W_1 x + b_1),
    h_l = relu(sqrt(2/m) W_l h_{l-1} + b_l): the layers below H drawn in the order deep_features draws them."""
    gen = torch.Generator().manual_seed(seed)
    h = x
    for layer in range(depth - 1):
        W = torch.randn(m, h.shape[1], generator=gen, dtype=torch.float64)
        b = torch.randn(m, generator=gen, dtype=torch.float64)
        h = torch.relu((1.0 if layer == 0 else math.sqrt(2 / m)) * h @ W.T + b)
    z = math.sqrt(2 / m) * h @ p["w"].T + p["b"]
    return torch.relu(z) @ p["a"] / math.sqrt(m)


@pytest.mark.parametrize("depth", [2, 3])
def test_deep_net_gradient_of_the_second_to_last_layer_matches_autograd(depth):
    m, d = 12, 4
    x = sphere_monte_carlo(200, d, seed=0).x
    y = torch.cos(2 * x[:, 0])
    p = {k: v.double() for k, v in sphere_init(m, m, seed=3, dtype=torch.float64).items()}
    p["a"] = p["a"] + 0.2  # break the pairs so that f != 0
    phi = deep_features(x, m, depth, seed=11)
    stacked = {k: v[None] for k, v in p.items()}
    f = sphere_forward(stacked, phi)[0]
    q = {k: v.clone().requires_grad_(k != "a") for k, v in p.items()}
    ref = _full_net(x, m, depth, 11, q)
    torch.testing.assert_close(f, ref.detach(), rtol=1e-12, atol=1e-12)
    omega = 0.01
    loss = 0.5 * omega * ((ref - y) ** 2).sum()
    gw, gb = torch.autograd.grad(loss, [q["w"], q["b"]])
    g = sphere_vjp(stacked, phi, omega * (f - y)[None])
    torch.testing.assert_close(g["w"][0], gw, rtol=1e-10, atol=1e-13)  # float64: rounding only
    torch.testing.assert_close(g["b"][0], gb, rtol=1e-10, atol=1e-13)


def test_sphere_sweep_records_the_rule_and_the_deep_nets_train():
    f = make_target("zonal", d=3)
    out = sphere_width_sweep([f], [8, 16], seeds=1, steps=3000, n_points=400, every=20, tol=0.2, dtype="float64",
                             lr_factor=0.5, on_rise="halve", depth=2)
    e = out["errors"]
    assert set(e.status) <= {"converged", "budget"} and (e.depth == 2).all()
    assert (e.rel_error < 0.9).all()  # GD on the second-to-last layer alone cuts the test error
    assert (e.steps_run <= e.budget).all() and set(e.budget) == {3000}
    with pytest.raises(ValueError, match="second-to-last"):
        sphere_width_sweep([f], [8], seeds=1, steps=2, n_points=50, depth=2, trainable=("a", "w", "b"))


def test_sphere_loss_and_gradient_match_autograd():
    # SphereLoss shares the pre-activations between its forward pass and its vjp: against autograd, float64
    m, d, n = 10, 3, 300
    x = sphere_monte_carlo(n, d, seed=1).x
    y = (x[:, 0].abs() ** 0.5)[None]
    omega = torch.full((n,), 4 * math.pi / n, dtype=torch.float64)
    ps = [sphere_init(m, d, seed=s, dtype=torch.float64) for s in (0, 1)]
    p = {k: torch.stack([q[k] for q in ps]) for k in ps[0]}
    p["a"] = p["a"] + 0.3  # f != 0
    loss, grad = SphereLoss(x, y, omega).loss_and_grad(p)
    for i in range(2):
        q = {k: v[i].clone().requires_grad_() for k, v in p.items()}
        f = torch.relu(x @ q["w"].T + q["b"]) @ q["a"] / math.sqrt(m)
        ref = 0.5 * (omega * (f - y[0]) ** 2).sum()
        ref.backward()
        assert float(loss[i]) == pytest.approx(ref.item(), rel=1e-12)
        for k in ("a", "w", "b"):
            torch.testing.assert_close(grad[k][i], q[k].grad, rtol=1e-10, atol=1e-13)
