"""What the two Agarwal et al. presets share: option types for lists of names.

Example:
    >>> from pydantic import BaseModel
    >>> from ntklab.experiments.conditioning._common import names
    >>> class O(BaseModel):
    ...     datasets: names(("sphere", "digits")) = ["sphere"]
    >>> O(datasets=["digits"]).datasets
    ['digits']
"""

from __future__ import annotations

from pydantic import AfterValidator, Field
from typing_extensions import Annotated

from ..._errors import one_of

__all__ = ["names"]


def names(choices):
    """The type of a non-empty list of names out of ``choices`` (a bad name is refused with the allowed ones)."""
    return Annotated[list[str], Field(min_length=1), AfterValidator(one_of(tuple(choices), each=True))]
