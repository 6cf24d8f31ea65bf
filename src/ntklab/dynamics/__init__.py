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
