r"""Closed-form MSE gradient of stacked :class:`~ntklab.ScaledShallowNet` runs (W trained), without autograd.

For run r with Z = W X^T / sqrt(d) (+ b), node factors C_kj = u_kj sqrt(lambda_j) mask_j and residuals
E_kn = f_k(x_n) - y_nk, the loss L_r = (1/(nK)) sum_nk E_kn^2 has

    f = C sigma(Z),      dL_r/dW = (2/(nK)) sum_k diag(C_k) [sigma'(Z) diag(E_k)] X / sqrt(d).

For one output (K = 1, every E1 run) the R runs' rows are stacked, (R m) x d, and the step is two plain products
with the data as the shared right factor and one batched product for the outputs:

    H = sigma(W_all X^T / sqrt(d))            (R m) x d  times  d x n,  the ReLU fused into the product,
    f_r = c_r^T H_r                            one batched matrix-vector product,
    G = sigma'(Z) o (1 e_r^T)                  in place over H (for ReLU sigma' = sign(H): two passes),
    dL/dW = diag(c) G X / sqrt(d)              (R m) x n  times  n x d.

For float32 ReLU nets without bias on a CPU with AVX-512 (every E1 run), the step is the fused kernel of
:mod:`~ntklab.dynamics._relu_kernel`: two passes over W that never store Z (pass 1 leaves the bits 1{Z > 0} and f,
pass 2 sums diag(e) X / sqrt(d) over the set bits).  It does the E1 step in 1.9 ms where the unfused one below takes
3.1-3.5 ms (``bench/bench_e1.py``).  Elsewhere both large products go through oneDNN
(``torch.ops.mkldnn._linear_pointwise``) for float32 on the CPU: its JIT kernels run these thin shapes at 2-3x the
rate of the MKL ``sgemm`` behind ``torch.mm`` on AMD CPUs (MKL takes its AVX2 path there), and it applies the ReLU to
the output tile while it is in registers.  Other dtypes and devices use ``torch.mm``.  Several outputs (K > 1) use
the batched form sigma'(Z) @ (E X) per run.  The gradient is the one autograd gives (to float rounding; the tests
compare both in float64, and float32 against float64); the optimiser step is unchanged, except that for plain
GD the fused kernel can take the step itself (:meth:`ShallowMSEGradient.loss_and_descend`).

Runs whose loss is non-finite or above the divergence threshold at this step, and runs no longer alive, get a
zero gradient (so they do not move), exactly the runs the loop then marks diverged.

Example:
    >>> import torch, ntklab
    >>> from ntklab.dynamics._stacked import StackedModels
    >>> from ntklab.dynamics._shallow_grad import ShallowMSEGradient
    >>> nets = [ntklab.ScaledShallowNet(3, 8, seed=s, dtype=torch.float64) for s in range(2)]
    >>> st = StackedModels(nets)
    >>> x, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
    >>> g = ShallowMSEGradient(st, x, y)
    >>> g.loss_and_grad(torch.ones(2, dtype=torch.bool)).shape, st.params["W"].grad.shape
    (torch.Size([2]), torch.Size([2, 8, 3]))
"""

from __future__ import annotations

import math

import torch

from ..nets._shallow import ScaledShallowNet
from . import _relu_kernel

__all__ = ["ShallowMSEGradient", "supports", "matmul_nt", "onednn_available", "fused_available"]

ENABLED = True  # the tests switch it off to compare with the autograd path
ONEDNN = True  # the tests switch it off to compare oneDNN's products with torch.mm's
FUSED = True  # the tests switch it off to compare the fused ReLU step with the unfused one
BLOCK_BYTES = 4 * 2**20  # runs are processed in blocks whose activations (r m n floats) take about this much


