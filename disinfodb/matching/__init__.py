"""Claim matching: which debunked cases a text repeats, how surely, and where.

index.py: the cases' claim units and their cached vectors; similarity.py: int8 cosines;
transcript.py: spoken text and its context; channels.py: the dense and
lexical retrievers' scores per input; calibration.py: features -> a calibrated score and
a label; matcher.py: the Matcher itself, related cases and near-duplicates.
"""

from disinfodb.matching.calibration import Calibration, load_calibration
from disinfodb.matching.channels import Candidates
from disinfodb.matching.index import ClaimIndex, EmbeddingProgress, case_units
from disinfodb.matching.label import Label
from disinfodb.matching.matcher import (
    MAX_INPUT_CHARS,
    Evidence,
    Match,
    Matcher,
    near_duplicates,
    open_matcher,
    require_words,
)

__all__ = [
    "MAX_INPUT_CHARS",
    "Calibration",
    "Candidates",
    "ClaimIndex",
    "EmbeddingProgress",
    "Evidence",
    "Label",
    "Match",
    "Matcher",
    "case_units",
    "load_calibration",
    "near_duplicates",
    "open_matcher",
    "require_words",
]
