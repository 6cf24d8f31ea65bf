"""Dynamics: optimisers, the training loop with probes, stacked multi-run training."""

from ._optimizers import OPTIMIZERS as OPTIMIZERS
from ._optimizers import build_optimizer as build_optimizer
from ._optimizers import register_optimizer as register_optimizer
from ._probes import ProbeState as ProbeState
from ._probes import risk as risk
from ._stacked import StackedModels as StackedModels
from ._train import batch_key as batch_key
from ._train import load_model as load_model
from ._train import train as train
from ._train import train_many as train_many
from ._momentum import GradientDescent as GradientDescent
from ._momentum import HeavyBall as HeavyBall
from ._momentum import Nesterov as Nesterov
from ._momentum import NesterovSC as NesterovSC
from ._momentum import nag_momentum as nag_momentum
from ._linearized import LinearizedNetwork as LinearizedNetwork
from ._linearized import train_full_batch as train_full_batch
from ._predictions import FunctionSpaceModes as FunctionSpaceModes
from ._predictions import Prediction as Prediction
from ._predictions import StabilityWarning as StabilityWarning
from ._predictions import check_stability as check_stability
from ._predictions import flow_factors as flow_factors
from ._predictions import stability_bound as stability_bound
