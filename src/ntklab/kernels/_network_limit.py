r"""The infinite-width NNGP and NTK of a built ntklab network, read from the network itself.

For :class:`~ntklab.MLP` (h^l = c_l W^l x^{l-1} + b^l, x^l = s^l o sigma(h^l), f = c_{L+1} W^{L+1} x^L with node
scales s^l_j = sqrt(n_l lambda^(l)_j)) and :class:`~ntklab.ScaledShallowNet` (f = u diag(sqrt(lambda) o mask)
sigma(W x / sqrt(d) + b)) the limit is the recursion of :mod:`ntklab.kernels._recursion` with, per layer l,

    v_l = c_l^2 std_l^2                (effective weight variance: multiplier^2 times the init variance)
    F_l = sum_j (s^l_j)^2             (feature mass: n_l sum_j lambda_j for the MLP, sum_j lambda_j mask_j^2 shallow)
    A_l = P_l = v_l F_{l-1},  B_l = std(b^l)^2,  G_l = [W^l trains] eta_l c_l^2 F_{l-1},  E_l = [b^l trains] eta_b

with F_0 = d (C^0 = x.x' / d) and eta the learning-rate multipliers when ``lr_weighted`` (else 1), so that

    Lambda^l = A_l Sigma^{l-1} + B_l,    Theta^l = P_l Sigma-dot^{l-1} Theta^{l-1} + G_l Sigma^{l-1} + E_l,

NNGP = Lambda^{L+1}, NTK = Theta^{L+1} (the readout has no bias).  This is what ``empirical_ntk(net, x)`` converges
to: the sum over node j of lambda_j times one node's expectation is F times the Gaussian expectation, so node scaling
enters only through its mass F (for a fixed lambda with sum 1, the same kernel as uniform scaling).  For a
ScaledShallowNet the result is exactly the mean E_W[Theta(W_0)] at every width and for every lambda (the lambda-
weighted mean; gamma < 1 included), the limit itself when max_j lambda_j -> 0.  For an MLP it is the limit when
every hidden layer's lambda spreads out (max_j lambda_j -> 0, e.g. gamma = 1); a concentrated lambda below the last
hidden layer makes the limit random and this is not its mean.

The multipliers keep the network's own widths, so for parameterisations whose tangent kernel scales with the width
(``standard`` and ``mup``: Theta ~ n from the readout; ``meanfield``: ~ 1/n) the result is the width-n deterministic
equivalent: empirical / network_limit -> 1, the error falling like n^-1/2 for every parameterisation.  With K outputs
the kernel is Theta (x) I_K (independent readout rows): ``output=None`` gives (n1, n2, K, K) as ``empirical_ntk``
does, ``"mean"`` or an index the (n1, n2) kernel of one output.

Example:
    >>> import torch, ntklab
    >>> net = ntklab.MLP(3, [64, 64], parameterization="ntk", seed=0, dtype=torch.float64)
    >>> x = torch.randn(5, 3, dtype=torch.float64)
    >>> theta = ntklab.kernels.network_limit(net, x)
    >>> bool(torch.allclose(theta, theta.T)), theta.shape
    (True, torch.Size([5, 5]))
"""

from __future__ import annotations

import torch

from .._device import exact_float32
from .._errors import ConfigError, check_choice
from ..nets._mlp import MLP
from ..nets._shallow import ScaledShallowNet
from ._infinite import _inputs
from ._recursion import Layer, deep_kernels
from ._resolve import as_dual_activation

__all__ = ["network_limit"]


