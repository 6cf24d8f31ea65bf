"""Optimisers: the registry behind ``optimizer.name`` and Bu et al.'s GD, heavy ball, NAG and NAG-SC.

May import: ``ntklab._errors``, ``ntklab._registry`` (layer 1) and torch.  Nothing above: the training loop
(:mod:`ntklab.dynamics`) builds its optimiser from here.
"""

from ._factory import ELEMENTWISE as ELEMENTWISE
from ._factory import OPTIMIZERS as OPTIMIZERS
from ._factory import build_optimizer as build_optimizer
from ._factory import plain_descent_lr as plain_descent_lr
from ._factory import register_optimizer as register_optimizer
from ._momentum import GradientDescent as GradientDescent
from ._momentum import HeavyBall as HeavyBall
from ._momentum import Nesterov as Nesterov
from ._momentum import NesterovSC as NesterovSC
from ._momentum import nag_momentum as nag_momentum
