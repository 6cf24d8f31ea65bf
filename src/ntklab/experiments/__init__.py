"""Experiments: the paper recipes (presets), one folder per paper, and the catalogue that names them.

    asym/           Caron et al. 2023: asymmetrical node scaling, E1 (simulated) and E2-E4 (real data)
    regime/         lazy vs feature learning under ntk / standard / mup / meanfield / asymmetric scaling
    momentum/       Bu et al. 2021: GD, heavy ball, NAG against the NTK-linearised predictions
    conditioning/   Agarwal et al. 2021: conditioning of deep kernels; normalised relu against BatchNorm
    approximation/  Welper 2024, Gentile & Welper: approximation by GD-trained shallow networks

Recipes only use the library below them (data, nets, optim, kernels, dynamics, runs, report, ...); nothing in
the library imports a recipe.  May import: every layer below (1-9); never ``sweeps`` or the command line.  The
names below are imported on first use, so reading the catalogue (``_catalogue``) needs no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_PUBLIC = {"CATALOGUE": "_catalogue", "PRESETS": "_registry", "ExperimentResult": "_registry",
           "Preset": "_registry", "analyse_dir": "_registry", "get_preset": "_registry",
           "read_experiment": "_registry", "register_preset": "_registry", "resolve_options": "_registry",
           "run_preset": "_registry", "run_problems": "_registry", "report_experiment": "_report",
           "split_device": "_registry"}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'ntklab.experiments' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


if TYPE_CHECKING:
    from ._catalogue import CATALOGUE as CATALOGUE
    from ._registry import PRESETS as PRESETS
    from ._registry import ExperimentResult as ExperimentResult
    from ._registry import Preset as Preset
    from ._registry import analyse_dir as analyse_dir
    from ._registry import get_preset as get_preset
    from ._registry import read_experiment as read_experiment
    from ._registry import register_preset as register_preset
    from ._registry import resolve_options as resolve_options
    from ._registry import run_preset as run_preset
    from ._registry import run_problems as run_problems
    from ._registry import split_device as split_device
    from ._report import report_experiment as report_experiment
