"""Search requests and results, and the parser that makes user query text safe for FTS.

Users type `"colour revolution" nato* -ukraine OR belarus`. FTS5's and PostgreSQL's own
syntaxes fail on stray quotes, colons or parentheses, so we parse the little language
ourselves and emit an expression in which every user word is a quoted string of the
engine's syntax: nothing a user types can become query syntax, and a real mistake (an
unclosed quote) gets a clear message.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import PlainSerializer

from disinfodb.errors import QuerySyntaxError
from disinfodb.facets import FACETS
from disinfodb.vocab import fold


class SearchMode(StrEnum):
    """How query text finds cases: by its words (the query syntax), by its meaning (any
    language), or both fused (`auto`: plain `words` for a query that uses the syntax)."""

    WORDS = "words"
    MEANING = "meaning"
    AUTO = "auto"


class Sort(StrEnum):
    """How results are ordered."""

    RELEVANCE = "relevance"
    DATE = "date"  # newest first
    DATE_ASC = "date_asc"


MAX_PER_PAGE = 200
MAX_QUERY_CHARS = 1000  # words: what the parser reads
MAX_MEANING_CHARS = 20_000  # meaning: a pasted article (its first sentences are what is embedded)
# What one query may cost is bounded by what it may say: every term is a posting list the
# engine reads, and a prefix is every word that starts with it (64 copies of `t*` took
# 2 s over 13k cases). Repeated terms are dropped before the limits are checked.
MAX_TERMS = 32
MAX_PREFIXES = 4
MIN_PREFIX_CHARS = 3
# The costliest query those limits admit, in English: the most prefix terms of the
# shortest length, and the commonest words up to the term limit, all ORed, so nearly every
# case matches and is scored. What the load benchmark's attacker sends and the tests of
# the time limit run.
_COMMONEST = ("the", "of", "and", "to", "in", "is", "that", "for", "on", "are", "with", "as", "by", "it", "this",
              "from", "have", "be", "not", "was", "or", "at", "an", "they", "their", "which", "has", "but", "will")
COSTLIEST_QUERY = " OR ".join([f"{start}*" for start in ("pro", "con", "sta", "the")[:MAX_PREFIXES]]
                              + list(_COMMONEST[:MAX_TERMS - MAX_PREFIXES]))

_TOKEN = re.compile(r'(?P<neg>-)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+))|(?P<open>")')
_WORDLIKE = re.compile(r"\w", re.UNICODE)
_WORD_CHARS = re.compile(r"[^\W_]", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_OPERATORS = re.compile(r"\w\*|(?:^|\s)-\w|\sOR\s")
MAX_PHRASE_QUERY_WORDS = 8


@dataclass(frozen=True)
class SearchQuery:
    """Everything a search needs: text, filters, sort and the page wanted."""

    text: str = ""
    keywords: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()
    issues: tuple[int, ...] = ()
    since: date | None = None
    until: date | None = None
    sort: Sort = Sort.RELEVANCE
    mode: SearchMode = SearchMode.WORDS
    page: int = 1
    per_page: int = 20
    facet_size: int = 10

    def __post_init__(self) -> None:
        if self.page < 1:
            raise QuerySyntaxError("page must be 1 or more")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise QuerySyntaxError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        if self.since and self.until and self.since > self.until:
            raise QuerySyntaxError(f"since ({self.since}) is after until ({self.until})")
        if len(self.text) > MAX_MEANING_CHARS:
            raise QuerySyntaxError(f"query is longer than {MAX_MEANING_CHARS:,} characters")

    def uses_syntax(self) -> bool:
        """Whether the text says how to match words (prefix*, -excluded, OR, or a "phrase" in a
        short query): then `auto` means `words`. Quotes in a longer text are a sentence's own
        (a claim quoting the "Maidan"), not a phrase query."""
        if _OPERATORS.search(self.text):
            return True
        return '"' in self.text and len(self.text.split()) <= MAX_PHRASE_QUERY_WORDS

    def term_filters(self) -> list[tuple[str, str]]:
        """The facet filters as (facet, key) pairs, keys normalised as the store keeps them."""
        return [(f.name, f.key(str(value))) for f in FACETS if f.query_field
                for value in getattr(self, f.query_field)]


@dataclass(frozen=True)
class Snippet:
    """A piece of a case's text with the words a search matched marked: (text, matched)
    parts in order. Neutral: the API and the pages render it as HTML, the CLI with Rich."""

    parts: tuple[tuple[str, bool], ...] = ()

    @classmethod
    def marked(cls, text: str, start: str, end: str) -> Snippet:
        """From text whose matched words stand between `start` and `end` markers."""
        parts: list[tuple[str, bool]] = []
        for number, piece in enumerate(re.split(f"[{re.escape(start)}{re.escape(end)}]", text)):
            if piece:
                parts.append((piece, number % 2 == 1))
        return cls(tuple(parts))

    @property
    def text(self) -> str:
        return "".join(piece for piece, _ in self.parts)

    def html(self) -> str:
        """HTML-escaped, matches in <mark> tags (what the API's and the CLI's JSON carry)."""
        return "".join(f"<mark>{html.escape(piece)}</mark>" if matched else html.escape(piece)
                       for piece, matched in self.parts)


@dataclass(frozen=True)
class Hit:
    """One case in a result list, with a snippet of its text (as JSON, HTML-escaped, the
    matched words in <mark> tags: what the API and `search --json` show)."""

    id: str
    title: str
    published: date | None
    issue: int | None
    languages: list[str]
    countries: list[str]
    keywords: list[str]
    snippet: Annotated[Snippet, PlainSerializer(Snippet.html, return_type=str)]
    score: float | None

    def as_json(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "snippet": self.snippet.html()}


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int


@dataclass(frozen=True)
class Results:
    """One page of a search. `total` and `facets` count the whole result set: every match
    for `words`; for `meaning` and `auto`, the ranked set they cut off (see matching.meaning)."""

    total: int
    hits: list[Hit]
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    page: int = 1
    per_page: int = 20
    mode: SearchMode = SearchMode.WORDS  # the mode that answered (auto is resolved)

    def as_json(self) -> dict[str, object]:
        """The results as the API and `search --json` show them."""
        return {"total": self.total, "page": self.page, "per_page": self.per_page, "mode": self.mode.value,
                "results": [hit.as_json() for hit in self.hits],
                "facets": {name: [{"value": v.value, "label": v.label, "count": v.count} for v in values]
                           for name, values in self.facets.items()}}


Term = tuple[str, bool]  # a word or phrase, and whether it is a prefix (`nato*`)


@dataclass(frozen=True)
class ParsedQuery:
    """Query text as all-of (any-of terms), minus excluded terms: what both engines render."""

    groups: list[list[Term]]
    excluded: list[Term]


def parse_query(text: str) -> ParsedQuery | None:
    """Read user query text; None when there is no text.

    Supported: words (implicit AND), "phrases", prefix*, -excluded, and OR between terms.
    """
    text = _CONTROL.sub(" ", text).strip()  # a NUL or a tab is no query syntax, and PostgreSQL refuses NUL
    if not text:
        return None
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"query is longer than {MAX_QUERY_CHARS} characters")
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    join_next = last_was_positive = False
    for match in _TOKEN.finditer(text):
        if match.group("open") is not None:
            raise QuerySyntaxError(f"unclosed quote at character {match.start() + 1}")
        word = match.group("word")
        if word == "OR" and not match.group("neg"):
            join_next = last_was_positive
            continue
        term = _term(match.group("phrase") if word is None else word, word is not None)
        if term is None:
            continue
        if match.group("neg"):
            excluded.append(term)
        elif join_next:
            groups[-1].append(term)
        else:
            groups.append([term])
        last_was_positive = not match.group("neg")
        join_next = False
    parsed = _deduplicated(groups, excluded)
    _check_cost(parsed)
    if not parsed.groups:
        if parsed.excluded:
            raise QuerySyntaxError("a query needs at least one term that is not excluded (-)")
        return None
    return parsed


def _key(term: Term) -> Term:
    return fold(term[0]), term[1]


def _deduplicated(groups: list[list[Term]], excluded: list[Term]) -> ParsedQuery:
    """The query without repeats: a term twice in one OR group, a group twice (same terms),
    an excluded term twice. Matching is case- and accent-insensitive, so are repeats."""
    kept: list[list[Term]] = []
    seen_groups: set[frozenset[Term]] = set()
    for group in groups:
        unique = list({_key(term): term for term in reversed(group)}.values())[::-1]
        signature = frozenset(_key(term) for term in unique)
        if signature not in seen_groups:
            seen_groups.add(signature)
            kept.append(unique)
    return ParsedQuery(kept, list({_key(term): term for term in reversed(excluded)}.values())[::-1])


def _check_cost(parsed: ParsedQuery) -> None:
    """Refuse queries over the limits above, naming the limit."""
    terms = [term for group in parsed.groups for term in group] + parsed.excluded
    if len(terms) > MAX_TERMS:
        raise QuerySyntaxError(f"the query has {len(terms)} different terms: at most {MAX_TERMS} are allowed")
    prefixes = [text for text, prefix in terms if prefix]
    if len(prefixes) > MAX_PREFIXES:
        raise QuerySyntaxError(f"the query has {len(prefixes)} prefix* terms: at most {MAX_PREFIXES} are allowed")
    short = next((text for text in prefixes if len(_WORD_CHARS.findall(text)) < MIN_PREFIX_CHARS), None)
    if short is not None:
        raise QuerySyntaxError(f"the prefix {short}* is too short: a prefix needs at least {MIN_PREFIX_CHARS}"
                               " letters or digits before the *")


def _term(text: str, allow_prefix: bool) -> Term | None:
    """A word or phrase; a trailing * on a word makes it a prefix query."""
    prefix = allow_prefix and text.endswith("*")
    text = text.rstrip("*") if prefix else text
    if not _WORDLIKE.search(text):
        return None
    return text, prefix


def _translate(text: str, term: Callable[[Term], str], and_: str, or_: str, and_not: str) -> str | None:
    """Query text in an engine's syntax, given how it quotes a term and spells AND, OR and
    AND NOT; None when there is no text."""
    parsed = parse_query(text)
    if parsed is None:
        return None
    positive = and_.join("(" + or_.join(term(t) for t in group) + ")" for group in parsed.groups)
    if parsed.excluded:
        return f"({positive}){and_not}({or_.join(term(t) for t in parsed.excluded)})"
    return positive


def to_fts(text: str) -> str | None:
    """User query text as a safe FTS5 expression (every word a quoted FTS5 string)."""
    return _translate(text, _fts5_term, " AND ", " OR ", " NOT ")


def _fts5_term(term: Term) -> str:
    text, prefix = term
    return '"' + text.replace('"', '""') + '"' + ("*" if prefix else "")


def to_tsquery(text: str) -> str | None:
    """User query text as a safe PostgreSQL `to_tsquery` expression: every word or phrase
    a quoted operand (a quoted phrase becomes words in sequence, `<->`)."""
    return _translate(text, _tsquery_term, " & ", " | ", " & !")


def _tsquery_term(term: Term) -> str:
    text, prefix = term
    quoted = "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    return quoted + (":*" if prefix else "")
