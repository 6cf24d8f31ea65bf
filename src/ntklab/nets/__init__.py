"""Networks: node scalings, the node-scaled shallow net, activations."""

from ._activations import ACTIVATIONS as ACTIVATIONS
from ._activations import Activation as Activation
from ._activations import get_activation as get_activation
from ._node_scaling import SCALING_KINDS as SCALING_KINDS
from ._node_scaling import node_scaling as node_scaling
from ._node_scaling import zipf_weights as zipf_weights
from ._shallow import ScaledShallowNet as ScaledShallowNet
from ._factory import build_network as build_network
from ._factory import register_network as register_network
