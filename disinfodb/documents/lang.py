"""Which language a document is in, when its source does not say.

py3langid (langid.py's model, numpy-only, shipped in the wheel): on this machine it imports
in 0.2 s, its first call loads the model in 0.6 s, then it classifies 350 sentences in
14 ms, and the whole process grows by ~120 MB (numpy included, which the matcher loads
anyway). lingua-language-detector is more accurate on short texts but its models cost
1.1-1.3 GB of memory and 2.4 s (lazy) to 17 s (preloaded) to load, with 12 s for the same
350 sentences lazily: too much for a reader that runs in every scan worker. Both named
the right language for each of the 7 test sentences (ru, de, en, uk, pl, fr, cs).
"""

from __future__ import annotations

from functools import cache
from typing import Any

MIN_LETTERS = 12  # below this a guess is noise ("ok", "lol", a name)
SAMPLE_CHARS = 2_000  # the start of a long text says its language as well as the whole
MIN_CONFIDENCE = 0.5


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # noqa: PLC0415 - 0.6 s: only when needed

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> str | None:
    """The ISO 639-1 code of the text's language, or None when it is too short to tell or
    the model is unsure."""
    sample = text[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return None
    code, confidence = _identifier().classify(sample)
    return str(code) if confidence >= MIN_CONFIDENCE else None
