r"""The data of ``deep-learnability``: points on the sphere and the functions of random deep networks on them.

Inputs: N = n_pool + n_test points x_i uniform on S^{d-1} (``sphere_points(N, d, seed=data_seed)``); the first
n_pool are the training pool (every learner's n training points are its first n), the last n_test the test points.

Targets: for each activation and seed s, one random network of width m and depth ``max_depth`` on inputs x sqrt(d)
(so the input covariance x.x'/d is the cosine), with ``outputs`` independent readouts per depth
(:func:`ntklab.kernels.random_network_outputs`): f_L(x) for L = 1..max_depth, each a draw of a process with
covariance K-hat^(L) -> sigma-hat^{o L}(<x, x'>).  Activations: normalised relu, normalised tanh and centred gelu
(mean 0, E sigma^2 = 1 under N(0, 1), weight variance 1) and plain relu (He: weight variance 2, mean 1/sqrt(2 pi)
!= 0), as in ``conditioning``.  The learners fit centred targets: each column minus its mean over the training pool
(a finite network's output has a random constant part of size O(1/sqrt(m)) even for a centred sigma, which any
learner fits at once; the claims are about the rest).

``random_network_targets`` is the same data as a registered data source (``data.name = "random_network_targets"``)
for the trained shallow network: its train split is the first ``n_train`` pool points, its test split the test
points, both centred as above, inputs scaled to norm ``input_scale`` sqrt(d).

Example:
    >>> from ntklab.data import load_dataset
    >>> ds = load_dataset("random_network_targets", n_train=20, n_pool=30, n_test=10, d=5, depth=2, width=16,
    ...                   outputs=3, seed=0)
    >>> tuple(ds.x_train.shape), tuple(ds.y_test.shape)
    ((20, 5), (10, 3))
"""

from __future__ import annotations

import math
import torch

from ..._errors import ConfigError, check_choice
from ...data import Dataset, register_dataset, sphere_points
from ...kernels import normalize, random_network_outputs

__all__ = ["TARGET_ACTIVATIONS", "CENTRED", "target_activation", "sphere_inputs", "target_outputs",
           "random_network_targets"]

# label -> (activation, weight_var); plain relu He-scaled so that the variance stays 1 along depth
TARGET_ACTIVATIONS = {
    "normalized_relu": ("normalized_relu", 1.0),
    "normalized_tanh": ("normalized_tanh", 1.0),
    "centred_gelu": ("centred_gelu", 1.0),
    "relu": ("relu", 2.0),
}
CENTRED = ("normalized_relu", "normalized_tanh", "centred_gelu")


def target_activation(label: str):
    """(activation, weight_var) of a target label (tanh and gelu through ``normalize``)."""
    check_choice("activation", label, tuple(TARGET_ACTIVATIONS))
    act, wv = TARGET_ACTIVATIONS[label]
    if label in ("normalized_tanh", "centred_gelu"):
        act = normalize(label.split("_")[1], name=label)
    return act, wv


def sphere_inputs(n_pool: int, n_test: int, d: int, data_seed: int) -> torch.Tensor:
    """The (n_pool + n_test, d) unit-norm points: training pool first, test points last."""
    return sphere_points(n_pool + n_test, d, seed=data_seed)


_CACHE: dict[tuple, torch.Tensor] = {}  # (label, seed, n_pool, n_test, d, width, outputs, data_seed) -> all depths
_CACHE_SIZE = 16


def target_outputs(label: str, seed: int, *, depth: int, n_pool: int, n_test: int, d: int, width: int, outputs: int,
                   data_seed: int = 0) -> torch.Tensor:
    """f_l(x) for l = 1..depth on the pool and test points: (depth, N, outputs), float64, not centred.

    Depth l's values do not depend on ``depth`` (each depth has its own readouts), so one forward pass to the
    deepest depth asked for so far serves every shallower one (kept for the last 16 networks)."""
    key = (label, int(seed), int(n_pool), int(n_test), int(d), int(width), int(outputs), int(data_seed))
    have = _CACHE.get(key)
    if have is None or have.shape[0] < depth:
        x = sphere_inputs(n_pool, n_test, d, data_seed) * math.sqrt(d)
        act, wv = target_activation(label)
        have = random_network_outputs(x, depth=int(depth), activation=act, weight_var=wv, width=int(width),
                                      seed=int(seed), outputs=int(outputs), all_depths=True, dtype=torch.float32)
        _CACHE.pop(key, None)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = have
    return have[:depth].clone()


def random_network_targets(*, n_train: int = 1000, n_pool: int = 2000, n_test: int = 2000, d: int = 20,
                           depth: int = 1, activation: str = "normalized_relu", width: int = 1024, outputs: int = 8,
                           seed: int = 0, data_seed: int = 0, input_scale: float = 1.0) -> Dataset:
    """Centred f_depth on the first ``n_train`` pool points (train) and the test points (module docstring)."""
    for name, v in (("n_train", n_train), ("n_pool", n_pool), ("n_test", n_test), ("d", d), ("depth", depth),
                    ("width", width), ("outputs", outputs)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"data.{name}", f"got {v!r}", allowed="integers >= 1")
    if n_train > n_pool:
        raise ConfigError("data.n_train", f"got {n_train} > n_pool {n_pool}", allowed=f"[1, {n_pool}]")
    if not input_scale > 0:
        raise ConfigError("data.input_scale", f"got {input_scale!r}", allowed="(0, inf)")
    check_choice("data.activation", activation, tuple(TARGET_ACTIVATIONS))
    y = target_outputs(activation, seed, depth=depth, n_pool=n_pool, n_test=n_test, d=d, width=width,
                       outputs=outputs, data_seed=data_seed)[depth - 1]
    y = y - y[:n_pool].mean(0)
    x = sphere_inputs(n_pool, n_test, d, data_seed) * (input_scale * math.sqrt(d))
    return Dataset("random_network_targets", x[:n_train], y[:n_train], x[n_pool:], y[n_pool:],
                   extra={"activation": activation, "depth": depth})


register_dataset("random_network_targets", random_network_targets)
