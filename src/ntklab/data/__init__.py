"""Data: the dataset container, simulated data, and (via ``load_dataset``) every named source."""

from ._dataset import Dataset as Dataset
from ._registry import DATASETS as DATASETS
from ._registry import load_dataset as load_dataset
from ._registry import register_dataset as register_dataset
from ._sphere import sphere_sin as sphere_sin
from ._sphere import uniform_sphere as uniform_sphere
from ._prepare import paper_split as paper_split
from ._prepare import one_hot as one_hot
from ._idx import read_idx as read_idx
from ._uci import UCI_FILES as UCI_FILES
from ._uci import read_uci_table as read_uci_table
from ._sphere_labels import sphere_random as sphere_random
