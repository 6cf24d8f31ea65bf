r"""Gradient descent on the readout of a fixed feature map: the exact trajectory from the spectrum of Phi Phi^T.

With features Phi (n x m) of n training points, the readout w in R^m, f = Phi w and the training loop's MSE
L(w) = (1/n) |Phi w - y|^2, GD w <- w - eta grad L moves the residual r = Phi w - y by

    r <- (I - (2 eta / n) G) r,     G = Phi Phi^T = sum_i g_i v_i v_i^T   (g_1 <= ... <= g_n),

so with z_i = v_i^T r_0 the loss after k steps is exactly

    L_k = (1/n) sum_i (1 - 2 eta g_i / n)^{2k} z_i^2.

The step here is eta = n / (2 g_n) = 1 / lambda_max(Hessian) (the Hessian of L is 2 Phi^T Phi / n): then every
factor 1 - g_i / g_n lies in [0, 1), the largest being 1 - 1/kappa with kappa = g_n / g_1 = cond(K-hat),
K-hat = G / m, and

    L_k / L_0 <= (1 - 1/kappa)^{2k},   so   k(eps) <= ln(1/eps) / (-2 ln(1 - 1/kappa)) ~ kappa ln(1/eps) / 2

steps reach the relative loss eps (the GD rate on a quadratic is set by its condition number).  The measured
rate rho = ln(L_0 / L_k) / (2k) therefore satisfies rho >= -ln(1 - 1/kappa) >= 1/kappa.

Example:
    >>> import torch
    >>> phi = torch.eye(3, dtype=torch.float64) * torch.tensor([1.0, 2.0, 4.0]).sqrt()  # g = 1, 2, 4: kappa = 4
    >>> gd = readout_gd(phi, torch.zeros(3), torch.ones(3))
    >>> gd.lr, gd.cond, gd.steps_to(1e-3) <= gd.bound(1e-3)
    (0.375, 4.0, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ReadoutGD", "readout_gd"]


@dataclass(frozen=True)
class ReadoutGD:
    """GD at ``lr`` on the readout's least squares: eigenvalues g_i of Phi Phi^T (ascending) and the squared
    coordinates z_i^2 of the initial residual f_0 - y in their eigenvectors, over ``n`` training points."""

    lr: float
    eigenvalues: np.ndarray
    weights: np.ndarray
    n: int

    @property
    def cond(self) -> float:
        """kappa = g_n / g_1 = cond(K-hat) (inf when Phi Phi^T is singular)."""
        lo, hi = float(self.eigenvalues[0]), float(self.eigenvalues[-1])
        return hi / lo if lo > 0 else math.inf

    def _factors(self) -> np.ndarray:
        return np.abs(1.0 - 2.0 * self.lr * self.eigenvalues / self.n)

    def loss(self, steps) -> np.ndarray:
        """L_k for each k in ``steps`` (the loop's MSE, mean over the n points)."""
        k = np.asarray(steps, dtype=np.float64).reshape(-1, 1)
        return (self._factors()[None, :] ** (2 * k) * self.weights[None, :]).sum(1) / self.n

    def steps_to(self, tolerance: float, max_steps: int = 10**8) -> int | None:
        """The fewest steps k with L_k <= tolerance * L_0 (None beyond ``max_steps``)."""
        target = tolerance * float(self.loss([0])[0])
        if float(self.loss([max_steps])[0]) > target:
            return None
        lo, hi = 0, max_steps  # L_k is non-increasing in k: bisect for the first k below the target
        while lo < hi:
            mid = (lo + hi) // 2
            if float(self.loss([mid])[0]) <= target:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def bound(self, tolerance: float) -> float:
        """ln(1/eps) / (-2 ln(1 - 1/kappa)): the steps the condition number guarantees (0 when kappa = 1)."""
        kappa = self.cond
        if not math.isfinite(kappa):
            return math.inf
        return 0.0 if kappa <= 1 else math.log(1 / tolerance) / (-2 * math.log1p(-1 / kappa))


def readout_gd(features: torch.Tensor, f0: torch.Tensor, y: torch.Tensor) -> ReadoutGD:
    """GD on the readout of ``features`` (n x m) from outputs ``f0`` (n or n x 1) towards ``y``, at the step
    eta = n / (2 lambda_max(Phi Phi^T)); float64."""
    phi = features.detach().to(torch.float64)
    n = phi.shape[0]
    g, v = torch.linalg.eigh(phi @ phi.T)
    r0 = (f0.detach().to(torch.float64) - y.detach().to(torch.float64)).reshape(n)
    z = v.T @ r0
    return ReadoutGD(lr=float(n / (2 * g[-1])), eigenvalues=g.clamp(min=0).numpy(), weights=(z * z).numpy(), n=n)
