"""ntklab: wide neural networks between the lazy (NTK) regime and feature learning.

The public surface, grouped; implementations live in the private modules of each subpackage.
"""

# networks and parameterisations
from .nets import ScaledShallowNet as ScaledShallowNet
from .nets import node_scaling as node_scaling
from .nets import get_activation as get_activation
from .nets import MLP as MLP
from .nets import parameter_groups as parameter_groups
from .nets import abc_table as abc_table

# kernels
from .kernels import empirical_ntk as empirical_ntk
from .kernels import empirical_ntk_generic as empirical_ntk_generic
from .kernels import shallow_mean_ntk as shallow_mean_ntk
from .kernels import kernel_drift as kernel_drift
from .kernels import spectrum as spectrum
from .kernels import condition_number as condition_number
from .kernels import infinite_kernel as infinite_kernel
from .kernels import dual_activation as dual_activation
from .kernels import hermite_coefficients as hermite_coefficients
from .kernels import normalize_activation as normalize_activation
from .kernels import nonlinearity_degree as nonlinearity_degree
from .kernels import network_limit as network_limit
from .kernels import KernelAccuracyError as KernelAccuracyError

# approximation by GD-trained networks (Welper)
from . import approximation as approximation

# data
from .data import Dataset as Dataset
from .data import load_dataset as load_dataset
from .data import sphere_sin as sphere_sin

# configuration, training and the run store
from ._errors import ConfigError as ConfigError
from .config import RunConfig as RunConfig
from .config import load_config as load_config
from .runs import train as train
from .runs import train_many as train_many
from .runs import load_model as load_model
from .runs import Run as Run
from .runs import load_run as load_run
from .runs import load_runs as load_runs

__version__ = "0.1.0"

# pruning and transfer (Caron et al.)
from . import prune as prune  # noqa: E402
from . import transfer as transfer  # noqa: E402
