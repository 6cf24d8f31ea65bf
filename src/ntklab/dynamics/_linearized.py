r"""The network linearised around its initialisation, and a full-batch trainer for it.

    f_lin(x; theta) = f(x; theta_0) + J(x) (theta - theta_0),   J(x) = d f(x; theta) / d theta at theta_0,

computed with ``torch.func.jvp`` (one forward-mode pass, no Jacobian is formed).  Only the parameters that
require grad in the source model are linearised and trained; the others and the buffers stay frozen.  Under
MSE the linearised model's error e = f_lin - y moves exactly as the function-space recursions of
:mod:`ntklab.dynamics._predictions` say, with the fixed kernel Theta_0 = J J^T; comparing it with the real
network measures how far training leaves the lazy (NTK) regime.

Example:
    >>> import torch, ntklab
    >>> from ntklab.dynamics import LinearizedNetwork, HeavyBall, train_full_batch
    >>> net = ntklab.ScaledShallowNet(3, 40, seed=0, dtype=torch.float64)
    >>> x = torch.nn.functional.normalize(torch.randn(6, 3, dtype=torch.float64), dim=1)
    >>> lin = LinearizedNetwork(net)
    >>> bool(torch.allclose(lin(x), net(x)))
    True
    >>> losses = train_full_batch(lin, x, torch.ones(6, 1, dtype=torch.float64),
    ...                           HeavyBall(lin.parameters(), lr=1.0, momentum=0.5), steps=50)
    >>> bool(losses[-1] < 1e-2 * losses[0])
    True
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from torch.func import functional_call, jvp

__all__ = ["LinearizedNetwork", "train_full_batch"]


def _load_forward_ad() -> None:
    """Import torch's forward-AD decompositions once, silencing the DeprecationWarning their
    ``torch.jit.script`` registration raises in this torch version (it says nothing about our use)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.autograd.forward_ad import _maybe_load_decompositions

        _maybe_load_decompositions()


def _key(name: str) -> str:
    return name.replace(".", "__")


class LinearizedNetwork(torch.nn.Module):
    """f_lin(x; theta) = f(x; theta_0) + J(x)(theta - theta_0) over ``model``'s trainable parameters."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        _load_forward_ad()
        base = copy.deepcopy(model)
        self.__dict__["_base"] = base  # not a submodule: its parameters must not be trained
        self.names = [n for n, p in base.named_parameters() if p.requires_grad]
        if not self.names:
            raise ValueError("model: no trainable parameter to linearise (allowed: a model with requires_grad "
                             "parameters)")
        self._theta0 = {n: p.detach().clone() for n, p in base.named_parameters() if p.requires_grad}
        self._frozen = {n: p.detach() for n, p in base.named_parameters() if not p.requires_grad}
        self._frozen.update({n: b.detach() for n, b in base.named_buffers()})
        self.params = torch.nn.ParameterDict(
            {_key(n): torch.nn.Parameter(v.clone()) for n, v in self._theta0.items()})

    def _f(self, theta: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self._base, {**self._frozen, **theta}, (x,))

    def theta(self) -> dict[str, torch.Tensor]:
        return {n: self.params[_key(n)] for n in self.names}

    def displacement(self) -> dict[str, torch.Tensor]:
        """theta - theta_0, per parameter name."""
        return {n: self.params[_key(n)] - self._theta0[n] for n in self.names}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0, tangent = jvp(lambda th: self._f(th, x), (self._theta0,), (self.displacement(),))
        return f0 + tangent

    def initial_output(self, x: torch.Tensor) -> torch.Tensor:
        """f(x; theta_0)."""
        with torch.no_grad():
            return self._f(self._theta0, x)

    def real_output(self, x: torch.Tensor) -> torch.Tensor:
        """The real network at the linearised model's parameters, f(x; theta)."""
        return self._f(self.theta(), x)


def train_full_batch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
                     *, steps: int) -> np.ndarray:
    """Full-batch training on the MSE (mean over samples and outputs); returns the loss at steps 0..steps.

    Entry k is the loss of the parameters the optimiser holds after k steps (the look-ahead point for the
    Nesterov methods), the same convention as the training loop and :class:`~ntklab.dynamics.Prediction`.
    """
    if y.ndim == 1:
        y = y[:, None]
    losses = np.empty(steps + 1)
    for k in range(steps + 1):
        loss = ((model(x) - y) ** 2).mean()
        losses[k] = float(loss.detach())
        if k == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return losses
