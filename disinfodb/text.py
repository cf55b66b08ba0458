"""Splitting text into the units that claim matching compares: sentences and windows.

A regex splitter rather than a trained one: it must work the same for every language the
cases come in (Cyrillic, Georgian, Arabic, CJK punctuation), and a claim is usually one
or two sentences, so the occasional split after an abbreviation costs little.
"""

from __future__ import annotations

import re
import unicodedata

# End of sentence: . ! ? … (and CJK/Arabic/Devanagari forms), then space, then something
# that can start a sentence. "U.S. officials" stays whole (a capital follows a
# one-letter chunk), "No. 5" too (a digit follows "No.").
_BOUNDARY = re.compile(
    r"[.!?…؟।][\"'”»)\]]*(?P<space>\s+)(?=[\"'“«(\[]?[^\W\d_])"  # needs a space, then a letter
    r"|[。！？][」』”）)]*",  # Chinese and Japanese put no space after a sentence
    re.UNICODE)
_INITIAL = re.compile(r"(?:^|[\s.])\w\.$")
_URL = re.compile(r"https?://\S+|www\.\S+|pic\.twitter\.com/\S+")
_HANDLE_TAIL = re.compile(r"[—–-]\s*[^—–\n]{0,80}\(@\w+\)\s*[A-Z][a-z]+ \d{1,2}, \d{4}$")
_TAIL_CHARS = 200  # the tail is searched for only here: a regex over the whole text is quadratic
_MENTION = re.compile(r"(?<!\w)[@#](\w+)")
_CASED_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK", "ARMENIAN"}
_ABBREVIATION_CHARS = 8  # the longest of _ABBREVIATIONS, with room
_ABBREVIATIONS = {"etc", "vs", "approx", "incl", "cf", "al", "resp", "ca", "no", "nr", "st", "dr", "mr", "mrs",
                  "ms", "prof", "gen", "col", "lt", "sgt", "jr", "sr", "co", "corp", "inc", "ltd", "dept", "fig",
                  "vol", "pp", "jan", "feb", "mar", "apr", "aug", "sept", "oct", "nov", "dec", "т", "г", "гг",
                  "им", "ул", "д", "см", "тыс", "млн", "млрд"}
MIN_CHARS = 12
MIN_WORDS = 4
_WRAPPED_LINE = re.compile(r"(?<=\S)[ \t]*\n(?=[ \t]*\S)")  # a single line break inside a paragraph


def _starts_lowercase(char: str) -> bool:
    """A lowercase letter of a script whose sentences start with a capital."""
    return char.islower() and unicodedata.name(char, "").split()[0] in _CASED_SCRIPTS


def _abbreviation(word: str, following: str) -> bool:
    """Whether `word.` is an abbreviation rather than the end of a sentence: a known one,
    or a dotted one ("U.S.") followed by a lowercase word."""
    if not word.endswith("."):
        return False
    bare = word.rstrip(".").casefold()
    return bare in _ABBREVIATIONS or ("." in bare and _starts_lowercase(following))


def clean(text: str) -> str:
    """Drop what never carries a claim: URLs, a tweet's "— name (@handle) date" tail,
    control characters; keep hashtag/mention words (#Crimea -> Crimea)."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in text)
    text = text.rstrip()
    head, tail = text[:-_TAIL_CHARS], text[-_TAIL_CHARS:]
    text = head + _HANDLE_TAIL.sub("", tail)
    text = _URL.sub(" ", text)
    text = _MENTION.sub(r"\1", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def sentences(text: str) -> list[str]:
    """The sentences of a text, in order; lines are boundaries too (titles, list items)."""
    out: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        start = 0
        for boundary in _BOUNDARY.finditer(line):
            end = boundary.start("space") if boundary.group("space") else boundary.end()
            piece = line[start:end].strip()
            following = line[boundary.end():boundary.end() + 4].lstrip("\"'“«([")[:1]
            last_word = line[max(start, end - _ABBREVIATION_CHARS - 2):end].rsplit(maxsplit=1)[-1:] or [""]
            if _INITIAL.search(last_word[0]) or _abbreviation(last_word[0], following):
                continue  # "J. Smith", "U.S. officials", "Gen. Smith", "etc. and" — not an end
            out.append(piece)
            start = boundary.end()
        out.append(line[start:].strip())
    return [s for s in out if s]


def claim_sentences(text: str) -> list[str]:
    """Sentences fit to compare as claims: wrapped lines rejoined first, and fragments
    ("Listen!", "For centuries.") merged into the sentence that follows them."""
    pieces: list[str] = []
    pending = ""
    for found in sentences(_WRAPPED_LINE.sub(" ", text)):
        sentence = f"{pending} {found}".strip() if pending else found
        pending = sentence if len(sentence) < MIN_CHARS or len(sentence.split()) < MIN_WORDS else ""
        if not pending:
            pieces.append(sentence)
    if pending:
        if pieces:
            pieces[-1] = f"{pieces[-1]} {pending}"
        else:
            pieces.append(pending)
    return pieces


def units(text: str, max_units: int) -> list[str]:
    """What to compare of an input text: its claim sentences, plus the whole text when it
    is short, capped at `max_units` spread evenly over the text."""
    pieces = claim_sentences(text)
    if 1 < len(pieces) <= 4:
        pieces.append(" ".join(pieces))
    if len(pieces) > max_units:
        step = len(pieces) / max_units
        pieces = [pieces[int(i * step)] for i in range(max_units)]
    return pieces
