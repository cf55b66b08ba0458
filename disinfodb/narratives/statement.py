"""A narrative's label as a statement in the database's own register, taken from its cases.

Terms ("nato, russia, military") say what a narrative is about, not what it claims. An
analyst names a narrative by its claim ("NATO is preparing a war against Russia"), and
the archive already holds that sentence: the title of one of its most central cases.
Extractive and honest: the label is a recorded claim, cleaned of the archive's scaffolding
("THIS WEEK'S TREND:", titles cut short with "…"), never a sentence nobody wrote.
"""

from __future__ import annotations

import re

MIN_WORDS, MAX_WORDS = 4, 16
MAX_CHARS = 120
# What the weekly reviews put before a trend's claim: not part of the claim.
_SCAFFOLD = re.compile(r"^\s*(?:(?:this|last)\s+week[’'‘`]?s\s+trend|trend\s+of\s+the\s+week|disinfo)\s*[:\-–—]\s*",
                       re.IGNORECASE)
_QUOTES = "\"“”«»„"
_NEXT_SENTENCE = re.compile(r"(?<=[.!?])[\"”»]*\s+(?=[\"“«„]?[A-ZА-ЯЁІЇЄҐ])")


def clean_title(title: str) -> str:
    """A case title as a statement: scaffolding and wrapping quotes off, one sentence, spaces collapsed."""
    text = _SCAFFOLD.sub("", " ".join(title.split())).strip()
    first = _NEXT_SENTENCE.split(text, maxsplit=1)[0]  # "A. B." -> "A."
    first = first.strip(_QUOTES + " ").rstrip(" .;:").strip(_QUOTES + " ")
    if first.isupper():  # "TURKEY WILL BE EXPELLED OUT OF NATO"
        first = first.capitalize()
    return first[:1].upper() + first[1:]


def readable(statement: str) -> bool:
    """Whether a cleaned title can stand as a narrative's label: whole, neither a fragment nor a paragraph."""
    words = len(statement.split())
    return (MIN_WORDS <= words <= MAX_WORDS and len(statement) <= MAX_CHARS
            and not statement.endswith(("…", "...")) and not statement.endswith("?"))


def statement(titles_by_centrality: list[str], fallback: str) -> str:
    """The first readable title among the most central cases' (nearest the cluster's centre
    first), cleaned; else the most central one cut at MAX_CHARS; else the fallback (the terms)."""
    cleaned = [clean_title(title) for title in titles_by_centrality]
    for candidate in cleaned:
        if readable(candidate):
            return candidate
    for candidate in cleaned:
        if candidate:
            return candidate if len(candidate) <= MAX_CHARS else candidate[:MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return fallback
