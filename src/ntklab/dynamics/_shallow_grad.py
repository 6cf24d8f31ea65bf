r"""Closed-form MSE gradient of stacked :class:`~ntklab.ScaledShallowNet` runs (W trained), without autograd.

For run r with Z = W X^T / sqrt(d) (+ b), node factors C_kj = u_kj sqrt(lambda_j) mask_j and residuals
E_kn = f_k(x_n) - y_nk, the loss L_r = (1/(nK)) sum_nk E_kn^2 has

    f = C sigma(Z),      dL_r/dW = (2/(nK)) sum_k diag(C_k) [sigma'(Z) diag(E_k)] X / sqrt(d),

so one step is three batched matrix products over the R stacked runs (Z, f, and sigma'(Z) @ (E X)) and a few
elementwise passes, against about twice as many passes through autograd's graph.  The result is the same
gradient (to float rounding; the tests compare it with autograd in float64); the optimiser step is unchanged.
Used by the training loop for full-batch MSE runs of shallow nets whose only trainable parameter is W.

Example:
    >>> import torch, ntklab
    >>> from ntklab.dynamics._stacked import StackedModels
    >>> from ntklab.dynamics._shallow_grad import ShallowMSEGradient
    >>> nets = [ntklab.ScaledShallowNet(3, 8, seed=s, dtype=torch.float64) for s in range(2)]
    >>> st = StackedModels(nets)
    >>> x, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
    >>> g = ShallowMSEGradient(st, x, y)
    >>> g.loss().shape
    torch.Size([2])
"""

from __future__ import annotations

import math

import torch

from ..nets._shallow import ScaledShallowNet

__all__ = ["ShallowMSEGradient", "supports"]

ENABLED = True  # the tests switch it off to compare with the autograd path


def supports(models, *, loss: str, full_batch: bool) -> bool:
    """Whether the closed form applies: full-batch MSE, shallow nets with exactly W trainable, on the CPU or GPU."""
    if not (ENABLED and loss == "mse" and full_batch):
        return False
    return all(type(m) is ScaledShallowNet and m.W.requires_grad and not m.u.requires_grad
               and (m.b is None or not m.b.requires_grad) for m in models)


class ShallowMSEGradient:
    """Per step: ``loss()`` (per-run MSE, keeps what the gradient needs), then ``set_grads(alive)``."""

    def __init__(self, stacked, x: torch.Tensor, y: torch.Tensor):
        ref = stacked.models[0]
        self.act = ref._act
        self.relu = ref.activation == "relu"
        self.W = stacked.params["W"]  # (R, m, d), a leaf
        fr = stacked.frozen
        R, m, d = self.W.shape
        lam = fr["lambdas"]
        self.C = (fr["u"] * (torch.sqrt(lam) * fr["mask"]).unsqueeze(1)).detach()  # (R, K, m)
        self.b = fr.get("b")
        self.K = self.C.shape[1]
        self.n = x.shape[0]
        self.xs = (x / math.sqrt(d)).detach()  # (n, d)
        self.xsT = self.xs.T.contiguous()
        self.yT = y.detach().T.contiguous()  # (K, n)
        self._z = torch.empty(R * m, self.n, dtype=self.W.dtype, device=self.W.device)
        self._mask = torch.empty(R, m, self.n, dtype=self.W.dtype, device=self.W.device) if self.relu else None
        # the gradient's buffers are reused from step to step: a fresh 8 MB tensor per step costs its page faults
        self._p = torch.empty(R, m, self.K * d, dtype=self.W.dtype, device=self.W.device)
        self._grad = torch.empty_like(self.W) if self.K == 1 else None
        self._deriv = None
        self._e = None

    def loss(self) -> torch.Tensor:
        """Per-run loss (R,), without a graph."""
        with torch.no_grad():
            W = self.W
            R, m, d = W.shape
            z = torch.mm(W.view(R * m, d), self.xsT, out=self._z).view(R, m, self.n)
            if self.b is not None:
                z += self.b.unsqueeze(-1)
            if self.relu:
                self._deriv = torch.gt(z, 0, out=self._mask)  # sigma' = 1{z > 0} written as floats in one pass
                h = z.clamp_(min=0)
            else:
                self._deriv = self.act.derivative(z)
                h = self.act(z)
            f = torch.bmm(self.C, h)  # (R, K, n)
            self._e = f.sub_(self.yT)
            return (self._e * self._e).mean(dim=(1, 2))

    def set_grads(self, alive: torch.Tensor) -> None:
        """dL_r/dW for every run (zero for runs no longer alive) into ``W.grad``."""
        with torch.no_grad():
            R, m, d = self.W.shape
            e = torch.where(alive.view(R, 1, 1).to(self._e.device), self._e, torch.zeros((), dtype=self._e.dtype,
                                                                                          device=self._e.device))
            e = e * (2.0 / (self.n * self.K))
            ex = (e.unsqueeze(-1) * self.xs).transpose(1, 2).reshape(R, self.n, self.K * d)  # (R, n, K d)
            p = torch.bmm(self._deriv, ex, out=self._p).view(R, m, self.K, d)  # (R, m, K, d)
            if self.K == 1:
                grad = torch.mul(p.view(R, m, d), self.C.view(R, m, 1), out=self._grad)
            else:
                grad = torch.einsum("rmkd,rkm->rmd", p, self.C)
            self.W.grad = grad
            self._deriv = self._e = None
