r"""Infinite-width NNGP and NTK of a deep fully connected network, for any activation.

The network (``depth`` = L hidden layers, NTK parameterisation, all weights and biases N(0, 1) and trained):

    h^1 = sigma_w x W^1 / sqrt(d) + sigma_b b^1,   h^{l+1} = sigma_w sigma(h^l) W^{l+1} / sqrt(n) + sigma_b b^{l+1},
    f = h^{L+1} (one output),

i.e. stax.serial(*[Dense(1, W_std=sigma_w, b_std=sigma_b), act] * L, Dense(1, W_std=sigma_w, b_std=sigma_b)), with
weight_var = sigma_w^2, bias_var = sigma_b^2.  For inputs of any norm, the recursions (Jacot et al.; Lee et al.):

    Sigma^0(x, x') = x.x' / d                                  (the input covariance, divided by d as stax does)
    Lambda^l = weight_var Sigma^{l-1} + bias_var               (pre-activation covariance, l = 1..L+1)
    Sigma^l  = E[sigma(u) sigma(v)],   Sigma-dot^l = E[sigma'(u) sigma'(v)],
               (u, v) ~ N(0, [[Lambda^l(x, x), Lambda^l(x, x')], [Lambda^l(x, x'), Lambda^l(x', x')]])
    Theta^1 = Lambda^1,   Theta^{l+1} = weight_var Sigma-dot^l Theta^l + Lambda^{l+1}
    NNGP = Lambda^{L+1},  NTK = Theta^{L+1}.

Each point's variance follows its own path Lambda^l(x, x) (no assumption that x lies on a sphere).  With
``parameterization="standard"`` (W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2), gradients in those raw
parameters, as stax's ``parameterization='standard'`` with declared widths d and ``hidden_width``), the NNGP is the
same and Theta^{l+1} = fan_in Sigma^l + 1 + weight_var Sigma-dot^l Theta^l with Theta^1 = x.x' + 1.

Everything is float64 (on the inputs' device); the (n1, n2) matrix is computed in row x column blocks (symmetric
inputs: upper blocks only), arccos arguments are clamped to [-1, 1], and the diagonal of K(x, x) is pinned to the
variance path.  ``all_depths=True`` returns every depth 1..L at once (shape (L, n1, n2)), at the cost of one.

Example:
    >>> import torch
    >>> from ntklab import infinite_kernel
    >>> x = torch.randn(5, 3, dtype=torch.float64)
    >>> K = infinite_kernel(x, depth=2, activation="relu", kind="nngp", weight_var=2.0)
    >>> bool(torch.allclose(K.diagonal(), 2 * (x * x).sum(1) / 3))  # He scaling keeps the variance
    True
"""

from __future__ import annotations

import torch

from .._errors import ConfigError, check_choice
from ._gram_products import block_rows, mirror_upper_blocks
from ._resolve import as_dual_activation

__all__ = ["infinite_kernel"]


def _inputs(x, field: str, device=None) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 2:
        raise ConfigError(field, f"expected a 2-d (n, d) array, got shape {tuple(x.shape)}")
    x = x.to(dtype=torch.float64, device=device)
    if not torch.isfinite(x).all():
        raise ConfigError(field, "contains NaN or inf values", allowed="finite inputs")
    return x


def _check(depth, kind, weight_var, bias_var, parameterization, hidden_width, block_size):
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError("depth", f"got {depth!r}", allowed="integers >= 1 (the number of hidden layers)")
    check_choice("kind", kind, ("ntk", "nngp", "both"))
    check_choice("parameterization", parameterization, ("ntk", "standard"))
    for field, v in (("weight_var", weight_var), ("bias_var", bias_var)):
        if not (isinstance(v, (int, float)) and v >= 0 and v < float("inf")):
            raise ConfigError(field, f"got {v!r}", allowed="[0, inf)")
    if not isinstance(hidden_width, int) or hidden_width < 1:
        raise ConfigError("hidden_width", f"got {hidden_width!r}", allowed="integers >= 1")
    if not isinstance(block_size, int) or block_size < 1:
        raise ConfigError("block_size", f"got {block_size!r}", allowed="integers >= 1")


def _variance_paths(act, v1, v2, depth, wv, bv, need_dot):
    """Per point and layer l = 1..L: the activation's prepared data at Lambda^l(x, x) (for x1 and x2 jointly, so
    quadrature activations truncate both at one degree), Sigma^l(x, x) and Sigma-dot^l(x, x)."""
    prep1, prep2, post1, post2, dot1 = [], [], [], [], []
    for _ in range(depth):
        q1, q2 = wv * v1 + bv, wv * v2 + bv
        p1, p2 = act.prepare_pair(q1, q2, derivative=need_dot)
        prep1.append(p1)
        prep2.append(p2)
        v1, v2 = act.second_moment(q1), act.second_moment(q2)
        post1.append(v1)
        post2.append(v2)
        dot1.append(act.derivative_second_moment(q1) if need_dot else None)
    return (prep1, post1, dot1), (prep2, post2, dot1)


def _affine(sigma, wv, bv):
    out = sigma * wv if wv != 1.0 else sigma.clone()
    return out.add_(bv) if bv != 0.0 else out


