r"""abc-parameterisations of deep networks (Yang & Hu 2021) and the optimiser groups they need.

A layer with weights w (fan-out x fan-in) computes h = n^{-a} * w x, draws w_ij ~ N(0, (s * n^{-b})^2) and
trains with learning rate eta * n^{-c}, where n is the layer's *width* dimension (the fan-out of the input
layer and of a bias, the fan-in of the hidden and output layers) and s a width-free constant (``weight_std``
for input and hidden layers, ``output_std`` for the readout, ``bias_std`` for biases).  The input dimension d is
fixed; its 1/sqrt(d) sits in the multiplier (``input_norm = "multiplier"``) or in the init (``"init"``).

Under SGD two tables give the same training dynamics iff they agree, layer by layer, on the init scale of the
effective weights a + b and on their effective learning rate 2a + c; (a, b, c) -> (a + t, b - t, c - 2t)
is a symmetry.  The four tables (exponents of n; input | hidden | output | bias):

    ntk        (0, 0, 0)  | (1/2, 0, 0)  | (1/2, 0, 0)  | (0, 0, 0)    lazy: features move O(n^{-1/2})
    standard   (0, 0, 0)  | (0, 1/2, 0)  | (0, 1/2, 0)  | (0, 0, 0)    1/d in the init; unstable at fixed lr
    mup        (0, 0, -1) | (0, 1/2, 0)  | (0, 1, 1)    | (0, 0, -1)   muP for SGD, per-layer lr multipliers
    meanfield  (0, 0, -1) | (1/2, 0, -1) | (1, 0, -1)   | (0, 0, -1)   1/n output, lr eta * n everywhere

``mup`` is Yang & Hu's muP written as Tensor Programs V (Table 3, SGD): standard-like storage, input weights and
biases at lr eta * n, the readout initialised at scale 1/n with lr eta / n.  ``meanfield`` is the same limit in
the mean-field form (1/n output multiplier): by the symmetry above the two train identically under SGD
(``tests/test_mlp_parameterizations.py`` checks this to rounding error).  The multipliers are derived for
plain or momentum SGD; Adam needs other tables, so :func:`parameter_groups` refuses it for mup / meanfield.

Example:
    >>> from ntklab.nets import abc_table
    >>> abc_table("mup").set_index("layer").loc["output", ["a", "b", "c"]].tolist()
    [0.0, 1.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._errors import ConfigError, check_choice

__all__ = ["PARAMETERIZATIONS", "LayerScaling", "Parameterization", "get_parameterization", "abc_table",
           "parameter_groups", "SGD_FAMILY"]

SGD_FAMILY = ("gd", "sgd", "momentum", "nesterov")


@dataclass(frozen=True)
class LayerScaling:
    """Exponents of the width n: multiplier n^{-a}, init std n^{-b}, learning-rate multiplier n^{-c}."""

    a: float
    b: float
    c: float

    def multiplier(self, n: int) -> float:
        return float(n) ** (-self.a)

    def std(self, n: int) -> float:
        return float(n) ** (-self.b)

    def lr_multiplier(self, n: int) -> float:
        return float(n) ** (-self.c)


@dataclass(frozen=True)
class Parameterization:
    name: str
    input: LayerScaling
    hidden: LayerScaling
    output: LayerScaling
    bias: LayerScaling
    input_norm: str  # where 1/sqrt(d) of the input layer goes: "multiplier" or "init"
    description: str


_TABLES = {
    "ntk": Parameterization(
        "ntk", LayerScaling(0, 0, 0), LayerScaling(0.5, 0, 0), LayerScaling(0.5, 0, 0), LayerScaling(0, 0, 0),
        "multiplier", "NTK (Jacot et al.): 1/sqrt(fan-in) multipliers, N(0, s^2) weights, one learning rate"),
    "standard": Parameterization(
        "standard", LayerScaling(0, 0, 0), LayerScaling(0, 0.5, 0), LayerScaling(0, 0.5, 0), LayerScaling(0, 0, 0),
        "init", "standard: N(0, s^2 / fan-in) weights, unit multipliers, one learning rate"),
    "mup": Parameterization(
        "mup", LayerScaling(0, 0, -1), LayerScaling(0, 0.5, 0), LayerScaling(0, 1, 1), LayerScaling(0, 0, -1),
        "multiplier", "muP for SGD (Yang & Hu): readout init 1/n with lr/n, input and biases at lr*n"),
    "meanfield": Parameterization(
        "meanfield", LayerScaling(0, 0, -1), LayerScaling(0.5, 0, -1), LayerScaling(1, 0, -1),
        LayerScaling(0, 0, -1), "multiplier", "mean field: 1/n output multiplier, lr*n on every layer"),
}
PARAMETERIZATIONS = tuple(_TABLES)
# the spellings of the literature, accepted for the canonical names
ALIASES = {"muP": "mup", "μP": "mup", "µP": "mup", "MUP": "mup", "NTK": "ntk", "SP": "standard", "sp": "standard",
           "mean-field": "meanfield", "mean_field": "meanfield", "MF": "meanfield", "mf": "meanfield"}


def canonical_parameterization(name):
    """``name`` with the literature's spellings (``muP``, ``μP``, ``SP``, ``mean-field``, ...) mapped to ntklab's."""
    return ALIASES.get(name, name) if isinstance(name, str) else name


def get_parameterization(name: str) -> Parameterization:
    """The (a, b, c) table of parameterisation ``name`` (``ntk``, ``standard``, ``mup``, ``meanfield``, or an alias)."""
    name = canonical_parameterization(name)
    check_choice("parameterization", name, PARAMETERIZATIONS)
    return _TABLES[name]


def abc_table(name: str | None = None) -> "pd.DataFrame":
    """The (a, b, c) exponents as a tidy frame: parameterization, layer, a, b, c, a+b (init), 2a+c (eff. lr)."""
    names = PARAMETERIZATIONS if name is None else (get_parameterization(name).name,)
    rows = []
    for nm in names:
        p = _TABLES[nm]
        for layer in ("input", "hidden", "output", "bias"):
            s = getattr(p, layer)
            rows.append({"parameterization": nm, "layer": layer, "a": float(s.a), "b": float(s.b),
                         "c": float(s.c), "init_exponent": float(s.a + s.b), "lr_exponent": float(2 * s.a + s.c)})
    import pandas as pd  # only for this table: importing ntklab.nets stays free of pandas

    return pd.DataFrame(rows)


def parameter_groups(model: torch.nn.Module, lr: float, *, params: dict | None = None,
                     optimizer: str = "gd") -> list[dict]:
    """One optimiser group per trainable parameter, ``lr`` times the model's multiplier for it.

    ``model.lr_multipliers()`` (name -> float) supplies the multipliers (a model without it gets 1 for every
    parameter).  ``params`` (name -> tensor) replaces the model's own tensors, e.g. stacked copies of them; the
    groups keep the order of ``params`` (or of ``named_parameters``) so optimiser states index alike.
    """
    fn = getattr(model, "lr_multipliers", None)
    mult = fn() if callable(fn) else {}
    pname = getattr(model, "parameterization", "ntk")
    if optimizer not in SGD_FAMILY and pname in ("mup", "meanfield"):
        raise ConfigError("optimizer.name", f"the {pname} learning-rate multipliers are derived for SGD, "
                          f"got {optimizer!r}", allowed=", ".join(SGD_FAMILY))
    if params is None:
        params = {k: p for k, p in model.named_parameters() if p.requires_grad}
    return [{"params": [p], "lr": lr * mult.get(k, 1.0), "name": k} for k, p in params.items()]
