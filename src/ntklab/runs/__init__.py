"""The run store: one directory per run, bound to its config's hash; ``train``, ``train_many``, ``load_run(s)``.

A run directory holds ``config.json`` (config, hash, provenance), ``metrics.parquet``, ``arrays.npz``,
``model.pt``, ``checkpoint.pt`` while unfinished, and ``status`` with checksums.  The same config is reused or
resumed, another one refused (:class:`RunConflict`) unless overwritten.  May import: layer 1, ``data``,
``nets``, ``config`` and ``dynamics`` (whose loop it feeds and stores); never ``report``, ``experiments``,
``sweeps`` or the command line.
"""

from ._identity import RunConflict as RunConflict
from ._identity import check_binding as check_binding
from ._identity import config_hash as config_hash
from ._identity import first_difference as first_difference
from ._integrity import file_digests as file_digests
from ._integrity import verify_run as verify_run
from ._provenance import provenance as provenance
from ._store import FINISHED as FINISHED
from ._store import STATUSES as STATUSES
from ._store import Run as Run
from ._store import init_run as init_run
from ._store import load_run as load_run
from ._store import load_runs as load_runs
from ._store import read_status as read_status
from ._store import rows_to_frame as rows_to_frame
from ._store import run_dir as run_dir
from ._store import run_id as run_id
from ._store import set_status as set_status
from ._store import write_arrays as write_arrays
from ._store import write_metrics as write_metrics
from ._train import load_model as load_model
from ._train import train as train
from ._train import train_many as train_many
