"""Your network against its linearisation and its infinite-width limit.

    python examples/your_network_vs_its_linearisation.py

f_lin(x; θ) = f(x; θ₀) + J(x)(θ − θ₀) trains like kernel regression with Θ̂₀ = J Jᵀ; as the width grows the
trained network stays closer to it (the lazy regime) and Θ̂₀ approaches the limit Θ_∞ that
``ntklab.network_limit`` reads from the network's own parameterisation.
"""

import os

import torch

import ntklab
from ntklab.dynamics import LinearizedNetwork, train_full_batch
from ntklab.optim import GradientDescent

SMALL = bool(os.environ.get("NTKLAB_EXAMPLE_SMALL"))
widths, steps = ((64, 256), 100) if SMALL else ((64, 256, 1024), 400)

torch.manual_seed(0)
x = torch.nn.functional.normalize(torch.randn(30, 5, dtype=torch.float64), dim=1) * 5 ** 0.5
y = torch.sin(2 * x[:, :1])
for m in widths:
    net = ntklab.MLP(5, [m, m], 1, parameterization="ntk", seed=0, dtype=torch.float64)
    limit = ntklab.network_limit(net, x, kind="ntk")
    kernel_gap = float((ntklab.empirical_ntk(net, x) - limit).norm() / limit.norm())
    lin = LinearizedNetwork(net)
    train_full_batch(lin, x, y, GradientDescent(lin.parameters(), lr=0.5), steps=steps)
    train_full_batch(net, x, y, GradientDescent(net.parameters(), lr=0.5), steps=steps)
    with torch.no_grad():
        gap = float((net(x) - lin(x)).norm() / y.norm())
    print(f"m={m:5d}: ‖Θ̂₀ − Θ_∞‖/‖Θ_∞‖ = {kernel_gap:.3f}, ‖f − f_lin‖/‖y‖ after {steps} GD steps = {gap:.4f}")
