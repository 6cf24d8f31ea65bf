"""What the two Agarwal et al. presets share: option types for lists of names and of sizes.

Example:
    >>> from pydantic import BaseModel
    >>> from ntklab.experiments.conditioning._common import names, sizes
    >>> class O(BaseModel):
    ...     datasets: names(("sphere", "digits")) = ["sphere"]
    ...     depths: sizes() = [2]
    >>> O(datasets=["digits"], depths=[10, 2, 10]).depths
    [2, 10]
"""

from __future__ import annotations

from pydantic import AfterValidator, Field
from typing_extensions import Annotated

from ..._errors import one_of

__all__ = ["names", "sizes"]


def names(choices):
    """The type of a non-empty list of names out of ``choices`` (a bad name is refused with the allowed ones)."""
    return Annotated[list[str], Field(min_length=1), AfterValidator(one_of(tuple(choices), each=True))]


def _distinct_positive(v: list[int]) -> list[int]:
    if any(k < 1 for k in v):
        raise ValueError(f"got {v} (allowed: integers >= 1)")
    return sorted(set(v))


def sizes():
    """The type of a non-empty list of positive integers (depths, widths), kept sorted and without repeats."""
    return Annotated[list[int], Field(min_length=1), AfterValidator(_distinct_positive)]
