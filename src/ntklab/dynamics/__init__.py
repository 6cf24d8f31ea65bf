"""Dynamics: the training loop and its probes, stacked multi-run training, the linearised network and its
function-space predictions (on training and test points, and the infinite-width ensembles), and rate fits.

The loop writes no files: it hands rows, checkpoints and results to a sink (the run store in
:mod:`ntklab.runs` is one).  May import: layer 1 (``_errors``, ``_io``, ``_threads``, ``_interrupt``, ...),
``data``, ``nets``, ``optim``, ``kernels`` and ``config``; never ``runs``, ``report``, ``experiments`` or
``sweeps``.
"""

from ._coord_check import activation_sizes as activation_sizes
from ._coord_check import coord_check as coord_check
from ._loop import DTYPES as DTYPES
from ._loop import ListSink as ListSink
from ._loop import LoopResult as LoopResult
from ._loop import LoopRun as LoopRun
from ._loop import LoopSink as LoopSink
from ._loop import batch_key as batch_key
from ._loop import train_group as train_group
from ._probes import ProbeState as ProbeState
from ._probes import risk as risk
from ._stacked import StackedModels as StackedModels
from ._linearized import LinearizedNetwork as LinearizedNetwork
from ._linearized import train_full_batch as train_full_batch
from ._predictions import FunctionSpaceModes as FunctionSpaceModes
from ._predictions import Prediction as Prediction
from ._predictions import StabilityWarning as StabilityWarning
from ._predictions import check_stability as check_stability
from ._predictions import flow_factors as flow_factors
from ._predictions import stability_bound as stability_bound
from ._test_points import EnsemblePrediction as EnsemblePrediction
from ._test_points import GPEnsemble as GPEnsemble
from ._test_points import TestPointPredictor as TestPointPredictor
from ._test_points import discrete_gains as discrete_gains
from ._test_points import flow_gains as flow_gains
from ._test_points import gp_ensemble as gp_ensemble
from ._test_points import gp_inference as gp_inference
from ._test_points import shallow_linearized_gd as shallow_linearized_gd
from ._rates import RateFit as RateFit
from ._rates import fit_linear_rate as fit_linear_rate
from ._rates import fit_power_law as fit_power_law
from ._rates import fit_rates as fit_rates
from ._rates import predicted_ode_rate as predicted_ode_rate
from ._rates import predicted_rate as predicted_rate
from ._rates import spectral_radius as spectral_radius

# the optimisers moved to ntklab.optim; these names stay importable from here
from ..optim import GradientDescent as GradientDescent  # noqa: E402
from ..optim import HeavyBall as HeavyBall  # noqa: E402
from ..optim import Nesterov as Nesterov  # noqa: E402
from ..optim import NesterovSC as NesterovSC  # noqa: E402
from ..optim import nag_momentum as nag_momentum  # noqa: E402
from ..optim import OPTIMIZERS as OPTIMIZERS  # noqa: E402
from ..optim import build_optimizer as build_optimizer  # noqa: E402
from ..optim import register_optimizer as register_optimizer  # noqa: E402
