"""Importing this module registers every built-in preset (one module per paper)."""

from . import asymmetric_simulated  # noqa: F401
from . import deep_conditioning  # noqa: F401
from . import deep_normalized  # noqa: F401
