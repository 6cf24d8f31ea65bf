r"""Gradient descent, heavy ball and Nesterov's methods with the exact update rules of Bu et al. (2021).

With g_k = grad L at the point where the gradient is taken, step size eta and momentum beta:

    GD       theta_{k+1} = theta_k - eta g(theta_k)
    HB       theta_{k+1} = theta_k - eta g(theta_k) + beta (theta_k - theta_{k-1})          (beta constant)
    NAG      y_k = theta_k + beta_k (theta_k - theta_{k-1}),  theta_{k+1} = y_k - eta g(y_k),
             beta_k = (k-1)/(k+2)  (vanishing damping; the ODE  e'' + (3/t) e' + Theta e = 0)
    NAG-SC   the same with a constant beta  (the "strongly convex" variant, linear rate)

with theta_{-1} = theta_0 (the first step is a plain GD step).  A ``torch.optim.Optimizer`` only sees the
gradient at the tensor it holds, so the Nesterov methods keep the look-ahead point y_k in the parameter and
the iterate theta_k in the state (``state["iterate"]``; :meth:`iterates`).  Losses computed by a training
loop are therefore L(y_k) for NAG / NAG-SC and L(theta_k) for GD / HB.

Relation to ``torch.optim.SGD`` (dampening 0): buffer b_k = mu b_{k-1} + g_k (b_1 = g_1),
- ``SGD(lr, momentum=mu)`` steps p <- p - lr b_k, so p_k - p_{k-1} = mu (p_{k-1} - p_{k-2}) - lr g: exactly HB
  with beta = mu (same trajectory, up to rounding);
- ``SGD(lr, momentum=mu, nesterov=True)`` steps p <- p - lr (g_k + mu b_k): its parameter is the look-ahead
  y_k of NAG-SC with beta = mu, i.e. the same sequence :class:`NesterovSC` holds (Sutskever's form);
- NAG's schedule beta_k = (k-1)/(k+2) has no ``torch.optim.SGD`` equivalent (SGD's momentum is constant).

State is elementwise per parameter (the same shape as the parameter, plus a step count shared by all runs),
so runs stacked along a leading axis train exactly as they would alone.

Example:
    >>> import torch
    >>> from ntklab.optim import HeavyBall
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    >>> opt = HeavyBall([w], lr=0.1, momentum=0.5)
    >>> for _ in range(3):
    ...     opt.zero_grad(); (w ** 2).sum().backward(); opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.302, -0.604]
"""

from __future__ import annotations

import torch

from .._errors import ConfigError

__all__ = ["GradientDescent", "HeavyBall", "Nesterov", "NesterovSC", "nag_momentum"]


def nag_momentum(k: int) -> float:
    """beta_k = (k-1)/(k+2) of NAG's convex form (k >= 1; beta_0 multiplies theta_0 - theta_{-1} = 0)."""
    return (k - 1) / (k + 2) if k >= 1 else 0.0


def _check_lr(lr) -> float:
    lr = float(lr)
    if not lr > 0 or lr != lr or lr == float("inf"):
        raise ConfigError("optimizer.lr", f"got {lr!r}", allowed="a finite number > 0")
    return lr


def _check_beta(beta) -> float:
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise ConfigError("optimizer.momentum", f"got {beta!r}", allowed="[0, 1)")
    return beta


def _check_wd(wd) -> float:
    wd = float(wd)
    if not wd >= 0:
        raise ConfigError("optimizer.weight_decay", f"got {wd!r}", allowed="[0, inf)")
    return wd


def _grad(p: torch.Tensor, wd: float) -> torch.Tensor:
    return p.grad if wd == 0 else p.grad.add(p, alpha=wd)


class GradientDescent(torch.optim.Optimizer):
    """theta <- theta - eta g (identical to ``torch.optim.SGD(lr)``; here for completeness of the family)."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0):
        super().__init__(params, {"lr": _check_lr(lr), "weight_decay": _check_wd(weight_decay)})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(_grad(p, group["weight_decay"]), alpha=-group["lr"])
        return loss


class HeavyBall(torch.optim.Optimizer):
    """Polyak's heavy ball: v_{k+1} = beta v_k - eta g_k, theta_{k+1} = theta_k + v_{k+1} (v_0 = 0)."""

    def __init__(self, params, lr: float, momentum: float, weight_decay: float = 0.0):
        super().__init__(params, {"lr": _check_lr(lr), "momentum": _check_beta(momentum),
                                  "weight_decay": _check_wd(weight_decay)})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            lr, beta = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                v = st.get("velocity")
                if v is None:
                    v = st["velocity"] = torch.zeros_like(p)
                v.mul_(beta).add_(_grad(p, group["weight_decay"]), alpha=-lr)
                p.add_(v)
        return loss


class _LookAhead(torch.optim.Optimizer):
    """Nesterov's scheme with the look-ahead y_k in the parameter and theta_k in ``state["iterate"]``."""

    def _beta(self, group, k: int) -> float:  # the momentum that forms y_k from theta_k, theta_{k-1}
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if "iterate" not in st:
                    st["iterate"] = p.detach().clone()  # theta_0 = y_0
                    st["step"] = 0
                k = int(st["step"])
                theta_prev = st["iterate"]
                theta_next = p - lr * _grad(p, group["weight_decay"])  # theta_{k+1} = y_k - eta g(y_k)
                beta = self._beta(group, k + 1)
                p.copy_(theta_next + beta * (theta_next - theta_prev))  # y_{k+1}
                theta_prev.copy_(theta_next)
                st["step"] = k + 1
        return loss

    def iterates(self) -> list[torch.Tensor]:
        """theta_k of every parameter (the parameters themselves hold the look-ahead y_k)."""
        return [self.state[p]["iterate"] if "iterate" in self.state[p] else p.detach()
                for g in self.param_groups for p in g["params"]]


class Nesterov(_LookAhead):
    """NAG with vanishing damping beta_k = (k-1)/(k+2) (Su, Boyd & Candes' ODE e'' + (3/t) e' + grad = 0)."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0):
        super().__init__(params, {"lr": _check_lr(lr), "weight_decay": _check_wd(weight_decay)})

    def _beta(self, group, k: int) -> float:
        return nag_momentum(k)


class NesterovSC(_LookAhead):
    """NAG with constant momentum beta (usually (1 - sqrt(mu eta)) / (1 + sqrt(mu eta)))."""

    def __init__(self, params, lr: float, momentum: float, weight_decay: float = 0.0):
        super().__init__(params, {"lr": _check_lr(lr), "momentum": _check_beta(momentum),
                                  "weight_decay": _check_wd(weight_decay)})

    def _beta(self, group, k: int) -> float:
        return group["momentum"]
