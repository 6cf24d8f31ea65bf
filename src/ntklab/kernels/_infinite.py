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

neural-tangents' ``Dense(..., b_std=None)`` (its default, no bias) differs from this standard form by the +1 terms:
``bias_var=0`` here is ``b_std=0.0`` there (a trained, zero-initialised bias); see docs/neural_tangents.md.

Everything is float64 (on the inputs' device), computed by the engine of :mod:`ntklab.kernels._recursion` in row x
column blocks (symmetric inputs: upper blocks only, the diagonal pinned to the variance path).  Closed-form
activations are exact; the others meet 1e-13 per dual (:mod:`ntklab.kernels._mehler`) or raise.
``all_depths=True`` returns every depth 1..L at once (shape (L, n1, n2)), at the cost of one.  For the limit of a
built ``ntklab`` network, in its own conventions, use :func:`ntklab.kernels.network_limit`.

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

from .._device import exact_float32
from .._errors import ConfigError, check_choice
from ._recursion import Layer, deep_kernels
from ._resolve import as_dual_activation

__all__ = ["infinite_kernel"]


def _inputs(x, field: str, device=None) -> torch.Tensor:
    x = x if torch.is_tensor(x) else torch.as_tensor(x, device="cpu")  # a tensor stays on its device
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


def _layers(depth, wv, bv, parameterization, d, hidden_width):
    """The recursion's (hidden layers, readout) coefficients in neural-tangents' conventions."""
    if parameterization == "ntk":  # Theta^{l+1} = weight_var (Sigma-dot Theta + Sigma) + bias_var
        layer = Layer(A=wv, B=bv, P=wv, G=wv, E=bv)
        return [layer] * depth, layer
    # standard: Theta^{l+1} = fan_in Sigma^l + 1 + weight_var Sigma-dot^l Theta^l (fan_in = d, then hidden_width)
    first = Layer(A=wv, B=bv, P=wv, G=float(d), E=1.0)
    rest = Layer(A=wv, B=bv, P=wv, G=float(hidden_width), E=1.0)
    return [first] + [rest] * (depth - 1), rest


@exact_float32()
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
    hidden, top = _layers(depth, float(weight_var), float(bias_var), parameterization, x1.shape[1], hidden_width)
    nngp, theta = deep_kernels(act, x1, None if sym else x2, hidden, top, ntk=kind != "nngp", nngp=kind != "ntk",
                               all_depths=all_depths, block_size=block_size)
    if not all_depths:
        nngp = None if nngp is None else nngp[0]
        theta = None if theta is None else theta[0]
    return {"nngp": nngp, "ntk": theta, "both": (nngp, theta)}[kind]
