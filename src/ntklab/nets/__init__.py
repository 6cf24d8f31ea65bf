"""Networks: node scalings, the node-scaled shallow net, the deep MLP and its parameterisations, the MLP of
torch layers with optional BatchNorm, activations, and the ``NETWORKS`` registry behind ``network.kind``.

May import: layer 1 (``_errors``, ``_registry``) and torch; nothing of ntklab above.
"""

from ._activations import ACTIVATIONS as ACTIVATIONS
from ._activations import Activation as Activation
from ._activations import get_activation as get_activation
from ._node_scaling import SCALING_KINDS as SCALING_KINDS
from ._node_scaling import node_scaling as node_scaling
from ._node_scaling import zipf_weights as zipf_weights
from ._shallow import ScaledShallowNet as ScaledShallowNet
from ._mlp import MLP as MLP
from ._torch_mlp import TorchMLP as TorchMLP
from ._torch_mlp import has_batch_statistics as has_batch_statistics
from ._parameterizations import PARAMETERIZATIONS as PARAMETERIZATIONS
from ._parameterizations import canonical_parameterization as canonical_parameterization
from ._parameterizations import abc_table as abc_table
from ._parameterizations import get_parameterization as get_parameterization
from ._parameterizations import parameter_groups as parameter_groups
from ._factory import build_network as build_network
from ._factory import register_network as register_network
from ._factory import NETWORKS as NETWORKS
