"""Optimiser factory: a name in the run config -> a ``torch.optim.Optimizer``.

``gd`` / ``sgd`` are plain (stochastic) gradient descent, theta <- theta - lr * grad (full batch makes it GD);
``momentum`` is ``torch.optim.SGD`` with momentum, ``nesterov`` its Nesterov variant, ``adam`` / ``adamw`` the
usual.  Further optimisers register with :func:`register_optimizer` (a builder taking the parameter list
and the :class:`~ntklab.config.OptimizerConfig`).  Builders receive a parameter list or, from the training
loop, parameter groups (``{"params": [...], "lr": ...}``, see :func:`ntklab.parameter_groups`): a group's own
``lr`` overrides ``cfg.lr``, which is how per-layer learning-rate multipliers reach the optimiser.

All of these act elementwise on each parameter, which is what lets the training loop train several runs
stacked along a leading axis as one tensor program (their summed loss decouples run by run).
"""

from __future__ import annotations

from typing import Callable

import torch

from .._errors import ConfigError
from .._registry import Registry
from ._momentum import GradientDescent, HeavyBall, Nesterov, NesterovSC

__all__ = ["OPTIMIZERS", "register_optimizer", "build_optimizer", "ELEMENTWISE", "plain_descent_lr"]

OPTIMIZERS = Registry("optimizer.name")
ELEMENTWISE: set[str] = set()


def register_optimizer(name: str, builder: Callable | str, *, elementwise: bool = True) -> None:
    """Register ``builder(params_or_groups, cfg) -> Optimizer`` (or ``"module:attr"`` naming one);
    ``elementwise`` (the update of each entry depends only on that entry) allows stacked training."""
    OPTIMIZERS.register(name, builder)
    if elementwise:
        ELEMENTWISE.add(name)
    else:
        ELEMENTWISE.discard(name)


register_optimizer("gd", lambda p, c: torch.optim.SGD(p, lr=c.lr, weight_decay=c.weight_decay))
register_optimizer("sgd", lambda p, c: torch.optim.SGD(p, lr=c.lr, weight_decay=c.weight_decay))
register_optimizer(
    "momentum", lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
)
register_optimizer(
    "nesterov",
    lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, nesterov=True, weight_decay=c.weight_decay),
)
register_optimizer(
    "adam", lambda p, c: torch.optim.Adam(p, lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)
)
register_optimizer(
    "adamw", lambda p, c: torch.optim.AdamW(p, lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)
)


def _nag(p, c):
    if c.momentum != 0:
        raise ConfigError("optimizer.momentum", f"got {c.momentum!r}: nag uses beta_k = (k-1)/(k+2)",
                          allowed="0 (or optimizer.name='nag_sc' for a constant momentum)")
    return Nesterov(p, lr=c.lr, weight_decay=c.weight_decay)


def _momentum_family():
    """Bu et al.'s optimisers (:mod:`ntklab.optim._momentum`): heavy ball, NAG, NAG-SC."""
    register_optimizer("heavy_ball", lambda p, c: HeavyBall(p, lr=c.lr, momentum=c.momentum,
                                                            weight_decay=c.weight_decay))
    register_optimizer("nag", _nag)
    register_optimizer("nag_sc", lambda p, c: NesterovSC(p, lr=c.lr, momentum=c.momentum,
                                                         weight_decay=c.weight_decay))


_momentum_family()


def build_optimizer(params, cfg) -> torch.optim.Optimizer:
    """The optimiser ``cfg.name`` names (an :class:`~ntklab.config.OptimizerConfig`) over ``params``."""
    return OPTIMIZERS.get(cfg.name)(params, cfg)


def plain_descent_lr(opt: torch.optim.Optimizer, param: torch.Tensor) -> float | None:
    """The step size eta when ``opt`` moves ``param`` by plain gradient descent, theta <- theta - eta grad
    (``torch.optim.SGD`` or :class:`~ntklab.optim.GradientDescent` with no momentum, weight decay, Nesterov term or
    maximisation, and a float learning rate), else None.  A caller that takes this step itself (the fused E1 kernel)
    then skips ``opt.step()`` for ``param``: the optimiser holds no state for it to miss.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.zeros(3))
        >>> plain_descent_lr(torch.optim.SGD([w], lr=0.5), w)
        0.5
        >>> print(plain_descent_lr(torch.optim.SGD([w], lr=0.5, momentum=0.9), w))
        None
    """
    if type(opt) not in (torch.optim.SGD, GradientDescent):
        return None
    for group in opt.param_groups:
        if any(p is param for p in group["params"]):
            plain = (group.get("momentum", 0) == 0 and group.get("weight_decay", 0) == 0
                     and not group.get("nesterov", False) and not group.get("maximize", False)
                     and isinstance(group["lr"], float))
            return group["lr"] if plain else None
    return None
