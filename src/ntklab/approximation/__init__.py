"""Approximation by gradient-trained networks (Welper; Gentile & Welper): continuous L2 losses, targets,
1-d shallow nets trained by GD, spline baselines, rates and diagnostics.

May import: layer 1 (``_errors``, ``_fits``, ``_threads``), ``data`` and ``nets``; nothing above.
"""

from ._quadrature import Quadrature as Quadrature
from ._quadrature import gauss_legendre as gauss_legendre
from ._quadrature import sphere_area as sphere_area
from ._quadrature import sphere_monte_carlo as sphere_monte_carlo
from ._splines import hat_basis as hat_basis
from ._splines import interpolant_error as interpolant_error
from ._splines import projection_error as projection_error
from ._splines import spline_errors as spline_errors
from ._splines import uniform_knots as uniform_knots
from ._targets import TARGET_DOMAINS as TARGET_DOMAINS
from ._targets import TARGETS as TARGETS
from ._targets import Target as Target
from ._targets import harmonic_dimension as harmonic_dimension
from ._targets import make_target as make_target
from ._targets import target_from_callable as target_from_callable
from ._net1d import BREAKPOINT_INITS as BREAKPOINT_INITS
from ._net1d import OUTPUT_INITS as OUTPUT_INITS
from ._net1d import PARAMS as PARAMS
from ._net1d import SCALINGS as SCALINGS
from ._net1d import ShallowNet1d as ShallowNet1d
from ._net1d import init_params as init_params
from ._stack import NetStack as NetStack
from ._segments import SegmentLoss as SegmentLoss
from ._descent import DescentResult as DescentResult
from ._descent import descend as descend
from ._gd import GDResult as GDResult
from ._gd import diverging as diverging
from ._gd import gd_train as gd_train
from ._measures import breakpoint_mass as breakpoint_mass
from ._measures import loglog_fit as loglog_fit
from ._measures import ntk_jacobian as ntk_jacobian
from ._measures import ntk_spectrum as ntk_spectrum
from ._measures import relative_weight_change as relative_weight_change
from ._study import width_sweep as width_sweep
from ._sphere import sphere_init as sphere_init
from ._sphere import sphere_width_sweep as sphere_width_sweep
from ._sphere import sphere_forward as sphere_forward
from ._sphere import sphere_vjp as sphere_vjp
from ._sphere import deep_features as deep_features
from ._sphere import SphereLoss as SphereLoss
