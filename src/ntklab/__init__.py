"""ntklab: wide neural networks between the lazy (NTK) regime and feature learning.

The public surface, grouped; implementations live in the private modules of each subpackage.  Every name is
imported on first use (PEP 562), so ``import ntklab`` and the command line start without loading torch, pandas
or matplotlib until they are needed; ``dir(ntklab)`` and static type checkers see every name.

Example:
    >>> import ntklab
    >>> lam = ntklab.node_scaling(100, kind="zipf", gamma=0.5, alpha=0.7)
    >>> round(float(lam.sum()), 12)
    1.0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the subpackage (or module) it comes from, in groups
_PUBLIC = {
    # networks and parameterisations
    "ScaledShallowNet": "nets", "node_scaling": "nets", "get_activation": "nets", "MLP": "nets",
    "parameter_groups": "nets", "abc_table": "nets",
    # kernels
    "empirical_ntk": "kernels", "empirical_ntk_generic": "kernels", "shallow_mean_ntk": "kernels",
    "kernel_drift": "kernels", "spectrum": "kernels", "condition_number": "kernels", "infinite_kernel": "kernels",
    "dual_activation": "kernels", "hermite_coefficients": "kernels", "normalize_activation": "kernels",
    "nonlinearity_degree": "kernels", "network_limit": "kernels", "KernelAccuracyError": "kernels",
    # data
    "Dataset": "data", "load_dataset": "data", "sphere_sin": "data",
    # configuration, training and the run store
    "ConfigError": "_errors", "RunConfig": "config", "load_config": "config", "train": "runs",
    "train_many": "runs", "load_model": "runs", "Run": "runs", "load_run": "runs", "load_runs": "runs",
}
# subpackages reachable as attributes (ntklab.approximation, ntklab.prune, ...)
_SUBPACKAGES = ("approximation", "prune", "transfer", "nets", "kernels", "data", "dynamics", "optim", "runs",
                "report", "experiments", "sweeps", "config")

__all__ = sorted(_PUBLIC) + ["approximation", "prune", "transfer"]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'ntklab' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC) | set(_SUBPACKAGES))


if TYPE_CHECKING:  # the same names, spelled out for type checkers and IDEs
    from . import approximation as approximation
    from . import prune as prune
    from . import transfer as transfer
    from ._errors import ConfigError as ConfigError
    from .config import RunConfig as RunConfig
    from .config import load_config as load_config
    from .data import Dataset as Dataset
    from .data import load_dataset as load_dataset
    from .data import sphere_sin as sphere_sin
    from .kernels import KernelAccuracyError as KernelAccuracyError
    from .kernels import condition_number as condition_number
    from .kernels import dual_activation as dual_activation
    from .kernels import empirical_ntk as empirical_ntk
    from .kernels import empirical_ntk_generic as empirical_ntk_generic
    from .kernels import hermite_coefficients as hermite_coefficients
    from .kernels import infinite_kernel as infinite_kernel
    from .kernels import kernel_drift as kernel_drift
    from .kernels import network_limit as network_limit
    from .kernels import nonlinearity_degree as nonlinearity_degree
    from .kernels import normalize_activation as normalize_activation
    from .kernels import shallow_mean_ntk as shallow_mean_ntk
    from .kernels import spectrum as spectrum
    from .nets import MLP as MLP
    from .nets import ScaledShallowNet as ScaledShallowNet
    from .nets import abc_table as abc_table
    from .nets import get_activation as get_activation
    from .nets import node_scaling as node_scaling
    from .nets import parameter_groups as parameter_groups
    from .runs import Run as Run
    from .runs import load_model as load_model
    from .runs import load_run as load_run
    from .runs import load_runs as load_runs
    from .runs import train as train
    from .runs import train_many as train_many
