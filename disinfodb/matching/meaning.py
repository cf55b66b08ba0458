"""Search by meaning, and the hybrid of words and meaning that a search box runs by default.

The database is written in English about articles in 30+ languages, and analysts search in
theirs: `НАТО готовит переворот` shares no word with the hundreds of cases that say so. A
query in `meaning` mode is matched like a claim (the matcher's models, every language),
ranked by the calibrated score of the dense channel alone, and cut off at MEANING_RESULTS
cases (and at MEANING_FLOOR: the least far cases of a query close to nothing are not
shown); `auto` fuses that ranking with the words ranking (reciprocal ranks) over the
union of both cut-offs. Filters are applied before ranking (the term index gives the allowed
cases), so a filtered search ranks only what passes. The cut-off keeps totals and facets
meaningful: they count the ranked result set, not every case that is somewhat close.
A query that uses the words syntax (prefix*, -excluded, OR, quotes in a short query) is a
`words` search in `auto` mode; a pasted article is embedded by its first sentences (MAX_QUERY_UNITS).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from disinfodb.errors import QuerySyntaxError
from disinfodb.matching.channels import CANDIDATES, RRF_K
from disinfodb.matching.matcher import MAX_INPUT_UNITS, Matcher
from disinfodb.search import MAX_QUERY_CHARS, Hit, Results, SearchMode, SearchQuery, Sort
from disinfodb.store import Store
from disinfodb.text import clean, units

MEANING_RESULTS = CANDIDATES  # the closest cases a meaning search returns (and facets count)
# Below this dense score a case is not close in meaning, only the least far: gibberish
# ("zzyzzyva", "asdf qwerty") and off-topic text ("the weather is nice today") top out at
# 0.01-0.035, while 99% of the right cases that bench.meaning_search finds in the first ten
# score above 0.045.
MEANING_FLOOR = 0.04
MAX_QUERY_UNITS = 8  # sentences of a long query that are embedded: its first ones


def needs_matcher(query: SearchQuery) -> bool:
    """Whether the query is searched by meaning (alone or fused): `auto` is a words search for
    a query with no words (no letters: only digits, symbols or emoji) or one that uses the syntax."""
    if query.mode == SearchMode.WORDS or not any(ch.isalpha() for ch in query.text):
        return False
    return query.mode == SearchMode.MEANING or len(query.text) > MAX_QUERY_CHARS or not query.uses_syntax()


def resolve(query: SearchQuery, matcher: Matcher | None) -> SearchMode:
    """The mode that answers: `auto` is `words` where it needs no matcher or has none (the
    index is not built yet), `meaning` for text too long for the words parser."""
    if not needs_matcher(query) or (matcher is None and query.mode == SearchMode.AUTO):
        return SearchMode.WORDS
    if query.mode == SearchMode.MEANING or len(query.text) > MAX_QUERY_CHARS:
        return SearchMode.MEANING
    return SearchMode.AUTO


def search(store: Store, query: SearchQuery, matcher: Matcher | None) -> Results:
    """A search in the query's mode: `words` by the store, `meaning` and `auto` with the matcher."""
    if query.mode == SearchMode.MEANING and not needs_matcher(query):
        raise QuerySyntaxError("a search by meaning needs words (the query has no letters)")
    mode = resolve(query, matcher)
    if mode is SearchMode.WORDS:
        return dataclasses.replace(store.search(query), mode=mode)
    if matcher is None:
        raise QuerySyntaxError("a search by meaning needs the matching index, which is not built yet: "
                               "`disinfodb match` builds it (or search with mode=words)")
    index = store.term_index()
    allowed = index.select(query)
    closest, sentences = _by_meaning(matcher, query.text, allowed)
    by_words: list[int] = []
    if mode is SearchMode.MEANING:
        ranked = closest
    else:
        try:
            by_words = store.ranked_matches(query, MEANING_RESULTS)
        except QuerySyntaxError:  # too many different words for the words parser: meaning alone
            by_words = []
        ranked = _fused(closest, by_words)
    pks = np.array([pk for pk, _ in ranked], dtype=np.int64)
    if query.sort != Sort.RELEVANCE:
        order = index.by_date(pks, newest_first=query.sort == Sort.DATE)
        score_of = dict(ranked)
        ranked = [(int(pk), score_of[int(pk)]) for pk in order]
    start = (query.page - 1) * query.per_page
    page: list[tuple[int, float | None]] = [(pk, score) for pk, score in ranked[start:start + query.per_page]]
    hits: list[Hit] = store.hits(page, query.text if mode is SearchMode.AUTO and by_words else None, sentences)
    facets = index.facet_counts(np.sort(pks), query.facet_size) if len(pks) else {}
    return Results(total=len(ranked), hits=hits, facets=facets, page=query.page, per_page=query.per_page,
                   mode=mode)


def _by_meaning(matcher: Matcher, text: str, allowed: np.ndarray) -> tuple[list[tuple[int, float]], dict[int, str]]:
    """The MEANING_RESULTS allowed cases closest to the text, best first, with their scores
    (the dense calibration: how surely the case says what the query says), and per case the
    case sentence that matched."""
    if not len(allowed):
        return [], {}
    # every unit, then the first ones: units() spreads a capped selection over the whole text
    query_units = units(clean(text), MAX_INPUT_UNITS)[:MAX_QUERY_UNITS] or [text[:MAX_QUERY_CHARS]]
    found = dataclasses.replace(matcher.candidates_of(query_units, allowed), trust=0.0)
    scores = matcher.scores(found)
    order = np.argsort(-scores, kind="stable")[:MEANING_RESULTS]
    order = order[scores[order] >= MEANING_FLOOR]
    pks = matcher.index.case_pks[found.rows[order]]
    sentences = {int(pk): matcher.index.unit_text[int(found.best_unit[i])] for pk, i in zip(pks, order, strict=True)}
    return [(int(pk), round(float(scores[i]), 4)) for pk, i in zip(pks, order, strict=True)], sentences


def _fused(closest: list[tuple[int, float]], by_words: list[int]) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of the two rankings over the union of their cut-offs: a case
    both find comes first; the fused score is what ranks, not a probability."""
    fused: dict[int, float] = {}
    for ranking in ([pk for pk, _ in closest], by_words):
        for rank, pk in enumerate(ranking, start=1):
            fused[pk] = fused.get(pk, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(((pk, round(score, 6)) for pk, score in fused.items()), key=lambda item: (-item[1], item[0]))
