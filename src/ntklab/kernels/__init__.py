"""Kernels: empirical NTK (closed form and generic), the shallow mean kernel, spectra and drift, and the
infinite-width NNGP/NTK of deep fully connected networks for any activation (dual activations, Hermite coefficients):
``infinite_kernel`` in neural-tangents' conventions, ``network_limit`` from a built ntklab network.  Every dual is
exact (closed forms) or certified to 1e-13 (quadrature activations), else a KernelAccuracyError is raised.

Every kernel computes on its inputs' device, with float32 products at full precision (TF32 off:
:func:`ntklab._device.exact_float32`).

May import: layer 1 (``_errors``, ``_scratch``, ``_device``) and ``nets``; never ``config``, ``dynamics`` or
anything above.
"""

from ._empirical import empirical_ntk as empirical_ntk
from ._empirical_generic import empirical_ntk_generic as empirical_ntk_generic
from ._empirical_shallow import shallow_ntk as shallow_ntk
from ._empirical_mlp import mlp_ntk as mlp_ntk
from ._mean_kernel import shallow_mean_ntk as shallow_mean_ntk
from ._spectra import condition_number as condition_number
from ._spectra import kernel_drift as kernel_drift
from ._spectra import spectrum as spectrum

# infinite width: dual activations, Hermite coefficients, deep NNGP/NTK, random finite-width networks
from ._accuracy import DUAL_TOLERANCE as DUAL_TOLERANCE
from ._accuracy import KernelAccuracyError as KernelAccuracyError
from ._closed_forms import abrelu as abrelu
from ._closed_forms import leaky_relu as leaky_relu
from ._dual import DualActivation as DualActivation
from ._hermite import affine_activation as affine_activation
from ._hermite import hermite_coefficients as hermite_coefficients
from ._hermite import nonlinearity_degree as nonlinearity_degree
from ._hermite import normalize as normalize
from ._hermite import normalize as normalize_activation
from ._infinite import infinite_kernel as infinite_kernel
from ._network_limit import network_limit as network_limit
from ._resolve import ACTIVATION_NAMES as ACTIVATION_NAMES
from ._resolve import as_dual_activation as as_dual_activation
from ._resolve import dual_activation as dual_activation
from ._random_features import random_network_nngp as random_network_nngp

# the random infinite-width limit of the NTG under asymmetrical node scaling (gamma < 1)
from ._ntg_limit import node_grams as node_grams
from ._ntg_limit import ntg_limit as ntg_limit

# zonal spectra on the sphere, random-network functions, kernel regression and its predicted risk, effective ranks
from ._sphere_spectrum import ZonalSpectrum as ZonalSpectrum
from ._sphere_spectrum import gegenbauer as gegenbauer
from ._sphere_spectrum import harmonic_dimension as harmonic_dimension
from ._sphere_spectrum import harmonic_masses as harmonic_masses
from ._sphere_spectrum import on_cosines as on_cosines
from ._sphere_spectrum import zonal_spectrum as zonal_spectrum
from ._random_functions import random_network_outputs as random_network_outputs
from ._interpolation import Interpolation as Interpolation
from ._interpolation import SpectralRidge as SpectralRidge
from ._interpolation import min_norm_interpolation as min_norm_interpolation
from ._eigenlearning import KRRPrediction as KRRPrediction
from ._eigenlearning import krr_prediction as krr_prediction
from ._effective_rank import BenignTerms as BenignTerms
from ._effective_rank import benign_overfitting_terms as benign_overfitting_terms
from ._effective_rank import effective_ranks as effective_ranks
