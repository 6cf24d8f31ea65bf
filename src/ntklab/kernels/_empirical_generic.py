r"""Generic empirical NTK of any ``nn.Module`` through ``torch.func``.

    Theta_kk'(x, x') = sum_p  d f_k(x) / d theta_p  *  d f_k'(x') / d theta_p

over the parameters that require grad (or the ``params`` dict given).  Implementations:

- ``"auto"`` (the default): ``"structured"`` where the model qualifies and its result agrees with per-example
  autodiff on the first two inputs (a check that catches samples interacting in the batch), else ``"jacobian"``.

- ``"jacobian"``: per-example Jacobians (``vmap(jacrev)``) of row chunks, contracted parameter by parameter;
  memory O(chunk * K * P).
- ``"structured"``: for models whose trainable parameters all sit in ``nn.Linear`` layers, the per-layer
  Gram identity of :mod:`ntklab.kernels._empirical_structured` (one forward, K backwards, two n x n Grams per
  layer); models it cannot handle (or a ``params`` dict) fall back to ``"jacobian"``.
- ``"ntvp"``: NTK-vector products: for each chunk of x2 and each output, ``vjp`` pulls the basis cotangents back
  to parameter space and ``jvp`` pushes them forward at x1; never forms a Jacobian of x1.

The model must map a batch (n, ...) to (n, K) (or (n,)); per-example calls add a batch axis of one.

Example:
    >>> import torch
    >>> from ntklab.kernels import empirical_ntk_generic
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    >>> empirical_ntk_generic(net, torch.randn(5, 3, dtype=torch.float64)).shape
    torch.Size([5, 5])
"""

from __future__ import annotations

import warnings

import torch
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from .._device import exact_float32
from ._empirical_structured import structured_ntk

__all__ = ["empirical_ntk_generic"]


def _split_params(model, params):
    if params is None:
        params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    else:
        params = {k: v.detach() for k, v in params.items()}
    if not params:
        raise ValueError("params: the model has no trainable parameter (allowed: a model with requires_grad params)")
    frozen = {k: v.detach() for k, v in model.named_parameters() if k not in params}
    frozen.update(dict(model.named_buffers()))
    return params, frozen


def _format(theta, output, K):
    """theta: (n1, n2, K, K) -> the requested shape."""
    if output is None:
        return theta[:, :, 0, 0] if K == 1 else theta
    if output == "mean":
        return torch.diagonal(theta, dim1=2, dim2=3).mean(-1)
    if isinstance(output, bool) or not isinstance(output, int) or not 0 <= output < K:
        raise ValueError(f"output: got {output!r} (allowed: None, 'mean', or an output index 0..{K - 1})")
    return theta[:, :, output, output]


def _agrees(model, x1, x2, theta, chunk_size) -> bool:
    """Whether the structured kernel matches per-example Jacobians on the first (up to) two inputs of each side."""
    k1 = min(2, x1.shape[0])
    xb = x1[:k1] if x2 is None else x2[: min(2, x2.shape[0])]
    ref = empirical_ntk_generic(model, x1[:k1], xb, implementation="jacobian", chunk_size=chunk_size)
    ref = ref.reshape(theta[:k1, : xb.shape[0]].shape)
    # float rounding of two contractions of P terms: far below 1e-3 in float32, 1e-9 in float64
    tol = 1e-9 if theta.dtype == torch.float64 else 1e-3
    scale = float(ref.abs().max()) or 1.0
    if float((theta[:k1, : xb.shape[0]] - ref).abs().max()) <= tol * scale:
        return True
    warnings.warn("empirical_ntk: the structured (per-layer Gram) kernel disagrees with per-example autodiff "
                  "(do samples interact in the batch, or is the model random, e.g. dropout in training mode?); "
                  "using implementation='jacobian'", RuntimeWarning,
                  stacklevel=3)
    return False


@exact_float32()
def empirical_ntk_generic(
    model: torch.nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    params: dict | None = None,
    output: int | str | None = None,
    implementation: str = "auto",
    chunk_size: int = 256,
) -> torch.Tensor:
    """Empirical NTK by automatic differentiation; shapes as :func:`ntklab.empirical_ntk`."""
    if implementation not in ("auto", "jacobian", "ntvp", "structured"):
        raise ValueError(f"implementation: got {implementation!r} "
                         "(allowed: 'auto', 'jacobian', 'ntvp', 'structured')")
    if implementation in ("auto", "structured"):
        theta = structured_ntk(model, x1, x2) if params is None else None
        if theta is not None and (implementation == "structured" or _agrees(model, x1, x2, theta, chunk_size)):
            return _format(theta, output, theta.shape[-1])
        implementation = "jacobian"
    p, frozen = _split_params(model, params)

    def f_batch(pp, x):
        out = functional_call(model, {**frozen, **pp}, (x,))
        return out.reshape(x.shape[0], -1)

    def f_single(pp, x):
        return f_batch(pp, x.unsqueeze(0))[0]

    xb = x1 if x2 is None else x2
    K = f_batch(p, x1[:1]).shape[-1]
    n1, n2 = x1.shape[0], xb.shape[0]
    theta = torch.zeros(n1, n2, K, K, dtype=next(iter(p.values())).dtype, device=x1.device)

    if implementation == "jacobian":
        jac = vmap(jacrev(f_single), (None, 0))

        def jac_chunk(x):
            return [j.reshape(x.shape[0], K, -1) for j in jac(p, x).values()]

        chunks2 = [(lo, min(lo + chunk_size, n2)) for lo in range(0, n2, chunk_size)]
        for lo in range(0, n1, chunk_size):
            hi = min(lo + chunk_size, n1)
            j1 = jac_chunk(x1[lo:hi])
            for lo2, hi2 in chunks2:
                if x2 is None and lo2 < lo:
                    continue  # filled by symmetry below
                if x2 is None and lo2 == lo:
                    j2 = j1
                else:
                    j2 = jac_chunk(xb[lo2:hi2])
                blk = sum(torch.einsum("akp,blp->abkl", a, b) for a, b in zip(j1, j2))
                theta[lo:hi, lo2:hi2] = blk
                if x2 is None and lo2 != lo:
                    theta[lo2:hi2, lo:hi] = blk.transpose(0, 1).transpose(2, 3)
        return _format(theta, output, K)

    # NTK-vector products: Theta[:, l, :, k'] = J(x1) J(x2_l)^T e_k'
    for lo in range(0, n2, chunk_size):
        hi = min(lo + chunk_size, n2)
        xc = xb[lo:hi]
        nc = hi - lo
        _, pullback = vjp(lambda pp: f_batch(pp, xc), p)
        basis = torch.zeros(nc * K, nc, K, dtype=theta.dtype, device=x1.device)
        idx = torch.arange(nc * K, device=x1.device)
        basis[idx, idx // K, idx % K] = 1
        tangents = vmap(lambda ct: pullback(ct)[0])(basis)  # dict of (nc*K, *shape)

        def push(t):
            return jvp(lambda pp: f_batch(pp, x1), (p,), (t,))[1]

        cols = vmap(push)(tangents)  # (nc*K, n1, K)
        theta[:, lo:hi] = cols.reshape(nc, K, n1, K).permute(2, 0, 3, 1)
    return _format(theta, output, K)
