"""Build the network a :class:`~ntklab.config.NetworkConfig` describes (seeded).

Builders are looked up by ``network.kind``; deep networks register theirs with :func:`register_network`:
``shallow`` (:class:`~ntklab.ScaledShallowNet`), ``mlp`` (:class:`~ntklab.MLP`, any parameterisation and node
scaling) and ``torch_mlp`` (:class:`~ntklab.nets.TorchMLP`: torch layers, standard parameterisation, optional
BatchNorm).  A builder refuses the fields its network cannot honour (naming the field).
"""

from __future__ import annotations

from typing import Callable

import torch

from .._errors import ConfigError, check_choice
from .._registry import Registry
from ._mlp import MLP
from ._node_scaling import node_scaling
from ._parameterizations import PARAMETERIZATIONS
from ._shallow import ScaledShallowNet
from ._torch_mlp import TorchMLP

__all__ = ["build_network", "register_network", "NETWORKS", "scaling_from_config"]

NETWORKS = Registry("network.kind")


def register_network(kind: str, builder: Callable | str) -> None:
    """Register ``builder(net_cfg, *, d, out_dim, seed, dtype) -> nn.Module`` (or ``"module:attr"`` naming one)
    under ``network.kind``; the config then accepts ``kind``."""
    NETWORKS.register(kind, builder)


def scaling_from_config(sc, m: int, *, seed: int) -> torch.Tensor:
    return node_scaling(
        m, kind=sc.kind, gamma=sc.gamma, alpha=sc.alpha, zipf_offset=sc.zipf_offset,
        seed=seed + 7919 if sc.kind not in ("ntk", "zipf") else None, **sc.params,
    )


def _no_batch_norm(cfg) -> None:
    if getattr(cfg, "batch_norm", False):
        raise ConfigError("network.batch_norm", f"{cfg.kind!r} has no BatchNorm layers",
                          allowed="network.kind=torch_mlp")


def _shallow(cfg, *, d: int, out_dim: int, seed: int, dtype: torch.dtype) -> ScaledShallowNet:
    _no_batch_norm(cfg)
    if cfg.depth != 1 or cfg.parameterization != "ntk":
        raise ConfigError("network.kind", f"'shallow' is one hidden layer under the NTK scaling (got depth="
                          f"{cfg.depth}, parameterization={cfg.parameterization!r})", allowed="network.kind=mlp")
    lam = scaling_from_config(cfg.scaling, cfg.width, seed=seed)
    return ScaledShallowNet(
        d, cfg.width, out_dim=out_dim, lambdas=lam, activation=cfg.activation, bias=cfg.bias,
        trainable=tuple(cfg.trainable), weight_std=cfg.weight_std, bias_std=cfg.bias_std, seed=seed, dtype=dtype,
    )


register_network("shallow", _shallow)


def _mlp(cfg, *, d: int, out_dim: int, seed: int, dtype: torch.dtype) -> MLP:
    """``depth`` hidden layers of ``width`` nodes, each with its own node scaling drawn from ``scaling``."""
    _no_batch_norm(cfg)
    check_choice("network.parameterization", cfg.parameterization, PARAMETERIZATIONS)
    lams = [scaling_from_config(cfg.scaling, cfg.width, seed=seed + 104729 * l) for l in range(cfg.depth)]
    return MLP(d, [cfg.width] * cfg.depth, out_dim, parameterization=cfg.parameterization,
               activation=cfg.activation, bias=cfg.bias, node_scaling=lams, weight_std=cfg.weight_std,
               bias_std=cfg.bias_std, trainable=tuple(cfg.trainable), seed=seed, dtype=dtype)


register_network("mlp", _mlp)


def _torch_mlp(cfg, *, d: int, out_dim: int, seed: int, dtype: torch.dtype) -> TorchMLP:
    """``depth`` hidden layers of ``width`` nodes of torch layers (``batch_norm``: BatchNorm1d after each)."""
    if cfg.parameterization != "standard":
        raise ConfigError("network.parameterization", f"'torch_mlp' is the standard parameterisation (got "
                          f"{cfg.parameterization!r})", allowed="'standard'")
    if cfg.scaling.kind != "ntk":
        raise ConfigError("network.scaling.kind", f"'torch_mlp' has no node scaling (got {cfg.scaling.kind!r})",
                          allowed="'ntk' (every lambda_j = 1/m)")
    return TorchMLP(d, [cfg.width] * cfg.depth, out_dim, activation=cfg.activation, batch_norm=cfg.batch_norm,
                    bias=cfg.bias, weight_std=cfg.weight_std, bias_std=cfg.bias_std, trainable=tuple(cfg.trainable),
                    seed=seed, dtype=dtype)


register_network("torch_mlp", _torch_mlp)


def build_network(cfg, *, d: int, out_dim: int, seed: int, dtype: torch.dtype = torch.float32):
    """The network a :class:`~ntklab.config.NetworkConfig` describes, built by the ``NETWORKS`` entry of
    ``cfg.kind`` for inputs of dimension ``d`` and ``out_dim`` outputs, initialised from ``seed``, in ``dtype``."""
    return NETWORKS.get(cfg.kind)(cfg, d=d, out_dim=out_dim, seed=seed, dtype=dtype)
