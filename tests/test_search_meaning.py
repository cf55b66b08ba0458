"""Search by meaning and the hybrid `auto` mode, over the 2,769 real cases of 2015-2017 (real
SQLite file, real models, the default configuration)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from conftest import Claims2017
from fastapi.testclient import TestClient

from disinfodb.errors import QuerySyntaxError
from disinfodb.matching import meaning
from disinfodb.search import MAX_QUERY_CHARS, Results, SearchMode, SearchQuery, Sort
from disinfodb.server.app import create_app

NATO_WAR_RU = "НАТО готовится к войне с Россией"  # "NATO is preparing for a war with Russia"


def search(claims: Claims2017, text: str, mode: SearchMode, **filters: Any) -> Results:
    return meaning.search(claims.store, SearchQuery(text=text, mode=mode, **filters), claims.matcher)


def test_a_russian_query_finds_the_english_cases_that_say_it(claims_2017: Claims2017) -> None:
    assert search(claims_2017, NATO_WAR_RU, SearchMode.WORDS).total == 0
    found = search(claims_2017, NATO_WAR_RU, SearchMode.MEANING, per_page=10)
    assert found.mode is SearchMode.MEANING and 0 < found.total <= meaning.MEANING_RESULTS
    titles = [hit.title.casefold() for hit in found.hits]
    assert any("nato" in title and "war" in title for title in titles[:5]), titles
    # the snippet is the case sentence that matched, marked whole
    assert all(len(hit.snippet.parts) == 1 and hit.snippet.parts[0][1] for hit in found.hits)


def test_auto_fuses_both_and_keeps_what_words_find(claims_2017: Claims2017) -> None:
    words = search(claims_2017, "MH17 shot down", SearchMode.WORDS, per_page=200)
    auto = search(claims_2017, "MH17 shot down", SearchMode.AUTO, per_page=200)
    assert auto.mode is SearchMode.AUTO and 0 < words.total <= auto.total
    top_words = {hit.id for hit in words.hits[:5]}
    assert top_words <= {hit.id for hit in auto.hits}
    assert sum(hit.id in top_words for hit in auto.hits[:10]) >= 3  # found by both: first


def test_query_syntax_is_a_words_search_in_auto_mode(claims_2017: Claims2017) -> None:
    for text in ('"colour revolution"', "nato*", "ukraine -russia", "belarus OR georgia"):
        auto = search(claims_2017, text, SearchMode.AUTO)
        words = search(claims_2017, text, SearchMode.WORDS)
        assert auto.mode is SearchMode.WORDS and auto.total == words.total
        assert [hit.id for hit in auto.hits] == [hit.id for hit in words.hits]


def test_filters_apply_before_ranking_and_facets_count_the_ranked_set(claims_2017: Claims2017) -> None:
    found = search(claims_2017, NATO_WAR_RU, SearchMode.MEANING, countries=("Poland",), per_page=200)
    assert 0 < found.total <= meaning.MEANING_RESULTS
    assert all("Poland" in hit.countries for hit in found.hits)
    countries = {value.label: value.count for value in found.facets["country"]}
    assert countries["Poland"] == found.total
    languages = found.facets["language"]
    assert sum(value.count for value in languages) >= found.total  # a case may have several languages


def test_sorting_by_date_orders_the_same_result_set(claims_2017: Claims2017) -> None:
    by_meaning = search(claims_2017, NATO_WAR_RU, SearchMode.AUTO, per_page=200)
    by_date = search(claims_2017, NATO_WAR_RU, SearchMode.AUTO, sort=Sort.DATE, per_page=200)
    assert {hit.id for hit in by_meaning.hits} == {hit.id for hit in by_date.hits}
    dates = [hit.published for hit in by_date.hits if hit.published]
    assert dates == sorted(dates, reverse=True) and len(dates) > 10


def test_a_pasted_article_is_searched_by_its_first_sentences(claims_2017: Claims2017) -> None:
    article = ("NATO is preparing for a war with Russia and moves its troops to the border. " * 200)[:10_000]
    found = search(claims_2017, article, SearchMode.AUTO)  # too long for the words parser
    assert found.mode is SearchMode.MEANING and found.total > 0
    with pytest.raises(QuerySyntaxError, match=f"longer than {MAX_QUERY_CHARS}"):
        search(claims_2017, article, SearchMode.WORDS)


def test_queries_without_words(claims_2017: Claims2017) -> None:
    with pytest.raises(QuerySyntaxError, match="needs words"):
        search(claims_2017, "🙂🙂 !!! 123", SearchMode.MEANING)
    assert search(claims_2017, "🙂🙂", SearchMode.AUTO).mode is SearchMode.WORDS


def test_the_api_and_the_search_page_search_by_meaning(claims_2017: Claims2017, tmp_path: Path) -> None:
    store = claims_2017.copy_to(tmp_path / "served.sqlite")  # the vectors are cached in it
    with TestClient(create_app(store), raise_server_exceptions=False) as client:
        body = client.get("/api/cases", params={"q": NATO_WAR_RU, "mode": "meaning", "per_page": 5}).json()
        assert body["mode"] == "meaning" and 0 < body["total"] <= meaning.MEANING_RESULTS
        assert any("nato" in hit["title"].casefold() for hit in body["results"])
        assert client.get("/api/cases", params={"q": "nato*"}).json()["mode"] == "words"  # syntax: words
        refused = client.get("/api/cases", params={"q": "x" * 20_001})
        assert refused.status_code == 422 and "20000" in refused.text
        html = client.get("/", params={"q": NATO_WAR_RU, "mode": "meaning", "lang": "uk"}).text
        assert "За змістом" in html and 'value="meaning" selected' in html
    store.close()


def test_auto_without_an_index_is_a_words_search(claims_2017: Claims2017) -> None:
    query = SearchQuery(text="MH17 shot down", mode=SearchMode.AUTO)
    assert meaning.search(claims_2017.store, query, None).mode is SearchMode.WORDS
    with pytest.raises(QuerySyntaxError, match="not built yet"):
        meaning.search(claims_2017.store, dataclasses.replace(query, mode=SearchMode.MEANING), None)
