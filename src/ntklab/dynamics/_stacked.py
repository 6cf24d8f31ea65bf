"""Several runs of one architecture as one tensor program.

Runs that share data, architecture shape, optimiser and schedule (differing only in seed and node scaling)
are trained together: their parameters are stacked along a leading run axis with
``torch.func.stack_module_state`` and the forward pass is ``vmap``-ed over that axis.  The summed loss
sum_r L_r(theta_r) has gradient dL_r/dtheta_r in slice r, and every optimiser used here acts elementwise,
so each slice follows exactly the trajectory its run would follow alone.

A network with batch statistics (BatchNorm's running mean and variance, :func:`ntklab.nets.has_batch_statistics`)
updates buffers in its forward pass, which ``vmap`` cannot do to stacked buffers: such a network is trained alone
(R = 1, its own config's :func:`~ntklab.dynamics.batch_key` is None), through a plain ``functional_call`` on the
module itself, so its running statistics stay in the module (and in its state_dict, checkpoints included).  The
parameters keep the leading run axis of length 1, so the optimiser and its checkpoints look the same as for R = 1
of the stacked path.
"""

from __future__ import annotations

import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from ..nets import has_batch_statistics

__all__ = ["StackedModels"]


class StackedModels:
    """Stacked trainable parameters of R modules plus their per-run frozen tensors and buffers."""

    def __init__(self, models: list[torch.nn.Module]):
        self.models = models
        self.R = len(models)
        ref = models[0]
        self.trainable = [n for n, p in ref.named_parameters() if p.requires_grad]
        self.alone = has_batch_statistics(ref)
        if self.alone:
            if self.R != 1:
                raise ValueError(f"models: {self.R} networks with batch statistics (BatchNorm) cannot be stacked "
                                 "(allowed: one; batch_key gives such configs None, train them alone)")
            self.params = {n: p.detach().clone().unsqueeze(0).requires_grad_()
                           for n, p in ref.named_parameters() if p.requires_grad}
            self.frozen = {}
            return
        params, buffers = stack_module_state(models)
        self.params = {n: params[n].detach().clone().requires_grad_() for n in self.trainable}
        self.frozen = {n: v.detach() for n, v in params.items() if n not in self.trainable}
        self.frozen.update({n: v.detach() for n, v in buffers.items()})
        self._base = copy.deepcopy(ref).to("meta")

        def fwd(p, b, x):
            return functional_call(self._base, {**p, **b}, (x,))

        self._shared_x = vmap(fwd, in_dims=(0, 0, None))
        self._own_x = vmap(fwd, in_dims=(0, 0, 0))

    def _forward_alone(self, x: torch.Tensor) -> torch.Tensor:
        """The lone module, its own buffers updated in place (train mode), outputs (1, n, K)."""
        return functional_call(self.models[0], {n: p[0] for n, p in self.params.items()}, (x,)).unsqueeze(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (n, d) shared by every run -> outputs (R, n, K)."""
        if self.alone:
            return self._forward_alone(x)
        return self._shared_x(self.params, self.frozen, x)

    def forward_per_run(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (R, n, d), one batch per run -> outputs (R, n, K)."""
        if self.alone:
            return self._forward_alone(x[0])
        return self._own_x(self.params, self.frozen, x)

    def sync(self) -> None:
        """Copy the current stacked parameters into the per-run modules (for probes)."""
        with torch.no_grad():
            for r, m in enumerate(self.models):
                named = dict(m.named_parameters())
                for n in self.trainable:
                    named[n].copy_(self.params[n][r])

    def param_list(self) -> list[torch.Tensor]:
        return [self.params[n] for n in self.trainable]
