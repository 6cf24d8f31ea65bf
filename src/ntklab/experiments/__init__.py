"""Experiments: paper recipes (presets) with claims."""

from ._claims import Claim as Claim
from ._claims import claim as claim
from ._claims import claims_frame as claims_frame
from ._claims import render_claims as render_claims
from ._registry import PRESETS as PRESETS
from ._registry import ExperimentResult as ExperimentResult
from ._registry import Preset as Preset
from ._registry import analyse_dir as analyse_dir
from ._registry import get_preset as get_preset
from ._registry import register_preset as register_preset
from ._registry import resolve_options as resolve_options
from ._registry import run_preset as run_preset
