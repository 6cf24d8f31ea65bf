"""Several runs of one architecture as one tensor program.

Runs that share data, architecture shape, optimiser and schedule (differing only in seed and node scaling)
are trained together: their parameters are stacked along a leading run axis with
``torch.func.stack_module_state`` and the forward pass is ``vmap``-ed over that axis.  The summed loss
sum_r L_r(theta_r) has gradient dL_r/dtheta_r in slice r, and every optimiser used here acts elementwise,
so each slice follows exactly the trajectory its run would follow alone.
"""

from __future__ import annotations

import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

__all__ = ["StackedModels"]


class StackedModels:
    """Stacked trainable parameters of R modules plus their per-run frozen tensors and buffers."""

    def __init__(self, models: list[torch.nn.Module]):
        self.models = models
        self.R = len(models)
        ref = models[0]
        self.trainable = [n for n, p in ref.named_parameters() if p.requires_grad]
        params, buffers = stack_module_state(models)
        self.params = {n: params[n].detach().clone().requires_grad_() for n in self.trainable}
        self.frozen = {n: v.detach() for n, v in params.items() if n not in self.trainable}
        self.frozen.update({n: v.detach() for n, v in buffers.items()})
        self._base = copy.deepcopy(ref).to("meta")

        def fwd(p, b, x):
            return functional_call(self._base, {**p, **b}, (x,))

        self._shared_x = vmap(fwd, in_dims=(0, 0, None))
        self._own_x = vmap(fwd, in_dims=(0, 0, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (n, d) shared by every run -> outputs (R, n, K)."""
        return self._shared_x(self.params, self.frozen, x)

    def forward_per_run(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (R, n, d), one batch per run -> outputs (R, n, K)."""
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
