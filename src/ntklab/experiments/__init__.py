"""Experiments: the paper recipes (presets), one folder per paper, and the catalogue that names them.

    asym/           Caron et al. 2023: asymmetrical node scaling, E1 (simulated) and E2-E4 (real data)
    regime/         lazy vs feature learning under ntk / standard / mup / meanfield / asymmetric scaling
    momentum/       Bu et al. 2021: GD, heavy ball, NAG against the NTK-linearised predictions
    conditioning/   Agarwal et al. 2021: conditioning of deep kernels; normalised relu against BatchNorm
    approximation/  Welper 2024, Gentile & Welper: approximation by GD-trained shallow networks

Recipes only use the library below them (data, nets, optim, kernels, dynamics, runs, report, ...); nothing in
the library imports a recipe.  May import: every layer below (1-7); never ``sweeps`` or the command line.
"""

from ._registry import CATALOGUE as CATALOGUE
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
from ._report import report_experiment as report_experiment
