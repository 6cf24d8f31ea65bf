"""Data: the dataset container, simulated data, the splits the presets use, and (via ``load_dataset``) every
named source in the ``DATASETS`` registry.

May import: layer 1 (``_errors``, ``_registry``, ``_io``) and NumPy, torch, scikit-learn, mnist1d; nothing of
ntklab above.
"""

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
from ._splits import digits_on_sphere as digits_on_sphere
from ._splits import digits_split as digits_split
from ._splits import mnist1d_split as mnist1d_split
from ._splits import sphere_points as sphere_points
