"""Templated disproofs: disproof paragraphs that several cases share, and suggestions of
disproof paragraphs for a new case from the cases its claim matches.

EUvsDisinfo reuses whole paragraphs across debunks of one narrative (e.g. "The pro-Kremlin
media frequently falsely portray popular protests around the world as instigated from
abroad ..."). A paragraph used by two or more cases is a *shared rebuttal group*.

What counts as a rebuttal paragraph
-----------------------------------
- Paragraphs are the disproof's lines (the Case model keeps paragraph breaks as "\\n"),
  each further split at " // ": the 2015-2017 scrape flattened paragraph breaks into that
  separator (314 of its 2,769 disproofs have one). Splitting there finds 118 groups (276
  memberships) in the demo database instead of 90 (200): e.g. "The spontaneous onset of the
  Euromaidan protests ..." is one group of 3 cases, all three written "... // ...".
- A rebuttal argues: it has at least MIN_CHARS (80) characters and MIN_WORDS (12) words
  of prose, not counting URLs. That drops the verdict lines ("No evidence given." is in
  193 cases, "Conspiracy theory, no evidence given." in 22), cross-references ("Czech
  translation of the disinformation article above.") and bare link lists.
- Pointer paragraphs are not rebuttals, however long: those that start "See also",
  "See other examples ...", "Read more", "More information", "Further debunking",
  "Debunked by", "Source(s):" or "... translation of". They point elsewhere, not argue.
- No cap on how often a paragraph may appear: boilerplate is dropped for what it is (short
  or a pointer), never for being frequent. In the real data the most shared paragraph of
  80+ characters (the NATO Wales-summit statement, 11 cases) is a real argument, and a
  template used in hundreds of cases is exactly what this feature is for.

Two paragraphs are the same rebuttal when their normalised text is equal: Unicode NFKC,
curly quotes and apostrophes made straight, URLs (and the brackets they leave empty)
removed, case folded, whitespace collapsed, punctuation, quotes and bullets stripped from
both ends. So the same argument citing another link, or ending without its full stop, is
one group. A group's `key` is a hash of that text; its `text` is the paragraph as the
earliest case (by publication date) wrote it, links included.

Speed and freshness: one SQL pass over the cases that have a disproof (no JSON or model
parsing), ~60 ms for the 2,773 disproofs among the demo's 13.6k cases; answers from a built
index take microseconds. The index is
cached per store object and keyed by `store.data_version()`, so any write, by this
connection or another process, rebuilds it on the next call; never inside a write
transaction (it must see that transaction's own writes).
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
import weakref
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import numpy as np

from disinfodb.matching import Label, Matcher
from disinfodb.store import Store

MIN_CHARS = 80
MIN_WORDS = 12
FROM_CASES = 10  # suggestions come from this many nearest matched cases (with rebuttal paragraphs)
SCRAPE_SEPARATOR = " // "

_URL = re.compile(r"(?:https?://|www\.)[^\s()\[\]<>\"“”]*[^\s()\[\]<>\"“”.,;:!?'’]|https?:(?://)?")  # casefolded
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
_LEAD_CHARS = " \"'«»‹›([-–—•*·"
_TRAIL_CHARS = " \"'«»‹›()[].,;:!?…-–—"  # "(": a link cut off at the end
_QUOTES = (("’", "'"), ("‘", "'"), ("‚", "'"), ("′", "'"), ("“", '"'), ("”", '"'), ("„", '"'), ("″", '"'))
_POINTER = re.compile(
    r"^(?:see\b|read (?:more|also)\b|more (?:on|about|details|information)\b|for (?:more|further)\b"
    r"|further (?:debunking|reading|information|details)\b|(?:also )?debunked (?:by|in|on)\b"
    r"|sources?:|(?:\w+ )?translation of\b)")  # on casefolded text


class Paragraph(NamedTuple):
    """One rebuttal paragraph of a disproof: its text and the key of its group."""

    text: str
    key: str


@dataclass(frozen=True)
class CaseRef:
    id: str
    title: str
    published: date | None


@dataclass(frozen=True)
class RebuttalGroup:
    """A disproof paragraph and the cases whose disproofs use it."""

    key: str  # 16 hex digits: a stable id of the normalised paragraph
    text: str  # the paragraph as first used (the earliest case's wording)
    cases: tuple[CaseRef, ...]  # oldest first; undated cases last

    @property
    def count(self) -> int:
        return len(self.cases)

    @property
    def case_ids(self) -> list[str]:
        return [case.id for case in self.cases]


@dataclass(frozen=True)
class SuggestionSource:
    """A matched case whose disproof has the suggested paragraph."""

    case_id: str
    title: str
    score: float  # the case's match score for the draft (calibrated P(same claim))
    label: Label


@dataclass(frozen=True)
class Suggestion:
    """A disproof paragraph to consider for a draft, and the matched cases that use it."""

    key: str
    text: str
    score: float  # 1 - prod(1 - source score): the best source's score, raised by each other source
    sources: tuple[SuggestionSource, ...]  # best match first
    used_by: int  # cases in the whole database whose disproof has this paragraph

    @property
    def case_ids(self) -> list[str]:
        return [source.case_id for source in self.sources]


# -- paragraphs -----------------------------------------------------------------------------

def normalise(paragraph: str) -> str:
    """The text two paragraphs must share to be the same rebuttal (see the module docstring)."""
    return _normalised(_prose(paragraph))


def paragraph_key(paragraph: str) -> str:
    return _key(_prose(paragraph))


def is_rebuttal(paragraph: str) -> bool:
    """Long enough to argue (80+ characters and 12+ words besides URLs), and not a pointer."""
    return len(paragraph) >= MIN_CHARS and _argues(_prose(paragraph))


def _prose(paragraph: str) -> str:
    """The paragraph casefolded (NFKC), without its links and the brackets they leave empty."""
    text = unicodedata.normalize("NFKC", paragraph).casefold()
    if "http" not in text and "www." not in text:
        return text
    return _EMPTY_BRACKETS.sub(" ", _URL.sub(" ", text))


def _argues(prose: str) -> bool:
    stripped = prose.strip()
    return len(stripped) >= MIN_CHARS and len(stripped.split()) >= MIN_WORDS and not _POINTER.match(stripped)


def _normalised(prose: str) -> str:
    if not prose.isascii():
        for curly, straight in _QUOTES:
            prose = prose.replace(curly, straight)
    text = " ".join(prose.split())
    for mark in ",.;:!?":  # where a removed link stood: "exists , but" -> "exists, but"
        text = text.replace(" " + mark, mark)
    return text.lstrip(_LEAD_CHARS).rstrip(_TRAIL_CHARS)


def _key(prose: str) -> str:
    return hashlib.sha1(_normalised(prose).encode()).hexdigest()[:16]


def paragraphs(disproof: str) -> list[Paragraph]:
    """The rebuttal paragraphs of a disproof, in order, each once."""
    found: dict[str, Paragraph] = {}
    for line in disproof.split("\n"):
        for part in line.split(SCRAPE_SEPARATOR):
            text = part.strip()
            if len(text) < MIN_CHARS:
                continue
            prose = _prose(text)
            if _argues(prose):
                key = _key(prose)
                found.setdefault(key, Paragraph(text, key))
    return list(found.values())


# -- the index --------------------------------------------------------------------------------

@dataclass
class _Group:
    text: str
    rows: list[int] = field(default_factory=list)


@dataclass
class RebuttalIndex:
    """Every case's rebuttal paragraphs and every paragraph's cases, from one pass over a store."""

    cases: list[CaseRef]  # rows: cases with a disproof, oldest first
    pks: list[int]
    keys_of: list[list[str]]  # per row, its rebuttal paragraph keys in disproof order
    groups: dict[str, _Group]
    row_of_pk: dict[int, int]
    row_of_id: dict[str, int]
    _shared: list[RebuttalGroup] | None = None

    @classmethod
    def build(cls, store: Store) -> RebuttalIndex:
        index = cls([], [], [], {}, {}, {})
        for row, (pk, case_id, title, published, disproof) in enumerate(store.disproofs()):
            index.cases.append(CaseRef(case_id, title, published))
            index.pks.append(pk)
            index.row_of_pk[pk] = row
            index.row_of_id[case_id] = row
            keys = []
            for text, key in paragraphs(disproof):
                index.groups.setdefault(key, _Group(text)).rows.append(row)
                keys.append(key)
            index.keys_of.append(keys)
        return index

    def group(self, key: str) -> RebuttalGroup:
        found = self.groups[key]
        return RebuttalGroup(key, found.text, tuple(self.cases[row] for row in found.rows))

    def shared(self, min_cases: int = 2) -> list[RebuttalGroup]:
        """Groups of at least `min_cases` cases, largest first (ties: the earliest first used)."""
        if self._shared is None:
            self._shared = self._ranked(2)
        if min_cases >= 2:
            return [group for group in self._shared if group.count >= min_cases]
        return self._ranked(max(min_cases, 1))

    def _ranked(self, min_cases: int) -> list[RebuttalGroup]:
        keys = [key for key, found in self.groups.items() if len(found.rows) >= min_cases]
        keys.sort(key=lambda key: (-len(self.groups[key].rows), self.groups[key].rows[0]))
        return [self.group(key) for key in keys]


_CACHE: weakref.WeakKeyDictionary[Store, tuple[tuple[int, int], RebuttalIndex]] = \
    weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def rebuttal_index(store: Store) -> RebuttalIndex:
    """The store's index, rebuilt whenever the database has changed since it was built."""
    if store.in_transaction:  # may see uncommitted writes, which may yet roll back
        return RebuttalIndex.build(store)
    version = store.data_version()
    with _CACHE_LOCK:
        cached = _CACHE.get(store)
    if cached is not None and cached[0] == version:
        return cached[1]
    index = RebuttalIndex.build(store)
    with _CACHE_LOCK:
        _CACHE[store] = (version, index)
    return index


