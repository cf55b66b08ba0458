"""The verdict on one candidate case: the three labels and their order."""

from __future__ import annotations

from enum import StrEnum


class Label(StrEnum):
    """match: the text repeats the case's claim; related: it is about the same thing; none."""

    NONE = "none"
    RELATED = "related"
    MATCH = "match"

    @property
    def rank(self) -> int:
        """Weakest 0, strongest 2: `label.rank >= minimum.rank` keeps what is at least that strong."""
        return _RANKS[self]


_RANKS = {Label.NONE: 0, Label.RELATED: 1, Label.MATCH: 2}