def _mlp_layers(net: MLP, lr_weighted: bool) -> tuple[list[Layer], Layer]:
    mult = net.lr_multipliers() if lr_weighted else {}
    layers = list(net.hidden) + [net.readout]
    names = [f"hidden.{i}" for i in range(len(net.hidden))] + ["readout"]
    out, mass = [], float(net.d)
    for layer, name in zip(layers, names):
        if getattr(layer, "init_std", None) is None:
            raise ConfigError("net", "this MLP does not record its initialisation scales (built by an older ntklab)",
                              allowed="an MLP built by this version")
        c2 = layer.multiplier ** 2
        a = c2 * layer.init_std ** 2 * mass
        g = c2 * mass * mult.get(f"{name}.weight", 1.0) if layer.weight.requires_grad else 0.0
        has_b = layer.bias is not None
        b = getattr(layer, "bias_init_std", None) ** 2 if has_b else 0.0
        e = mult.get(f"{name}.bias", 1.0) if has_b and layer.bias.requires_grad else 0.0
        out.append(Layer(A=a, B=b, P=a, G=g, E=e))
        if name != "readout":
            mass = float((layer.node_scale().double() ** 2).sum())
    return out[:-1], out[-1]


def _shallow_layers(net: ScaledShallowNet) -> tuple[list[Layer], Layer]:
    if not hasattr(net, "weight_std"):
        raise ConfigError("net", "this ScaledShallowNet does not record its initialisation scales",
                          allowed="a ScaledShallowNet built by this version")
    has_b = net.b is not None
    first = Layer(A=net.weight_std ** 2, B=net.bias_std ** 2 if has_b else 0.0, P=net.weight_std ** 2,
                  G=1.0 if net.W.requires_grad else 0.0, E=1.0 if has_b and net.b.requires_grad else 0.0)
    mass = float((net.node_scale().double() ** 2).sum())  # sum_j lambda_j mask_j^2; u_kj^2 = 1 (Rademacher)
    top = Layer(A=mass, B=0.0, P=mass, G=mass if net.u.requires_grad else 0.0, E=0.0)
    return [first], top


def _layout(kernel: torch.Tensor, output, K: int) -> torch.Tensor:
    if output is None and K > 1:
        eye = torch.eye(K, dtype=kernel.dtype, device=kernel.device)
        return kernel[:, :, None, None] * eye
    if output is None or output == "mean":
        return kernel
    if isinstance(output, bool) or not isinstance(output, int) or not 0 <= output < K:
        raise ConfigError("output", f"got {output!r}", allowed=f"None, 'mean', or an output index 0..{K - 1}")
    return kernel


@exact_float32()
def network_limit(net, x1, x2=None, *, kind: str = "ntk", output=None, lr_weighted: bool = False,
                  block_size: int = 512):
    """The infinite-width NNGP / NTK of ``net`` (module docstring), float64.

    ``kind`` is "ntk", "nngp" or "both" (the pair); ``lr_weighted`` weights each parameter by its learning-rate
    multiplier (the kernel of the training dynamics, as ``mlp_ntk(..., lr_weighted=True)``); shapes as
    :func:`ntklab.empirical_ntk`.
    """
    check_choice("kind", kind, ("ntk", "nngp", "both"))
    if isinstance(net, MLP):
        hidden, top = _mlp_layers(net, lr_weighted)
        d, K = net.d, net.out_dim
    elif isinstance(net, ScaledShallowNet):
        hidden, top = _shallow_layers(net)
        d, K = net.d, net.out_dim
    else:
        raise ConfigError("net", f"got {type(net).__name__}", allowed="an ntklab.MLP or ntklab.ScaledShallowNet "
                          "(for other architectures, infinite_kernel with neural-tangents' conventions)")
    x1 = _inputs(x1, "x1")
    sym = x2 is None
    x2 = x1 if sym else _inputs(x2, "x2", device=x1.device)
    for field, x in (("x1", x1), ("x2", x2)):
        if x.shape[1] != d:
            raise ConfigError(field, f"has {x.shape[1]} features but the network takes {d}", allowed=f"(n, {d})")
    act = as_dual_activation(net.activation)
    nngp, ntk = deep_kernels(act, x1, None if sym else x2, hidden, top, ntk=kind != "nngp", nngp=kind != "ntk",
                             block_size=block_size)
    nngp = None if nngp is None else _layout(nngp[0], output, K)
    ntk = None if ntk is None else _layout(ntk[0], output, K)
    return {"nngp": nngp, "ntk": ntk, "both": (nngp, ntk)}[kind]