def _block(act, c0, paths1, paths2, out_nngp, out_ntk, *, depth, wv, bv, ntk, std, fan_in0, hidden_width, diag,
           all_depths):
    """Readout NNGP/NTK for one (rows x cols) block, written into ``out_*[k]`` (k = depth index, or 0)."""
    prep1, post1, dot1 = paths1
    prep2, _, _ = paths2
    sigma, theta, fan_in = c0, None, fan_in0
    for layer in range(depth):
        lam = _affine(sigma, wv, bv)
        p1 = tuple(t[:, None] for t in prep1[layer])
        p2 = tuple(t[None, :] for t in prep2[layer])
        new_sigma, sdot = act.duals_prepared(p1, lam, p2, derivative=ntk)
        if diag:
            new_sigma.diagonal().copy_(post1[layer])
            if ntk:
                sdot.diagonal().copy_(dot1[layer])
        if ntk:  # Theta^l (in place where it exists), then times Sigma-dot^l
            if std:
                theta = (sigma * fan_in).add_(1.0) if theta is None else theta.mul_(wv).add_(sigma, alpha=fan_in).add_(1.0)
                theta.mul_(sdot)
            elif theta is None:
                theta = lam.mul_(sdot) if new_sigma is not lam else lam * sdot
            else:
                theta.mul_(wv).add_(lam).mul_(sdot)
        del lam, sdot  # (duals may return new tensors only: lam is overwritten above unless it is the new Sigma)
        sigma = new_sigma
        fan_in = hidden_width
        if not (all_depths or layer == depth - 1):
            continue
        k = layer if all_depths else 0
        if out_nngp is not None:
            torch.mul(sigma, wv, out=out_nngp[k]).add_(bv)
        if not ntk:
            continue
        top = out_ntk[k]
        if std:  # Theta^{L+1} = fan_in Sigma^L + 1 + weight_var Sigma-dot^L Theta^L
            torch.mul(theta, wv, out=top).add_(sigma, alpha=fan_in).add_(1.0)
        else:  # Theta^{L+1} = weight_var (Sigma-dot^L Theta^L + Sigma^L) + bias_var
            torch.add(theta, sigma, out=top).mul_(wv).add_(bv)


def infinite_kernel(x1, x2=None, *, depth: int, activation="relu", kind: str = "ntk", weight_var: float = 1.0,
                    bias_var: float = 0.0, parameterization: str = "ntk", hidden_width: int = 1,
                    all_depths: bool = False, block_size: int = 512):
    """NNGP or NTK of the depth-L fully connected network (see the module docstring), float64.

    Returns (n1, n2), or (depth, n1, n2) with ``all_depths`` (entry l - 1 = the network with l hidden layers);
    ``kind="both"`` returns the pair (nngp, ntk).
    """
    _check(depth, kind, weight_var, bias_var, parameterization, hidden_width, block_size)
    act = as_dual_activation(activation)
    x1 = _inputs(x1, "x1")
    sym = x2 is None
    x2 = x1 if sym else _inputs(x2, "x2", device=x1.device)
    if x1.shape[1] != x2.shape[1]:
        raise ConfigError("x2", f"has {x2.shape[1]} features but x1 has {x1.shape[1]}", allowed="equal dimensions")
    d = x1.shape[1]
    ntk = kind != "nngp"
    wv, bv = float(weight_var), float(bias_var)
    path1, path2 = _variance_paths(act, (x1 * x1).sum(1) / d, (x2 * x2).sum(1) / d, depth, wv, bv, ntk)
    n1, n2, nd = x1.shape[0], x2.shape[0], depth if all_depths else 1
    nngp = torch.empty(nd, n1, n2, dtype=torch.float64, device=x1.device) if kind != "ntk" else None
    theta = torch.empty(nd, n1, n2, dtype=torch.float64, device=x1.device) if ntk else None
    opts = dict(depth=depth, wv=wv, bv=bv, ntk=ntk, std=parameterization == "standard", fan_in0=float(d),
                hidden_width=float(hidden_width), all_depths=all_depths)

    def sl(path, lo, hi):
        prep, post, dot = path
        return ([tuple(t[lo:hi] for t in p) for p in prep], [t[lo:hi] for t in post],
                [None if t is None else t[lo:hi] for t in dot])

    root = d ** -0.5
    xs1 = x1 * root
    xs2 = xs1 if sym else x2 * root
    rows, cols = block_rows(n1, block_size), block_rows(n2, block_size)
    for bi, (r0, r1) in enumerate(rows):
        for bj, (c0, c1) in enumerate(cols):
            if sym and bj < bi:
                continue
            cov0 = xs1[r0:r1] @ xs2[c0:c1].T
            _block(act, cov0, sl(path1, r0, r1), sl(path2, c0, c1),
                   None if nngp is None else nngp[:, r0:r1, c0:c1], None if theta is None else theta[:, r0:r1, c0:c1],
                   diag=sym and bi == bj, **opts)
    if sym:  # exactly symmetric: the lower blocks (and the diagonal blocks' lower halves) copied from the upper
        for out in (nngp, theta):
            for k in range(nd if out is not None else 0):
                mirror_upper_blocks(out[k], rows)
    if not all_depths:
        nngp = None if nngp is None else nngp[0]
        theta = None if theta is None else theta[0]
    return {"nngp": nngp, "ntk": theta, "both": (nngp, theta)}[kind]
