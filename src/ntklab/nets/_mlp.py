r"""Deep MLP under an explicit abc-parameterisation, with asymmetrical node scaling in every hidden layer.

With L hidden layers of widths n_1..n_L, input x^0 = x in R^d and activation sigma:

    h^l = c_l W^l x^{l-1} + b^l,      x^l = sqrt(n_l lambda^(l)) * sigma(h^l)      (l = 1..L)
    f(x) = c_{L+1} W^{L+1} x^L

The multipliers c_l, the init scales of W^l ~ N(0, std_l^2) and the per-layer learning-rate multipliers come
from the parameterisation's (a, b, c) table (:mod:`ntklab.nets._parameterizations`).  The node scalings
lambda^(l) (sum_j lambda_j = 1; any :func:`ntklab.node_scaling` kind) multiply node j's output by
sqrt(n_l lambda_j), which is 1 for lambda = 1/n (gamma = 1) and leaves the parameterisation unchanged; under
``"ntk"`` the next layer's 1/sqrt(n_l) then gives exactly sqrt(lambda_j), the node scaling of Caron et al.
(their deep L option).  With one hidden layer and ``"ntk"``, f is :class:`~ntklab.ScaledShallowNet`.

Everything that defines the scaling is a constructor argument or a buffer (``lambdas`` of each hidden layer),
so ``torch.save``/``load``, ``torch.func`` and ``torch.compile`` see a plain module; no attribute is attached to
a tensor.  ``trainable`` names parameter families as the shallow net does: ``W`` the hidden-layer weights
(input and hidden-to-hidden), ``u`` the readout, ``b`` the hidden biases (the readout has no bias).

Example:
    >>> import torch, ntklab
    >>> net = ntklab.MLP(10, [64, 64], 1, parameterization="mup", seed=0, dtype=torch.float64,
    ...                  node_scaling={"kind": "zipf", "gamma": 0.5, "alpha": 0.7})
    >>> net(torch.randn(3, 10, dtype=torch.float64)).shape, net.node_weights().shape
    (torch.Size([3, 1]), torch.Size([64, 10]))
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import nn

from .._errors import ConfigError, check_choice, check_range
from ._activations import ACTIVATIONS, get_activation
from ._node_scaling import node_scaling as make_node_scaling
from ._parameterizations import get_parameterization

__all__ = ["MLP"]

_FAMILIES = ("W", "u", "b")


class _Dense(nn.Module):
    """h = multiplier * x W^T (+ bias); float constants come from the constructor."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, *, multiplier: float, lr_multiplier: float,
                 bias_lr_multiplier: float, lambdas: torch.Tensor | None, init_std: float | None = None,
                 bias_init_std: float | None = None):
        super().__init__()
        self.fan_out, self.fan_in = weight.shape
        self.multiplier = float(multiplier)
        # the standard deviations the entries of weight and bias were drawn with (read by the infinite-width limit)
        self.init_std = None if init_std is None else float(init_std)
        self.bias_init_std = None if bias_init_std is None or bias is None else float(bias_init_std)
        self.lr_multiplier = float(lr_multiplier)
        self.bias_lr_multiplier = float(bias_lr_multiplier)
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)
        if lambdas is not None:
            self.register_buffer("lambdas", lambdas)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.multiplier * (x @ self.weight.T)
        return h if self.bias is None else h + self.bias

    def node_scale(self) -> torch.Tensor:
        """sqrt(n lambda_j): 1 for every node under lambda = 1/n."""
        return torch.sqrt(self.fan_out * self.lambdas)

    def extra_repr(self) -> str:
        return f"{self.fan_in} -> {self.fan_out}, multiplier={self.multiplier:.4g}, lr x{self.lr_multiplier:.4g}"


def _check_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(name, f"got {v!r}", allowed="integers >= 1")
    return v


