"""The empirical NTK of your own nn.Module, checked against a Jacobian built by hand.

    python examples/ntk_of_your_module.py

Θ̂(x_i, x_j) = Σ_p ∂f(x_i)/∂θ_p ∂f(x_j)/∂θ_p over every trainable parameter.  ntklab takes the structured
per-layer route for stacks of nn.Linear layers (after checking it against autodiff on two inputs) and
torch.func otherwise; here both are compared with J Jᵀ from torch.func.jacrev.
"""

import os

import torch

import ntklab

SMALL = bool(os.environ.get("NTKLAB_EXAMPLE_SMALL"))
n, width = (20, 64) if SMALL else (200, 1024)

torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(10, width), torch.nn.Tanh(), torch.nn.Linear(width, width),
                          torch.nn.GELU(), torch.nn.Linear(width, 1)).double()
x = torch.randn(n, 10, dtype=torch.float64)

theta = ntklab.empirical_ntk(net, x).detach()  # (n, n), float64 like the inputs

params = {k: v.detach() for k, v in net.named_parameters()}
jac = torch.func.jacrev(lambda p: torch.func.functional_call(net, p, (x,)))(params)
J = torch.cat([j.reshape(n, -1) for j in jac.values()], dim=1)  # (n, P)
reference = J @ J.T

err = float((theta - reference).abs().max() / reference.abs().max())
lam = ntklab.spectrum(theta)
print(f"NTK of a {width}-wide GELU/tanh MLP on {n} points: λ_min {float(lam[0]):.4g}, λ_max {float(lam[-1]):.4g}, "
      f"cond {ntklab.condition_number(theta):.3g}")
print(f"largest difference to J Jᵀ, relative: {err:.1e}")
assert err < 1e-12, err  # float64: both are sums of the same products in another order