def supports(models, *, loss: str, full_batch: bool) -> bool:
    """Whether the closed form applies: full-batch MSE, shallow nets with exactly W trainable, on the CPU or GPU."""
    if not (ENABLED and loss == "mse" and full_batch):
        return False
    return all(type(m) is ScaledShallowNet and m.W.requires_grad and not m.u.requires_grad
               and (m.b is None or not m.b.requires_grad) for m in models)


def onednn_available(t: torch.Tensor) -> bool:
    """Whether oneDNN's fused linear takes ``t``: float32 on the CPU, torch built with oneDNN."""
    return (ONEDNN and t.dtype == torch.float32 and t.device.type == "cpu" and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


def matmul_nt(a: torch.Tensor, b: torch.Tensor, *, relu: bool = False) -> torch.Tensor:
    """a @ b.T (then max(., 0) when ``relu``) for contiguous 2-D a (M x k) and b (N x k): oneDNN where it takes
    the inputs (the ReLU fused into the product), else ``torch.mm``."""
    if onednn_available(a):
        return torch.ops.mkldnn._linear_pointwise(a, b, None, "relu" if relu else "none", [], "")
    out = torch.mm(a, b.T)
    return out.clamp_(min=0) if relu else out


def fused_available(step: "ShallowMSEGradient") -> bool:
    """Whether the fused two-pass kernel (:mod:`~ntklab.dynamics._relu_kernel`) takes this step: float32 on the
    CPU, ReLU without bias, one output, and the kernel built here."""
    W = step.W
    return (FUSED and step.relu and step.b is None and step.K == 1 and W.dtype == torch.float32
            and W.device.type == "cpu" and W.is_contiguous() and _relu_kernel.library() is not None)


class ShallowMSEGradient:
    """Per step: ``loss_and_grad(alive, threshold)`` -> per-run MSE (R,), with dL_r/dW in ``W.grad``."""

    def __init__(self, stacked, x: torch.Tensor, y: torch.Tensor):
        ref = stacked.models[0]
        self.act = ref._act
        self.relu = ref.activation == "relu"
        self.W = stacked.params["W"]  # (R, m, d), a leaf
        fr = stacked.frozen
        R, m, d = self.W.shape
        lam = fr["lambdas"]
        self.C = (fr["u"] * (torch.sqrt(lam) * fr["mask"]).unsqueeze(1)).detach().contiguous()  # (R, K, m)
        self.b = fr.get("b")
        self.K = self.C.shape[1]
        self.n = x.shape[0]
        self.xs = (x / math.sqrt(d)).detach().contiguous()  # (n, d): the first product's right factor
        self.xsT = self.xs.T.contiguous()  # (d, n): the second's
        self.yT = y.detach().T.contiguous()  # (K, n)
        self.c_rows = self.C[:, 0, :].unsqueeze(-1).contiguous() if self.K == 1 else None  # (R, m, 1)
        self._grad = torch.empty_like(self.W)  # reused from step to step (a fresh 8 MB tensor costs page faults)
        self.block = max(1, BLOCK_BYTES // (m * self.n * self.W.element_size()))  # runs per block
        self.fused = (_relu_kernel.FusedReLUStep(self.W.shape, self.xs, self.C[:, 0, :], y)
                      if fused_available(self) else None)

    def _hidden(self, W: torch.Tensor, b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """sigma(Z) as (r, m, n) for the runs of ``W`` (r, m, d), and sigma'(Z) (None for ReLU: read off sigma(Z)
        later, in place)."""
        r, m, d = W.shape
        if b is None and self.relu:
            return matmul_nt(W.reshape(r * m, d), self.xs, relu=True).view(r, m, self.n), None
        z = matmul_nt(W.reshape(r * m, d), self.xs).view(r, m, self.n)
        if b is not None:
            z += b.unsqueeze(-1)
        if self.relu:
            return z.clamp_(min=0), None
        return self.act(z), self.act.derivative(z)

    def _runs(self, lo: int, hi: int, alive: torch.Tensor, threshold: float, loss: torch.Tensor,
              ok: torch.Tensor) -> None:
        """Runs lo..hi-1: their losses into ``loss``, whether they may move into ``ok``, their gradient into the
        gradient buffer (a block of runs at a time, so that its (r m) x n activations stay in cache)."""
        W, C = self.W.detach()[lo:hi], self.C[lo:hi]
        r, m, d = W.shape
        h, deriv = self._hidden(W, None if self.b is None else self.b[lo:hi])
        e = torch.bmm(C, h).sub_(self.yT)  # (r, K, n) residuals
        torch.mean(e * e, dim=(1, 2), out=loss)
        torch.logical_and(alive, torch.isfinite(loss) & (loss.abs() <= threshold), out=ok)
        es = torch.where(ok.view(r, 1, 1), e * (2.0 / (self.n * self.K)),
                         torch.zeros((), dtype=e.dtype, device=e.device))  # dL/df, zero for dead runs
        if deriv is None:
            deriv = h.sign_()  # ReLU: sigma'(Z) = 1{Z > 0} = sign(max(Z, 0)), written over H (no longer needed)
        out = self._grad[lo:hi]
        if self.K == 1:
            g = deriv.mul_(es)  # (r, m, n): sigma'(Z) diag(e_r), in place
            torch.mul(matmul_nt(g.view(r * m, self.n), self.xsT).view(r, m, d), self.c_rows[lo:hi], out=out)
        else:
            ex = (es.unsqueeze(-1) * self.xs).transpose(1, 2).reshape(r, self.n, self.K * d)  # (r, n, K d)
            p = torch.bmm(deriv, ex).view(r, m, self.K, d)
            out.copy_(torch.einsum("rmkd,rkm->rmd", p, C))

    @property
    def descends(self) -> bool:
        """Whether :meth:`loss_and_descend` is available: the step runs in the fused kernel."""
        return self.fused is not None

    def loss_and_descend(self, alive: torch.Tensor, threshold: float, lr: float) -> torch.Tensor:
        """Per-run loss (R,) at the current W, then the GD step W <- W - lr dL/dW in place for the runs that may
        move (alive, loss finite and at most ``threshold``), in the fused kernel's second pass; the others stay
        where they are.  The same W as :meth:`loss_and_grad` then ``W.add_(W.grad, alpha=-lr)``; ``W.grad`` is
        not written."""
        if self.fused is None:
            raise RuntimeError("loss_and_descend needs the fused kernel (see descends)")
        with torch.no_grad():
            R = self.W.shape[0]
            loss = torch.empty(R, dtype=self.W.dtype, device=self.W.device)
            ok = torch.empty(R, dtype=torch.bool, device=self.W.device)
            self.fused.step(self.W.detach(), None, alive.to(self.W.device).contiguous(), threshold, loss, ok, lr=lr)
        return loss

    def loss_and_grad(self, alive: torch.Tensor, threshold: float = math.inf) -> torch.Tensor:
        """Per-run loss (R,) at the current W, and its gradient into ``W.grad`` (zero for runs that are not
        ``alive`` or whose loss is non-finite or above ``threshold``)."""
        with torch.no_grad():
            R = self.W.shape[0]
            loss = torch.empty(R, dtype=self.W.dtype, device=self.W.device)
            ok = torch.empty(R, dtype=torch.bool, device=self.W.device)
            alive = alive.to(self.W.device)
            if self.fused is not None:  # the gradient of dead runs is written as zeros
                self.fused.step(self.W.detach(), self._grad, alive.contiguous(), threshold, loss, ok)
                self.W.grad = self._grad
                return loss
            for lo in range(0, R, self.block):
                hi = min(R, lo + self.block)
                self._runs(lo, hi, alive[lo:hi], threshold, loss[lo:hi], ok[lo:hi])
            if not bool(ok.all()):
                self._grad[~ok] = 0  # a dead run's H may hold inf/NaN: its gradient is exactly zero
            self.W.grad = self._grad
        return loss