def check_mlp_arguments(d, widths, out_dim, *, stds: dict, trainable: Iterable[str], bias: bool) -> tuple:
    """Validated (widths as a list, trainable families as a tuple) of a deep network's constructor arguments:
    positive integer sizes, non-negative init scales ``stds`` (name -> value), a non-empty subset of W, u, b that
    trains something."""
    widths = [widths] if isinstance(widths, int) and not isinstance(widths, bool) else list(widths)
    if not widths:
        raise ConfigError("widths", "no hidden layer", allowed="one or more integers >= 1")
    _check_int("d", d), _check_int("out_dim", out_dim)
    for w in widths:
        _check_int("widths", w)
    for name, v in stds.items():
        check_range(name, float(v), 0.0)
    trainable = tuple(dict.fromkeys(trainable))
    for t in trainable:
        check_choice("trainable", t, _FAMILIES)
    if not trainable or trainable == ("b",) and not bias:
        raise ConfigError("trainable", "no parameter would train", allowed="a non-empty subset of W, u, b")
    return widths, trainable


def _resolve_lambdas(node_scaling, widths: list[int], seed: int | None) -> list[torch.Tensor]:
    """None | tensor (every layer) | one entry per hidden layer | dict of node_scaling arguments."""
    L = len(widths)
    if node_scaling is None:
        entries: list = [None] * L
    elif isinstance(node_scaling, dict):
        kw = dict(node_scaling)
        base = kw.pop("seed", seed)
        entries = [make_node_scaling(n, **kw, seed=None if base is None else base + 7919 * (l + 1))
                   for l, n in enumerate(widths)]
    elif isinstance(node_scaling, torch.Tensor):
        entries = [node_scaling] * L
    elif isinstance(node_scaling, (list, tuple)) and len(node_scaling) == L:
        entries = list(node_scaling)
    else:
        raise ConfigError("node_scaling", f"got {type(node_scaling).__name__}",
                          allowed=f"None, a tensor, {L} tensors (one per hidden layer) or a dict of node_scaling args")
    out = []
    for l, (lam, n) in enumerate(zip(entries, widths)):
        lam = (torch.full((n,), 1.0 / n, dtype=torch.float64, device="cpu") if lam is None
               else torch.as_tensor(lam, device="cpu").double())
        if lam.shape != (n,):
            raise ConfigError("node_scaling", f"layer {l + 1}: shape {tuple(lam.shape)} does not match width {n}")
        if not torch.isfinite(lam).all() or (lam < 0).any():
            raise ConfigError("node_scaling", f"layer {l + 1}: lambdas must be finite and non-negative")
        out.append(lam)
    return out


def _hidden_layers(table, d: int, widths: list[int], lambdas: list[torch.Tensor], *, weight_std: float,
                   bias_std: float | None, gen, dtype) -> list[_Dense]:
    """The input and hidden-to-hidden layers, scaled by the table (draws in a fixed order from ``gen``)."""
    layers, fan_in = [], d
    for l, n in enumerate(widths):
        sc = table.input if l == 0 else table.hidden
        n_sc = n if l == 0 else fan_in  # the width dimension: fan-out of the input layer, else fan-in
        mult, std = sc.multiplier(n_sc), weight_std * sc.std(n_sc)
        if l == 0:  # the fixed input dimension's 1/sqrt(d): in the multiplier or in the init
            mult *= 1.0 / math.sqrt(d) if table.input_norm == "multiplier" else 1.0
            std *= 1.0 / math.sqrt(d) if table.input_norm == "init" else 1.0
        w = torch.randn(n, fan_in, generator=gen, dtype=torch.float64, device="cpu") * std
        b = None
        if bias_std is not None:
            b = torch.randn(n, generator=gen, dtype=torch.float64, device="cpu") * bias_std * table.bias.std(n)
            b = b.to(dtype)
        layers.append(_Dense(w.to(dtype), b, multiplier=mult, lr_multiplier=sc.lr_multiplier(n_sc),
                             bias_lr_multiplier=table.bias.lr_multiplier(n), lambdas=lambdas[l].to(dtype),
                             init_std=std, bias_init_std=None if bias_std is None else bias_std * table.bias.std(n)))
        fan_in = n
    return layers