# -- the library's answers ----------------------------------------------------------------------

def shared_rebuttals(store: Store, min_cases: int = 2) -> list[RebuttalGroup]:
    """Every disproof paragraph used by at least `min_cases` cases, largest group first."""
    return rebuttal_index(store).shared(min_cases)


def rebuttal_groups_of(store: Store, case_id: str, min_cases: int = 2) -> list[RebuttalGroup]:
    """The shared-rebuttal groups of one case's disproof paragraphs, in the order the case's
    disproof has them (the case is among each group's cases). CaseNotFound for no such case."""
    index = rebuttal_index(store)
    row = index.row_of_id.get(case_id)
    if row is None:
        store.pk_of(case_id)  # raises CaseNotFound; else the case has no disproof
        return []
    return [index.group(key) for key in index.keys_of[row] if len(index.groups[key].rows) >= min_cases]


def suggest_disproofs(matcher: Matcher, store: Store, draft_text: str, limit: int = 5, *,
                      exclude: Collection[str] = (), from_cases: int = FROM_CASES) -> list[Suggestion]:
    """Disproof paragraphs for a draft claim, from the disproofs of its nearest matched cases.

    The draft (title and summary, any language) is matched like `disinfodb match` does,
    among the cases that have a rebuttal paragraph (minus `exclude`, e.g. the case being
    edited); the `from_cases` best give their paragraphs. A paragraph scores the noisy-OR of
    the match scores of the cases that use it, 1 - prod(1 - score): one case gives its own
    score, each further case sharing the paragraph raises it. Ties go to the paragraph with
    more sources, then to the better-matched case's, in its disproof's order.

    Raises NothingToMatch for a text without words and InputTooLarge past the matcher's limit.
    """
    index = rebuttal_index(store)
    excluded = {index.row_of_id[case_id] for case_id in exclude if case_id in index.row_of_id}
    allowed = np.array(sorted(index.pks[row] for row, keys in enumerate(index.keys_of)
                              if keys and row not in excluded), dtype=np.int64)
    found = matcher.candidates(draft_text, allowed)
    scores = matcher.scores(found)
    by_key: dict[str, list[SuggestionSource]] = {}
    taken = 0
    for i in np.argsort(-scores, kind="stable"):
        if taken >= from_cases:
            break
        row = index.row_of_pk.get(int(matcher.index.case_pks[found.rows[i]]))
        if row is None or not index.keys_of[row]:  # the store changed since the matcher was built
            continue
        taken += 1
        score = float(scores[i])
        source = SuggestionSource(index.cases[row].id, index.cases[row].title, round(score, 4),
                                  matcher.label(score, found))
        for key in index.keys_of[row]:
            by_key.setdefault(key, []).append(source)
    suggestions = []
    for key, sources in by_key.items():  # insertion order: best source first, disproof order
        combined = 1.0 - float(np.prod([1.0 - s.score for s in sources]))
        suggestions.append(Suggestion(key, index.groups[key].text, round(combined, 4), tuple(sources),
                                      len(index.groups[key].rows)))
    suggestions.sort(key=lambda s: (-s.score, -len(s.sources)))  # stable: keeps the order above for ties
    return suggestions[:limit]
