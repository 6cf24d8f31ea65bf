"""Importing this module registers every built-in preset (one module per paper)."""

from . import approximation  # noqa: F401
from . import asymmetric_simulated  # noqa: F401
from . import regime  # noqa: F401
from . import asymmetric_real  # noqa: F401
from . import momentum  # noqa: F401
from . import deep_conditioning  # noqa: F401
from . import deep_normalized  # noqa: F401