class MLP(nn.Module):
    """f(x) = c_{L+1} W^{L+1} x^L with x^l = sqrt(n_l lambda^(l)) sigma(c_l W^l x^{l-1} + b^l)."""

    def __init__(
        self,
        d: int,
        widths: Sequence[int] | int,
        out_dim: int = 1,
        *,
        parameterization: str = "ntk",
        activation: str = "relu",
        bias: bool = False,
        node_scaling=None,
        weight_std: float = math.sqrt(2.0),
        bias_std: float = 1.0,
        output_std: float = 1.0,
        output_init: str = "gaussian",
        trainable: Iterable[str] = _FAMILIES,
        seed: int | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        widths, trainable = check_mlp_arguments(
            d, widths, out_dim, stds={"weight_std": weight_std, "bias_std": bias_std, "output_std": output_std},
            trainable=trainable, bias=bias)
        check_choice("output_init", output_init, ("gaussian", "rademacher"))
        table = get_parameterization(parameterization)
        self.parameterization, self.activation, self.has_bias = table.name, activation, bias
        self.d, self.widths, self.out_dim, self.trainable = d, tuple(widths), out_dim, trainable
        get_activation(activation)  # validates the name; the function is looked up by name (picklable module)
        lambdas = _resolve_lambdas(node_scaling, widths, seed)
        gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
        layers = _hidden_layers(table, d, widths, lambdas, weight_std=weight_std, bias_std=bias_std if bias else None,
                                gen=gen, dtype=dtype)
        fan_in = widths[-1]
        if output_init == "gaussian":
            u = torch.randn(out_dim, fan_in, generator=gen, dtype=torch.float64, device="cpu")
        else:
            u = torch.randint(0, 2, (out_dim, fan_in), generator=gen, device="cpu").to(torch.float64) * 2 - 1
        u = u * output_std * table.output.std(fan_in)
        self.hidden = nn.ModuleList(layers)
        self.readout = _Dense(u.to(dtype), None, multiplier=table.output.multiplier(fan_in),
                              lr_multiplier=table.output.lr_multiplier(fan_in), bias_lr_multiplier=1.0, lambdas=None,
                              init_std=output_std * table.output.std(fan_in))
        self.weight_std, self.bias_std, self.output_std = float(weight_std), float(bias_std), float(output_std)
        self.output_init = output_init
        for name, p in self.named_parameters():
            p.requires_grad_(self._family(name) in trainable)

    @property
    def _act(self):
        return ACTIVATIONS[self.activation]

    @staticmethod
    def _family(name: str) -> str:
        return "u" if name.startswith("readout.") else ("b" if name.endswith(".bias") else "W")

    def extra_repr(self) -> str:
        return (f"d={self.d}, widths={list(self.widths)}, out_dim={self.out_dim}, "
                f"parameterization={self.parameterization!r}, activation={self.activation!r}, "
                f"bias={self.has_bias}, trainable={self.trainable}")

    @property
    def depth(self) -> int:
        return len(self.hidden)

    @property
    def lambdas(self) -> torch.Tensor:
        """Node scalings of the first hidden layer (the layer whose nodes the probes track)."""
        return self.hidden[0].lambdas

    def layer_lambdas(self) -> list[torch.Tensor]:
        return [layer.lambdas for layer in self.hidden]

    def node_weights(self) -> torch.Tensor:
        """Incoming weights of the first hidden layer's nodes, shape (n_1, d)."""
        return self.hidden[0].weight

    def lr_multipliers(self) -> dict[str, float]:
        """Learning-rate multiplier n^{-c} of every trainable parameter (see :func:`parameter_groups`)."""
        out = {}
        for name, p in self.named_parameters():
            if p.requires_grad:
                layer = self.get_submodule(name.rsplit(".", 1)[0])
                out[name] = layer.bias_lr_multiplier if name.endswith(".bias") else layer.lr_multiplier
        return out

    def trace(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per layer (hidden layers, then the readout): its input x^{l-1} and its pre-activation h^l."""
        inputs, pre = [], []
        for layer in self.hidden:
            inputs.append(x)
            h = layer(x)
            pre.append(h)
            x = self._act(h) * layer.node_scale()
        inputs.append(x)
        pre.append(self.readout(x))
        return inputs, pre

    def hidden_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x^1, ..., x^L (after node scaling) and the output f: the coordinates a coord check measures."""
        inputs, pre = self.trace(x)
        return inputs[1:] + [pre[-1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = self._act(layer(x)) * layer.node_scale()
        return self.readout(x)
