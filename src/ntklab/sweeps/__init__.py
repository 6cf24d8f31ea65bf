"""Sweeps: sweep files (a base config or preset, a grid, zipped axes, seeds), sweep directories, the executors
that run their units (this process, a pool of local workers, a Ray cluster) and the sweep report.

A unit is one training run (its directory is the hash of its config) or one preset experiment; finished units
are skipped, interrupted ones resume, failed or corrupt ones are redone.  May import: every layer below
(``runs`` to train and store, ``experiments`` to run presets, ``report`` for claims and pages); only the command
line sits above it.
"""

from ._directory import default_sweep_dir as default_sweep_dir
from ._directory import read_sweep as read_sweep
from ._directory import run_sweep as run_sweep
from ._directory import sweep_table as sweep_table
from ._executors import EXECUTORS as EXECUTORS
from ._executors import execute_units as execute_units
from ._report import SweepReport as SweepReport
from ._report import evaluate_claim as evaluate_claim
from ._report import report_sweep as report_sweep
from ._report import sweep_frame as sweep_frame
from ._spec import SweepClaim as SweepClaim
from ._spec import SweepSpec as SweepSpec
from ._spec import Unit as Unit
from ._spec import expand_sweep as expand_sweep
from ._spec import load_sweep as load_sweep
from ._spec import sweep_from_dict as sweep_from_dict
from ._unit import run_unit as run_unit
from ._unit import unit_dir as unit_dir
from ._unit import unit_state as unit_state
