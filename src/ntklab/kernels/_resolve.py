r"""Activations for the infinite-width kernels: by name, as ``ntklab.nets.Activation``, or any torch callable.

Names with closed-form duals: relu, normalized_relu (= normalize(relu)), erf, gelu, identity, abs, sin, leaky_relu
(negative slope 0.01, torch's default); with parameters, ``"leaky_relu(0.1)"`` and ``"abrelu(a, b)"`` (= a min(z, 0)
+ b max(z, 0)), also as :func:`leaky_relu` / :func:`abrelu`.  tanh, softplus and any torch callable go through the
Mehler series and bivariate quadrature (:mod:`ntklab.kernels._mehler`).  ``dual_activation`` evaluates

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

import re

import torch

from .._device import as_float64
from .._errors import ConfigError
from ..nets._activations import ACTIVATIONS, Activation
from ._closed_forms import CLOSED_FORMS, abrelu, leaky_relu
from ._dual import DualActivation, normalized
from ._mehler import QuadratureActivation

__all__ = ["ACTIVATION_NAMES", "as_dual_activation", "dual_activation"]

ACTIVATION_NAMES = ("relu", "normalized_relu", "tanh", "erf", "gelu", "identity", "softplus", "abs", "sin",
                    "leaky_relu")
_NUMBER = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_PARAMETERISED = {"leaky_relu": (re.compile(rf"leaky_relu\({_NUMBER}\)"), leaky_relu),
                  "abrelu": (re.compile(rf"abrelu\({_NUMBER},{_NUMBER}\)"), abrelu)}


def _parameterised(spec: str) -> DualActivation | None:
    """``"leaky_relu(0.1)"`` or ``"abrelu(-0.5, 1)"`` (None for any other string)."""
    for pattern, make in _PARAMETERISED.values():
        m = pattern.fullmatch(spec.strip())
        if m:
            return make(*(float(g) for g in m.groups()))
    return None


def _softplus(z: torch.Tensor) -> torch.Tensor:
    """log(1 + e^z) to rounding: torch's ``softplus`` returns z itself above its threshold 20 (off by up to
    e^-20 = 2e-9, a jump that the 1e-13 quadrature would have to resolve)."""
    return torch.logaddexp(z, torch.zeros_like(z))


def _builtin(name: str) -> DualActivation:
    if name in CLOSED_FORMS:
        return CLOSED_FORMS[name]()
    if name == "normalized_relu":
        return normalized(CLOSED_FORMS["relu"](), "normalized_relu")
    if name == "softplus":
        return QuadratureActivation(_softplus, torch.sigmoid, name=name)
    act = ACTIVATIONS[name]
    return QuadratureActivation(act.fn, act.derivative, name=name)


def as_dual_activation(activation) -> DualActivation:
    """A name (``ACTIVATION_NAMES``, ``"leaky_relu(s)"``, ``"abrelu(a, b)"``), an ``ntklab.nets.Activation``, a
    DualActivation, or a torch callable."""
    if isinstance(activation, DualActivation):
        return activation
    if isinstance(activation, str):
        made = _parameterised(activation)
        if made is not None:
            return made
        if activation not in ACTIVATION_NAMES:
            raise ConfigError("activation", f"got {activation!r}", allowed=", ".join(
                repr(n) for n in ACTIVATION_NAMES) + ", 'leaky_relu(slope)', 'abrelu(a, b)'")
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
    a = as_float64(a)
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
