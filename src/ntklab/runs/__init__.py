"""The run store: atomic writes, provenance, one directory per run."""

from ._atomic import atomic_save_npz as atomic_save_npz
from ._atomic import atomic_save_torch as atomic_save_torch
from ._atomic import atomic_write_json as atomic_write_json
from ._atomic import atomic_write_text as atomic_write_text
from ._provenance import provenance as provenance
from ._store import Run as Run
from ._store import init_run as init_run
from ._store import load_run as load_run
from ._store import read_status as read_status
from ._store import rows_to_frame as rows_to_frame
from ._store import run_id as run_id
from ._store import set_status as set_status
from ._store import write_arrays as write_arrays
from ._store import write_metrics as write_metrics
