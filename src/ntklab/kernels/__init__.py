"""Kernels: empirical NTK (closed form and generic), the shallow mean kernel, spectra and drift."""

from ._empirical import empirical_ntk as empirical_ntk
from ._empirical_generic import empirical_ntk_generic as empirical_ntk_generic
from ._empirical_shallow import shallow_ntk as shallow_ntk
from ._empirical_mlp import mlp_ntk as mlp_ntk
from ._mean_kernel import gaussian_expectation_2d as gaussian_expectation_2d
from ._mean_kernel import shallow_mean_ntk as shallow_mean_ntk
from ._spectra import condition_number as condition_number
from ._spectra import kernel_drift as kernel_drift
from ._spectra import spectrum as spectrum
