r"""Which hidden nodes to remove first.

Importance of node j (Caron et al.): I_j = sum_k u_kj^2 lambda_j, the squared norm of its output weights
times its scale (with u = +-1 this is K lambda_j).  Orders, least important first:

- ``"importance"``: I_j ascending (the paper: the smallest-lambda nodes go first);
- ``"displacement"``: ||w_j(T) - w_j(0)|| ascending (the nodes that learned least go first);
- ``"random"``: a uniformly random order.

Ties (gamma = 1: every lambda_j = 1/m, so every I_j is equal) are broken by a seeded random order: the
nodes are first shuffled with ``torch.Generator().manual_seed(seed)`` and then stably sorted by the
key, so equal keys keep the shuffled order.  (The authors' ``argsort`` left ties to the sort routine.)

Example:
    >>> import torch, ntklab
    >>> from ntklab.prune import prune_order
    >>> net = ntklab.ScaledShallowNet(3, 4, lambdas=torch.tensor([0.4, 0.1, 0.3, 0.2]), seed=0)
    >>> prune_order(net).tolist()
    [1, 3, 2, 0]
"""

from __future__ import annotations

import torch

from .._errors import ConfigError, check_choice

__all__ = ["node_importance", "prune_order", "top_nodes", "ORDERS"]

ORDERS = ("importance", "displacement", "random")


def node_importance(model) -> torch.Tensor:
    """I_j = sum_k u_kj^2 lambda_j (float64, shape (m,))."""
    u = model.u.detach().to(torch.float64)
    return (u ** 2).sum(0) * model.lambdas.detach().to(torch.float64)


def _tie_broken_argsort(key: torch.Tensor, seed: int) -> torch.Tensor:
    perm = torch.randperm(len(key), generator=torch.Generator().manual_seed(seed))
    return perm[torch.argsort(key[perm], stable=True)]


def prune_order(model, *, by: str = "importance", seed: int = 0,
                displacement: torch.Tensor | None = None) -> torch.Tensor:
    """Node indices, least important first (ties broken by a random order seeded with ``seed``).

    ``by="displacement"`` needs ``displacement`` (shape (m,), ||w_j(T) - w_j(0)||).
    """
    check_choice("prune.by", by, ORDERS)
    m = model.lambdas.shape[0]
    if by == "importance":
        key = node_importance(model)
    elif by == "displacement":
        if displacement is None:
            raise ConfigError("prune.displacement", "ordering by displacement needs the per-node displacement",
                              allowed="a tensor of shape (m,)")
        key = torch.as_tensor(displacement, dtype=torch.float64).flatten()
        if key.shape != (m,):
            raise ConfigError("prune.displacement", f"shape {tuple(key.shape)} does not match width m={m}")
    else:
        key = torch.zeros(m, dtype=torch.float64)
    return _tie_broken_argsort(key, seed)


def top_nodes(model, k: int, *, by: str = "importance", seed: int = 0,
              displacement: torch.Tensor | None = None) -> torch.Tensor:
    """The k most important nodes, most important first (the reverse of :func:`prune_order`)."""
    m = model.lambdas.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= m:
        raise ConfigError("k", f"got {k!r}", allowed=f"integers in [1, {m}]")
    return prune_order(model, by=by, seed=seed, displacement=displacement).flip(0)[:k]
