r"""Activations for the infinite-width kernels: by name, as ``ntklab.nets.Activation``, or any torch callable.

Names: relu, normalized_relu (= normalize(relu)), erf, identity, abs, sin (closed-form duals) and tanh, gelu,
softplus (Gauss–Hermite / Mehler).  ``dual_activation`` evaluates

    sigma-hat(rho; v1, v2) = E[sigma(u) sigma(v)],   (u, v) ~ N(0, [[v1, rho sqrt(v1 v2)], [rho sqrt(v1 v2), v2]])

(or E[sigma'(u) sigma'(v)]), the map that one hidden layer applies to the pre-activation covariance.

Example:
    >>> import torch
    >>> from ntklab.kernels import dual_activation
    >>> rho = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    >>> dual_activation("identity", rho, 2.0, 2.0)
    tensor([0., 1., 2.], dtype=torch.float64)
"""

from __future__ import annotations

import torch

from .._errors import ConfigError, check_choice
from ..nets._activations import ACTIVATIONS, Activation
from ._dual import CLOSED_FORMS, DualActivation, normalized
from ._mehler import QuadratureActivation

__all__ = ["ACTIVATION_NAMES", "as_dual_activation", "dual_activation"]

ACTIVATION_NAMES = ("relu", "normalized_relu", "tanh", "erf", "gelu", "identity", "softplus", "abs", "sin")


def _builtin(name: str) -> DualActivation:
    if name in CLOSED_FORMS:
        return CLOSED_FORMS[name]()
    if name == "normalized_relu":
        return normalized(CLOSED_FORMS["relu"](), "normalized_relu")
    act = ACTIVATIONS[name]
    return QuadratureActivation(act.fn, act.derivative, name=name)


def as_dual_activation(activation) -> DualActivation:
    """A name (``ACTIVATION_NAMES``), an ``ntklab.nets.Activation``, a DualActivation, or a torch callable."""
    if isinstance(activation, DualActivation):
        return activation
    if isinstance(activation, str):
        check_choice("activation", activation, ACTIVATION_NAMES)
        return _builtin(activation)
    if isinstance(activation, Activation):
        if activation.name in ACTIVATION_NAMES:
            return _builtin(activation.name)
        return QuadratureActivation(activation.fn, activation.derivative, name=activation.name)
    if callable(activation):
        return QuadratureActivation(activation, None, name=getattr(activation, "__name__", "callable"))
    raise ConfigError("activation", f"got {activation!r}",
                      allowed=", ".join(repr(n) for n in ACTIVATION_NAMES) + ", or a callable on torch tensors")


def _finite64(field: str, a) -> torch.Tensor:
    a = torch.as_tensor(a, dtype=torch.float64)
    if not torch.isfinite(a).all():
        raise ConfigError(field, "contains NaN or inf", allowed="finite values")
    return a


def dual_activation(activation, rho, var1=1.0, var2=1.0, *, derivative: bool = False) -> torch.Tensor:
    """E[sigma(u) sigma(v)] (``derivative=True``: E[sigma'(u) sigma'(v)]), elementwise over broadcast inputs."""
    act = as_dual_activation(activation)
    rho, v1, v2 = _finite64("rho", rho), _finite64("var1", var1), _finite64("var2", var2)
    if (v1 < 0).any() or (v2 < 0).any():
        raise ConfigError("var1/var2", "negative variance", allowed="[0, inf)")
    if (rho.abs() > 1).any():
        raise ConfigError("rho", "correlation outside [-1, 1]", allowed="[-1, 1]")
    act.second_moment(torch.cat([v1.reshape(-1), v2.reshape(-1)]))  # refuses infinite second moments
    dual, ddual = act.duals(v1, rho * torch.sqrt(v1 * v2), v2, derivative=derivative)
    return ddual if derivative else dual
