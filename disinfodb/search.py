"""Search requests and results, and the parser that makes user query text safe for FTS.

Users type `"colour revolution" nato* -ukraine OR belarus`. FTS5's and PostgreSQL's own
syntaxes fail on stray quotes, colons or parentheses, so we parse the little language
ourselves and emit an expression in which every user word is a quoted string of the
engine's syntax: nothing a user types can become query syntax, and a real mistake (an
unclosed quote) gets a clear message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from disinfodb.errors import QuerySyntaxError
from disinfodb.vocab import country_name, fold, language_code

FACETS = ("keyword", "country", "language", "outlet", "issue", "year")
Sort = Literal["relevance", "date", "date_asc"]
MAX_PER_PAGE = 200
MAX_QUERY_CHARS = 1000
MAX_TERMS = 64

_TOKEN = re.compile(r'(?P<neg>-)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+))|(?P<open>")')
_WORDLIKE = re.compile(r"\w", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    sort: Sort = "relevance"
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

    def term_filters(self) -> list[tuple[str, str]]:
        """The facet filters as (facet, key) pairs, keys normalised as the store keeps them."""
        pairs = [("keyword", fold(v)) for v in self.keywords]
        pairs += [("country", fold(country_name(v))) for v in self.countries]
        pairs += [("language", _language_key(v)) for v in self.languages]
        pairs += [("outlet", fold(v)) for v in self.outlets]
        pairs += [("issue", str(v)) for v in self.issues]
        return pairs


def _language_key(value: str) -> str:
    try:
        return language_code(value)
    except ValueError as error:
        raise QuerySyntaxError(str(error)) from None


@dataclass(frozen=True)
class Hit:
    """One case in a result list, with a highlighted snippet (HTML-escaped, <mark> tags)."""

    id: str
    title: str
    published: date | None
    issue: int | None
    languages: list[str]
    countries: list[str]
    keywords: list[str]
    snippet: str
    score: float | None


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int


@dataclass(frozen=True)
class Results:
    total: int
    hits: list[Hit]
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    page: int = 1
    per_page: int = 20


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
    if len(groups) + len(excluded) > MAX_TERMS:
        raise QuerySyntaxError(f"query has more than {MAX_TERMS} terms")
    if not groups:
        if excluded:
            raise QuerySyntaxError("a query needs at least one term that is not excluded (-)")
        return None
    return ParsedQuery(groups, excluded)


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
