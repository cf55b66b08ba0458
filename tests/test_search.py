"""Search: full text (phrases, prefixes, exclusion, diacritics), filters, facets, pages."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from conftest import SEED, RealData, require
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disinfodb.cases import Case
from disinfodb.errors import QuerySyntaxError
from disinfodb.facets import FACET_NAMES
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.search import MAX_QUERY_CHARS, MAX_TERMS, SearchQuery, Sort, to_fts
from disinfodb.store import SQLStore, open_store
from disinfodb.vocab import country_name, fold, language_code

CASE_1 = "Kazakhstan’s destabilisation attempts to obstruct EEU membership and China’s new Silk Road"
CASE_2 = "A coup in Kazakhstan was meant to divert Russia’s attention before negotiations"
CASE_3 = "US intelligence agencies pressured Western media into accusing Russia of invading Ukraine"
CASE_4 = "Kazakhstan unrest is a US attempt to drag Russia into new conflicts"


@pytest.fixture(scope="module")
def seeded(module_store_location: str, shared: Path) -> Iterator[SQLStore]:
    """The seed cases plus a few hand-written ones with diacritics and Cyrillic (on each backend)."""
    store = open_store(module_store_location)
    import_records(store, read_file(str(require(SEED))))
    store.upsert(Case(id="erdogan", title="Erdoğan plots with NATO",
                      summary="Turkey’s president Erdoğan met…",
                      keywords=["Recep Tayyip Erdoğan"], countries=["Turkey"], languages=["tr"],
                      published=date(2020, 3, 1)))
    store.upsert(Case(id="cyrillic", title="НАТО готовит провокацию",
                      summary="Реджеп Эрдоган заявил, что Запад лжёт.", languages=["ru"],
                      published=date(2019, 7, 7), issue=150))
    store.upsert(Case(id="plain-erdogan", title="Erdogan without accents", published=date(2018, 1, 1)))
    yield store
    store.close()


def titles(store: SQLStore, text: str = "", **filters: object) -> set[str]:
    results = store.search(SearchQuery(text=text, per_page=200, **filters))  # type: ignore[arg-type]
    assert results.total == len(results.hits)
    return {hit.title for hit in results.hits}


def ids(store: SQLStore, text: str = "", **filters: object) -> set[str]:
    results = store.search(SearchQuery(text=text, per_page=200, **filters))  # type: ignore[arg-type]
    assert results.total == len(results.hits)
    return {hit.id for hit in results.hits}


# -- the seed -----------------------------------------------------------------------------


def test_colour_revolution_finds_the_two_kazakhstan_cases(seed_store: SQLStore) -> None:
    results = seed_store.search(SearchQuery(text="colour revolution"))
    assert results.total == 2
    assert {hit.title for hit in results.hits} == {CASE_1, CASE_2}
    by_title = {hit.title: hit for hit in results.hits}
    # Case 1 only mentions it in a keyword; case 2 in its text, with a highlighted snippet.
    assert "Colour revolutions" in by_title[CASE_1].keywords
    snippet = by_title[CASE_2].snippet
    assert ("colour", True) in snippet.parts and ("revolution", True) in snippet.parts
    assert "<mark>colour</mark> <mark>revolution</mark>" in snippet.html()
    assert "&quot;" in snippet.html() and '"' not in snippet.html() and '"' in snippet.text
    assert all(hit.score is not None for hit in results.hits)


def test_country_filter(seed_store: SQLStore) -> None:
    assert titles(seed_store, countries=("Kazakhstan",)) == {CASE_1}
    assert titles(seed_store, countries=("kazakhstan",)) == {CASE_1}
    assert titles(seed_store, countries=("USA",)) == {CASE_1}  # alias of US
    assert titles(seed_store, "colour revolution", countries=("Kazakhstan",)) == {CASE_1}
    assert titles(seed_store, countries=("Kazakhstan", "China")) == {CASE_1}
    assert titles(seed_store, countries=("Kazakhstan", "Atlantis")) == set()


def test_other_seed_filters(seed_store: SQLStore) -> None:
    for languages in (("es",), ("Spanish",), ("Castilian",), ("ES",)):
        assert titles(seed_store, languages=languages) == {CASE_1}
    assert titles(seed_store, keywords=("colour revolutions",)) == {CASE_1}
    assert titles(seed_store, keywords=("colour revolution",)) == set()  # keywords match whole
    assert titles(seed_store, issues=(270,)) == {CASE_1}
    assert titles(seed_store, since=date(2022, 1, 8), until=date(2022, 1, 8)) == {CASE_1}
    assert titles(seed_store, since=date(2022, 1, 9)) == set()
    assert len(titles(seed_store)) == 4


def test_phrase_queries(seed_store: SQLStore) -> None:
    assert titles(seed_store, '"colour revolution"') == {CASE_1, CASE_2}
    assert titles(seed_store, "revolution colour") == {CASE_1, CASE_2}
    assert titles(seed_store, '"revolution colour"') == set()
    assert titles(seed_store, '"Collective Security Treaty Organisation"') == {CASE_1}
    assert titles(seed_store, '"security collective treaty"') == set()


def test_prefix_queries(seed_store: SQLStore) -> None:
    assert titles(seed_store, "Kazakh*") == {CASE_1, CASE_2, CASE_4}
    assert titles(seed_store, "Kazakh") == set()
    assert titles(seed_store, "destabilis*") == {CASE_1, CASE_2, CASE_4}


def test_or_and_exclusion(seed_store: SQLStore) -> None:
    assert titles(seed_store, "Afghanistan OR Moscow") == {CASE_1, CASE_3}
    assert titles(seed_store, "Kazakhstan") == {CASE_1, CASE_2, CASE_4}
    # Cases 2 and 4 speak of "coups" (the stem matches too).
    assert titles(seed_store, "Kazakhstan -coup") == {CASE_1}
    assert titles(seed_store, 'Kazakhstan -"colour revolution"') == {CASE_4}
    assert titles(seed_store, "Russia -Kazakhstan") == {CASE_3}


def test_words_in_keywords_and_countries_are_searchable(seed_store: SQLStore) -> None:
    assert titles(seed_store, "Eurasian economic union") == {CASE_1}
    assert titles(seed_store, "Afghanistan") == {CASE_1}


def test_diacritics_insensitive(seeded: SQLStore) -> None:
    both = {"erdogan", "plain-erdogan"}
    for query in ("erdogan", "Erdoğan", "ERDOĞAN", "erdog*"):
        assert ids(seeded, query) == both, query
    assert ids(seeded, '"recep tayyip erdogan"') == {"erdogan"}


def test_cyrillic_text(seeded: SQLStore) -> None:
    assert ids(seeded, "эрдоган") == {"cyrillic"}
    assert ids(seeded, "Эрдоган") == {"cyrillic"}
    assert ids(seeded, "нато") == {"cyrillic"}
    assert ids(seeded, "провокац*") == {"cyrillic"}
    assert ids(seeded, '"готовит провокацию"') == {"cyrillic"}
    assert ids(seeded, "провокация") == set()  # no stemming outside ASCII


def test_facet_counts_match_python(seeded: SQLStore) -> None:
    for query in (SearchQuery(facet_size=1000), SearchQuery(text="Kazakhstan OR erdogan", facet_size=1000),
                  SearchQuery(languages=("ru",), facet_size=1000)):
        matching = set(ids(seeded, query.text, languages=query.languages))
        cases = [seeded.get(i) for i in matching]
        results = seeded.search(query)
        got = {facet: {v.value: v.count for v in values} for facet, values in results.facets.items()}
        assert got == expected_facets(cases), query


def expected_facets(cases: list[Case]) -> dict[str, dict[str, int]]:
    """Facet counts computed independently of the store: the number of cases with each key."""
    counts: dict[str, Counter[str]] = {facet: Counter() for facet in FACET_NAMES}
    for case in cases:
        keys: dict[str, set[str]] = {
            "keyword": {fold(k) for k in case.keywords},
            "country": {fold(c) for c in case.countries},
            "language": set(case.languages),
            "outlet": {fold(o.name or o.url or "") for o in case.outlets} - {""},
            "issue": {str(case.issue)} if case.issue is not None else set(),
            "year": {str(case.published.year)} if case.published else set(),
        }
        for facet, values in keys.items():
            counts[facet].update(values)
    return {facet: dict(counter) for facet, counter in counts.items()}


def test_facet_size_keeps_the_most_frequent(real_data: RealData) -> None:
    results = real_data.store.search(SearchQuery(facet_size=5))
    full = expected_facets(real_data.cases)
    for facet, values in results.facets.items():
        assert len(values) == min(5, len(full[facet]))
        counts = [v.count for v in values]
        assert counts == sorted(counts, reverse=True)
        assert counts == sorted(full[facet].values(), reverse=True)[:5]
        for value in values:
            assert full[facet][value.value] == value.count
            assert fold(value.label) == value.value or facet in ("language", "issue", "year")


def test_facets_on_real_data_match_python(real_data: RealData) -> None:
    query = SearchQuery(countries=("Ukraine",), facet_size=100_000)
    results = real_data.store.search(query)
    cases = [c for c in real_data.cases if "ukraine" in {fold(x) for x in c.countries}]
    assert results.total == len(cases)
    got = {facet: {v.value: v.count for v in values} for facet, values in results.facets.items()}
    assert got == expected_facets(cases)


# -- filters on the real data, against a brute-force filter ------------------------------


def _has(values: list[str], wanted: str) -> bool:
    return fold(wanted) in {fold(v) for v in values}


FILTERS: list[tuple[str, dict[str, object], Callable[[Case], bool]]] = [
    ("keyword", {"keywords": ("Colour revolutions",)}, lambda c: _has(c.keywords, "colour revolutions")),
    ("keyword-case", {"keywords": ("MH17",)}, lambda c: _has(c.keywords, "mh17")),
    ("country", {"countries": ("Ukraine",)}, lambda c: "Ukraine" in c.countries),
    ("country-alias", {"countries": ("USA",)}, lambda c: "US" in c.countries),
    ("language-name", {"languages": ("Castilian",)}, lambda c: "es" in c.languages),
    ("language-code", {"languages": ("de",)}, lambda c: "de" in c.languages),
    ("language-two", {"languages": ("Russian", "English")},
     lambda c: {"ru", "en"} <= set(c.languages)),
    ("outlet", {"outlets": ("Sputnik",)},
     lambda c: _has([o.name or o.url or "" for o in c.outlets], "sputnik")),
    ("issue", {"issues": (82,)}, lambda c: c.issue == 82),
    ("since", {"since": date(2020, 6, 1)},
     lambda c: c.published is not None and c.published >= date(2020, 6, 1)),
    ("until", {"until": date(2015, 12, 31)},
     lambda c: c.published is not None and c.published <= date(2015, 12, 31)),
    ("range+country+language", {"since": date(2016, 1, 1), "until": date(2016, 12, 31),
                                "countries": ("Syria",), "languages": ("ru",)},
     lambda c: c.published is not None and date(2016, 1, 1) <= c.published <= date(2016, 12, 31)
     and "Syria" in c.countries and "ru" in c.languages),
]


@pytest.mark.parametrize(("name", "filters", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters_agree_with_brute_force(real_data: RealData, name: str, filters: dict[str, object],
                                        keep: Callable[[Case], bool]) -> None:
    expected = {c.id for c in real_data.cases if keep(c)}
    assert expected, f"{name}: the real data should have matching cases"
    query = SearchQuery(per_page=200, **filters)  # type: ignore[arg-type]
    results = real_data.store.search(query)
    assert results.total == len(expected)
    assert {hit.id for hit in results.hits} <= expected
    assert {c.id for c in real_data.store.iter_cases(query)} == expected


def test_text_search_agrees_with_brute_force(real_data: RealData) -> None:
    word = re.compile(r"\bvinnitsa\b", re.IGNORECASE)
    expected = {c.id for c in real_data.cases
                if any(word.search(text)
                       for text in (c.title, c.summary, c.disproof, *c.keywords, *c.countries))}
    assert len(expected) >= 2
    results = real_data.store.search(SearchQuery(text="Vinnitsa", per_page=200))
    assert {hit.id for hit in results.hits} == expected


def test_pagination(real_data: RealData) -> None:
    expected = {c.id for c in real_data.cases if "de" in c.languages}
    for sort in (Sort.DATE, Sort.DATE_ASC, Sort.RELEVANCE):
        seen: list[str] = []
        totals = set()
        for page in range(1, len(expected) // 100 + 2):
            results = real_data.store.search(SearchQuery(languages=("de",), sort=sort, page=page,
                                                         per_page=100))
            totals.add(results.total)
            assert results.page == page
            seen += [hit.id for hit in results.hits]
        assert totals == {len(expected)}
        assert len(seen) == len(set(seen)), f"pages overlap ({sort})"
        assert set(seen) == expected
    beyond = real_data.store.search(SearchQuery(languages=("de",), page=1000, per_page=100))
    assert (beyond.total, beyond.hits) == (len(expected), [])


def test_text_pagination(real_data: RealData) -> None:
    first = real_data.store.search(SearchQuery(text="nato", per_page=20))
    second = real_data.store.search(SearchQuery(text="nato", per_page=20, page=2))
    assert first.total == second.total > 40
    assert not {h.id for h in first.hits} & {h.id for h in second.hits}
    scores = [h.score for h in first.hits + second.hits]
    assert all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_sort_by_date(real_data: RealData) -> None:
    newest = real_data.store.search(SearchQuery(countries=("Georgia",), sort=Sort.DATE, per_page=200))
    dates = [h.published for h in newest.hits if h.published]
    assert len(dates) > 50
    assert dates == sorted(dates, reverse=True)
    assert dates[0] == max(c.published for c in real_data.cases if "Georgia" in c.countries and c.published)
    oldest = real_data.store.search(SearchQuery(countries=("Georgia",), sort=Sort.DATE_ASC, per_page=200))
    dates = [h.published for h in oldest.hits if h.published]
    assert dates == sorted(dates)
    assert dates[0] == min(c.published for c in real_data.cases if "Georgia" in c.countries and c.published)


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['"colour revolution', 'ok "unclosed', '"'])
def test_unclosed_quote_is_a_syntax_error(seed_store: SQLStore, text: str) -> None:
    with pytest.raises(QuerySyntaxError, match="unclosed quote"):
        seed_store.search(SearchQuery(text=text))


def test_other_bad_queries(seed_store: SQLStore) -> None:
    with pytest.raises(QuerySyntaxError, match="not excluded"):
        seed_store.search(SearchQuery(text="-russia"))
    with pytest.raises(QuerySyntaxError, match="longer than"):
        seed_store.search(SearchQuery(text="a" * (MAX_QUERY_CHARS + 1)))
    with pytest.raises(QuerySyntaxError, match=f"33 different terms: at most {MAX_TERMS} are allowed"):
        seed_store.search(SearchQuery(text=" ".join(f"w{i}" for i in range(MAX_TERMS + 1))))
    with pytest.raises(QuerySyntaxError, match="Elvish Sindarin"):
        seed_store.search(SearchQuery(languages=("Elvish Sindarin",)))
    with pytest.raises(QuerySyntaxError, match="after"):
        SearchQuery(since=date(2022, 1, 1), until=date(2021, 1, 1))
    with pytest.raises(QuerySyntaxError):
        SearchQuery(page=0)
    with pytest.raises(QuerySyntaxError):
        SearchQuery(per_page=0)
    with pytest.raises(QuerySyntaxError):
        SearchQuery(per_page=201)


@pytest.mark.parametrize("text", ["", "   ", "*", "-", "OR", "...", '""', "¿?"])
def test_queries_without_words_match_everything(seed_store: SQLStore, text: str) -> None:
    assert to_fts(text) is None
    assert seed_store.search(SearchQuery(text=text)).total == 4


@pytest.mark.parametrize("text", ["a:b", "NEAR(x y)", "title:kazakhstan", "(", ")", "x AND", "NOT y", "^z",
                                  "a'b", "c;d", '"a" "b"', "{x}", "kazakhstan*", "**"])
def test_fts_syntax_in_user_text_is_plain_words(seed_store: SQLStore, text: str) -> None:
    seed_store.search(SearchQuery(text=text))  # no error: every user word is quoted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=80) | st.lists(st.sampled_from(
    ['"', "-", "*", "OR", "AND", "NOT", "(", ")", ":", "^", "colour", "revolution", "Ğ", "Ж", " ", "\x00",
     "NEAR", "'", "_", "+", "{", "}"]), max_size=12).map(" ".join))
def test_search_only_ever_raises_query_syntax_error(seeded: SQLStore, text: str) -> None:
    try:
        results = seeded.search(SearchQuery(text=text, per_page=5))
    except QuerySyntaxError:
        return
    assert results.total >= len(results.hits)


def test_language_code_filter_is_normalised() -> None:
    query = SearchQuery(languages=("Castilian", "ru"), countries=("USA",))
    assert ("language", language_code("Spanish")) in query.term_filters()
    assert ("country", fold(country_name("United States"))) in query.term_filters()
