"""Trends, emerging narratives and co-occurrence over the real 2015-2021 cases: the
library (`disinfodb.trends`), its API (`/api/narratives`, `/api/trends`, ...) and its
pages (`/narratives`, `/trends`, `/cooccurrence`).

Narratives are written straight into the narrative tables (by keyword), so these tests
do not depend on the clustering: the Skripal, coronavirus and Navalny cases, an MH17
narrative with a hostile name, and a Novichok narrative merged into the Skripal one.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
import schemathesis
from conftest import RealData, raw
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from web_support import Element, parse

from disinfodb import trends
from disinfodb.errors import NarrativeNotFound, QuerySyntaxError
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.narratives import NarrativeBook
from disinfodb.search import SearchQuery
from disinfodb.server.app import create_app
from disinfodb.store import SQLStore, open_store

XSS = "<script>alert(1)</script>"
FUZZ_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
               response_schema_conformance]
SVG = "{http://www.w3.org/2000/svg}"
# id -> (name or None, keyword keys whose cases it takes)
NARRATIVES: dict[str, tuple[str | None, list[str]]] = {
    "n1": ("Skripal poisoning", ["sergei skripal", "skripal"]),
    "n2": (None, ["coronavirus"]),
    "n3": ("Navalny", ["alexei navalny"]),
    "n4": (XSS, ["mh17"]),
    "n5": (None, ["novichok"]),  # merged into n1 below
}


def add_narratives(store: SQLStore) -> None:
    """Narratives as the clustering would leave them, made from keywords (first wins)."""
    book, db = NarrativeBook(store), raw(store)
    with store.transaction():
        for nid, (name, keys) in NARRATIVES.items():
            book._insert(nid, label=" · ".join(keys), terms=keys, keywords=[], name=name)
            db.execute(
                "INSERT OR IGNORE INTO case_narratives (case_pk, narrative_id) SELECT DISTINCT ct.case_pk, ?"
                " FROM case_terms ct JOIN terms t ON t.id = ct.term_id"
                " WHERE t.facet = 'keyword' AND t.key IN (SELECT value FROM json_each(?))", (nid, json.dumps(keys)))
            book._refresh(nid)
            db.execute("UPDATE narratives SET representative = (SELECT c.id FROM case_narratives cn"
                       " JOIN cases c ON c.pk = cn.case_pk WHERE cn.narrative_id = ? ORDER BY c.pk LIMIT 1)"
                       " WHERE id = ?", (nid, nid))
    book.merge("n5", "n1")


@pytest.fixture(scope="module")
def trend_path(real_data: RealData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real cases (both scrapes) with the narratives above."""
    path = tmp_path_factory.mktemp("trends") / "trends.sqlite"
    copy = sqlite3.connect(path)
    sqlite3.connect(real_data.store.location).backup(copy)
    copy.close()
    store = open_store(str(path))
    add_narratives(store)
    store.close()
    return path


@pytest.fixture(scope="module")
def store(trend_path: Path) -> Iterator[SQLStore]:
    opened = open_store(str(trend_path))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(trend_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("trend-site") / "site.sqlite"
    source, copy = sqlite3.connect(trend_path), sqlite3.connect(path)
    source.backup(copy)
    source.close()
    copy.close()
    store = open_store(str(path))
    app = create_app(store, "use-m")
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as test_client:
        yield test_client
    app.state.service.close()
    store.close()


def direct_count(store: SQLStore, *terms: tuple[str, str], dated: bool = True) -> int:
    """Cases carrying every (facet, key) term, counted in SQL."""
    sql = "SELECT count(*) FROM cases c WHERE " + (" c.published IS NOT NULL AND " if dated else "")
    sql += " AND ".join("EXISTS (SELECT 1 FROM case_terms ct JOIN terms t ON t.id = ct.term_id"
                        " WHERE ct.case_pk = c.pk AND t.facet = ? AND t.key = ?)" for _ in terms) or "1"
    return int(raw(store).execute(sql, [v for term in terms for v in term]).fetchone()[0])


def dated_cases(store: SQLStore, since: str = "0000", until: str = "9999") -> int:
    return int(raw(store).execute("SELECT count(*) FROM cases WHERE published BETWEEN ? AND ?",
                                        (since, until)).fetchone()[0])


# -- the waves -------------------------------------------------------------------------------

def test_known_waves_peak_when_they_happened(store: SQLStore) -> None:
    corona = trends.series(store, "keyword", "Coronavirus")  # any spelling of the value
    skripal = trends.series(store, "keyword", "Sergei Skripal")
    navalny = trends.series(store, "keyword", "alexei navalny")
    assert corona.label == "coronavirus" and skripal.label == "Sergei Skripal" and navalny.label == "Alexei Navalny"
    for series, year, month in ((corona, 2020, 3), (skripal, 2018, 3), (navalny, 2020, 9)):
        by_count, by_share = series.peak(), series.peak(share=True)
        assert by_count is not None and by_share is not None
        assert by_count.start == date(year, month, 1), (series.label, by_count)
    assert corona.peak(share=True).start.year == 2020  # type: ignore[union-attr]
    assert skripal.peak(share=True).start == date(2018, 3, 1)  # type: ignore[union-attr]
    assert navalny.peak(share=True).start >= date(2020, 8, 1)  # type: ignore[union-attr]
    # nothing about the coronavirus before 2020, and 2018 is Skripal's busiest year
    assert sum(p.count for p in corona.points if p.start.year < 2020) == 0
    by_year = trends.series(store, "keyword", "Sergei Skripal", "year")
    assert max(by_year.points, key=lambda p: p.count).start == date(2018, 1, 1)


def test_year_volumes_differ_so_shares_are_offered(store: SQLStore) -> None:
    years = {p.start.year: p for p in trends.series(store, period="year").points}
    assert years[2018].total < 1100 and years[2020].total > 3000
    assert all(p.share == 1.0 for p in years.values())  # all cases are all cases


@pytest.mark.parametrize("period", ["week", "month", "year"])
@pytest.mark.parametrize(("facet", "value", "key"), [("keyword", "coronavirus", "coronavirus"),
                                                     ("country", "Germany", "germany"),
                                                     ("language", "Russian", "ru")])
def test_counts_sum_to_the_total_and_shares_are_fractions(store: SQLStore, period: trends.Period, facet: str,
                                                          value: str, key: str) -> None:
    series = trends.series(store, facet, value, period)
    assert series.value == key
    assert series.count == sum(p.count for p in series.points) == direct_count(store, (facet, key)) > 0
    assert sum(p.total for p in series.points) == dated_cases(store)
    assert all(0.0 <= p.share <= 1.0 and p.count <= p.total for p in series.points)
    assert all(p.share == (p.count / p.total if p.total else 0.0) for p in series.points)
    starts = [p.start for p in series.points]
    assert starts == sorted(set(starts))  # one point per period, empty ones included
    if period == "week":
        assert all(s.weekday() == 0 for s in starts) and all(b - a == timedelta(days=7)
                                                            for a, b in itertools.pairwise(starts))
    elif period == "month":
        assert all(s.day == 1 for s in starts)
        assert all((b.year - a.year) * 12 + b.month - a.month == 1 for a, b in itertools.pairwise(starts))


def test_filters_words_and_dates_narrow_a_series(store: SQLStore) -> None:
    query = SearchQuery(countries=("Germany",))
    corona = trends.series(store, "keyword", "coronavirus", "month", query)
    assert corona.count == direct_count(store, ("keyword", "coronavirus"), ("country", "germany")) > 10
    words = SearchQuery(text="novichok")
    assert trends.series(store, query=words).count == store.search(words).total > 20
    year_2018 = SearchQuery(since=date(2018, 1, 1), until=date(2018, 12, 31))
    months = trends.series(store, "keyword", "Sergei Skripal", "month", year_2018)
    assert [p.start for p in months.points] == [date(2018, m, 1) for m in range(1, 13)]
    assert sum(p.total for p in months.points) == dated_cases(store, "2018-01-01", "2018-12-31")
    assert trends.series(store, query=year_2018).label == "Matching cases"
    assert trends.count(store, year_2018) == store.search(year_2018).total


def test_unknown_values_and_facets(store: SQLStore) -> None:
    nothing = trends.series(store, "keyword", "no such keyword")
    assert nothing.count == 0 and nothing.points and all(p.count == 0 for p in nothing.points)
    with pytest.raises(NarrativeNotFound):
        trends.series(store, "narrative", "n999")
    with pytest.raises(QuerySyntaxError):
        trends.series(store, "colour", "red")
    with pytest.raises(QuerySyntaxError):
        trends.series(store, "language", "Elvish")
    with pytest.raises(QuerySyntaxError):
        trends.series(store, "keyword", None)
    with pytest.raises(QuerySyntaxError):
        trends.emerging(store, weeks=0)


# -- narratives -------------------------------------------------------------------------------

def test_narrative_series_and_first_seen(store: SQLStore) -> None:
    book = NarrativeBook(store)
    skripal = book.get("n1")
    series = trends.series(store, "narrative", "n5")  # merged: the narrative it joined
    assert series.value == "n1" and series.label == "Skripal poisoning"
    assert series.count == skripal.size  # every imported case is dated
    assert series.peak() is not None and series.peak().start == date(2018, 3, 1)  # type: ignore[union-attr]
    spans = trends.spans(store)
    assert set(spans) == {n.id for n in book.all()} == {"n1", "n2", "n3", "n4"}
    for narrative in book.all():
        span = spans[narrative.id]
        assert (span.first_seen, span.last_seen, span.count) == (narrative.first_seen, narrative.last_seen,
                                                                  narrative.size)
        assert trends.first_seen(store, "narrative", narrative.id) == narrative.first_seen
    first = raw(store).execute(
        "SELECT min(c.published) FROM cases c JOIN case_terms ct ON ct.case_pk = c.pk JOIN terms t"
        " ON t.id = ct.term_id WHERE t.facet = 'keyword' AND t.key = 'coronavirus'").fetchone()[0]
    assert trends.first_seen(store, "keyword", "coronavirus") == date.fromisoformat(first)
    assert trends.spans(store, "keyword")["coronavirus"].first_seen == date.fromisoformat(first)
    assert trends.first_seen(store, "keyword", "no such keyword") is None
    starts, table = trends.series_table(store)
    assert set(table) == {"n1", "n2", "n3", "n4"} and all(len(row) == len(starts) for row in table.values())
    assert table["n1"] == [p.count for p in series.points]


def test_emerging_narratives_and_keywords(store: SQLStore) -> None:
    spring_2020 = trends.emerging(store, weeks=8, as_of=date(2020, 4, 30))
    assert spring_2020.items[0].value == "n2" and spring_2020.items[0].relative > 10
    assert spring_2020.items[0].recent >= 5
    spring_2018 = trends.emerging(store, weeks=8, as_of=date(2018, 4, 30))
    assert spring_2018.items[0].value == "n1" and spring_2018.items[0].new
    keywords = trends.emerging(store, facet="keyword", weeks=10, as_of=date(2020, 3, 31))
    top = keywords.items[0]
    assert (top.value, top.baseline, top.new) == ("coronavirus", 0, True)
    assert top.growth == round(top.recent + 1, 3)  # nothing in the baseline: (recent + 1) / 1
    assert all(g.recent >= 5 and g.relative >= 2 for g in keywords.items)
    assert [g.relative for g in keywords.items] == sorted((g.relative for g in keywords.items), reverse=True)
    # by default "now" is the newest case: the data end in February 2021
    latest = trends.emerging(store)
    assert latest.as_of == date(2021, 2, 18)
    assert "n2" not in {g.value for g in latest.items}  # the coronavirus wave is over by then


def test_now_is_the_newest_case_unless_a_few_stragglers_come_long_after() -> None:
    day = date(2021, 2, 18).toordinal()
    dense = np.arange(day - 400, day + 1)
    assert trends.data_end(dense) == day
    straggler = np.concatenate([dense, [day + 300]])  # e.g. one case added a year after the scrape
    assert trends.data_end(straggler) == day
    assert trends.data_end(np.concatenate([dense, np.full(50, day + 300)])) == day + 300  # 11%: real data
    assert trends.data_end(np.concatenate([dense, [day + 30]])) == day + 30  # no long gap


# -- top values and co-occurrence -----------------------------------------------------------

def test_top_values_are_the_search_facets(store: SQLStore) -> None:
    query = SearchQuery(since=date(2020, 1, 1), until=date(2020, 12, 31))
    top = trends.top_values(store, "keyword", query, 10)
    facets = store.search(SearchQuery(since=query.since, until=query.until, facet_size=10)).facets["keyword"]
    assert [(t.value, t.count) for t in top] == [(f.value, f.count) for f in facets]
    assert top[0].label == "coronavirus" and 0 < top[0].share < 1
    narratives = trends.top_values(store, "narrative", query, 3)
    assert narratives[0].value == "n2" and narratives[0].label == "coronavirus"


def test_cooccurrence_counts_are_direct_counts(store: SQLStore) -> None:
    found = trends.cooccurrence(store, "keyword", "country", n=5, pairs=10)
    assert found.total == store.count() and len(found.rows) == len(found.cols) == 5
    for i, row in enumerate(found.rows):
        assert row.count == direct_count(store, ("keyword", row.value), dated=False)
        for j, col in enumerate(found.cols):
            both = direct_count(store, ("keyword", row.value), ("country", col.value), dated=False)
            assert found.counts[i][j] == both
            assert found.lift[i][j] == pytest.approx(both * found.total / (row.count * col.count), abs=1e-3)
    assert [p.count for p in found.pairs] == sorted((p.count for p in found.pairs), reverse=True)
    best = found.pairs[0]
    assert (best.row.label, best.col.label) == ("War in Ukraine", "Ukraine")
    assert best.count == direct_count(store, ("keyword", best.row.value), ("country", best.col.value), dated=False)
    assert trends.pmi(best.lift) == pytest.approx(math.log2(best.lift))
    assert trends.pmi(0.0) is None


def test_cooccurrence_of_one_facet_with_itself_and_with_filters(store: SQLStore) -> None:
    found = trends.cooccurrence(store, "keyword", "keyword", n=6, pairs=20)
    assert found.rows == found.cols
    for i, row in enumerate(found.rows):
        assert found.counts[i][i] == row.count  # the diagonal: the value's own cases
        assert [found.counts[j][i] for j in range(6)] == found.counts[i]  # symmetric
    assert all(p.row.value != p.col.value for p in found.pairs)
    assert len({frozenset((p.row.value, p.col.value)) for p in found.pairs}) == len(found.pairs)
    query = SearchQuery(keywords=("coronavirus",), since=date(2020, 1, 1))
    filtered = trends.cooccurrence(store, "narrative", "country", query, n=3)
    assert filtered.total == store.search(query).total
    assert filtered.rows[0].value == "n2"
    assert filtered.rows[0].count == trends.series(store, "narrative", "n2", query=query).count > 700
    nothing = trends.cooccurrence(store, query=SearchQuery(keywords=("no such keyword",)))
    assert (nothing.total, nothing.rows, nothing.counts, nothing.pairs) == (0, [], [], [])


# -- the API ---------------------------------------------------------------------------------

def json_of(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text[:1000]
    return response.json()


def test_api_narratives(client: TestClient) -> None:
    listed = json_of(client.get("/api/narratives"))
    assert [n["id"] for n in listed][:1] and {n["id"] for n in listed} == {"n1", "n2", "n3", "n4"}
    skripal = next(n for n in listed if n["id"] == "n1")
    assert set(skripal) == {"id", "title", "label", "name", "terms", "keywords", "representative", "size",
                            "first_seen", "last_seen", "pinned", "theme"}
    assert skripal["title"] == skripal["name"] == "Skripal poisoning" and skripal["first_seen"] == "2018-03-06"
    assert {"keyword", "share"} == set(skripal["keywords"][0])
    detail = json_of(client.get("/api/narratives/n5"))  # merged into n1
    assert detail["id"] == "n1" and len(detail["members"]) == detail["size"] == skripal["size"]
    trend = json_of(client.get("/api/narratives/n1/trend", params={"period": "year"}))
    assert trend["value"] == "n1" and trend["count"] == skripal["size"]
    assert {p["start"] for p in trend["points"]} >= {"2018-01-01", "2020-01-01"}
    for url in ("/api/narratives/n999", "/api/narratives/n999/trend"):
        response = client.get(url)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Narrative not found"


def test_api_trends(client: TestClient, store: SQLStore) -> None:
    corona = json_of(client.get("/api/trends", params={"facet": "keyword", "value": "coronavirus"}))
    assert corona["count"] == sum(p["count"] for p in corona["points"])
    assert corona["count"] == direct_count(store, ("keyword", "coronavirus"))
    assert set(corona["points"][0]) == {"start", "count", "total", "share"}
    germany = json_of(client.get("/api/trends", params={"country": "Germany", "period": "year",
                                                         "since": "2016-01-01", "until": "2016-12-31"}))
    assert [p["start"] for p in germany["points"]] == ["2016-01-01"]
    assert germany["count"] == store.search(SearchQuery(countries=("Germany",), since=date(2016, 1, 1),
                                                        until=date(2016, 12, 31))).total
    assert json_of(client.get("/api/trends", params={"facet": "narrative", "value": "n2"}))["label"] == "coronavirus"
    assert client.get("/api/trends", params={"facet": "narrative", "value": "n999"}).status_code == 404
    assert client.get("/api/trends", params={"facet": "keyword"}).status_code == 400  # a facet needs a value
    assert client.get("/api/trends", params={"language": "Elvish"}).status_code == 400
    assert client.get("/api/trends", params={"since": "2020-01-01", "until": "2019-01-01"}).status_code == 400
    assert client.get("/api/trends", params={"period": "day"}).status_code == 422
    assert client.get("/api/trends", params={"q": '"unclosed'}).status_code == 400


def test_api_emerging_and_cooccurrence(client: TestClient) -> None:
    found = json_of(client.get("/api/emerging", params={"as_of": "2020-04-30", "weeks": 8}))
    assert found["as_of"] == "2020-04-30" and found["items"][0]["value"] == "n2"
    assert set(found["items"][0]) == {"value", "label", "recent", "baseline", "expected", "growth", "relative",
                                      "first_seen", "new"}
    keywords = json_of(client.get("/api/emerging", params={"facet": "keyword", "as_of": "2020-03-31"}))
    assert keywords["items"][0]["label"] == "coronavirus"
    assert client.get("/api/emerging", params={"weeks": 0}).status_code == 422
    matrix = json_of(client.get("/api/cooccurrence", params={"n": 3, "pairs": 2, "since": "2020-01-01"}))
    assert len(matrix["rows"]) == len(matrix["cols"]) == len(matrix["counts"]) == len(matrix["lift"]) == 3
    assert len(matrix["pairs"]) == 2 and set(matrix["pairs"][0]) == {"row", "col", "count", "lift", "pmi"}
    assert client.get("/api/cooccurrence", params={"rows": "colour"}).status_code == 422
    schema = json_of(client.get("/openapi.json"))
    for path in ("/api/narratives", "/api/narratives/{narrative_id}", "/api/narratives/{narrative_id}/trend",
                 "/api/trends", "/api/emerging", "/api/cooccurrence"):
        assert "200" in schema["paths"][path]["get"]["responses"], path
    assert "404" in schema["paths"]["/api/narratives/{narrative_id}"]["get"]["responses"]


# -- the pages -------------------------------------------------------------------------------

def page(response: Any, status: int = 200) -> Element:
    assert response.status_code == status, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in response.text
    return parse(response.text).find("main")


def svgs(response: Any) -> list[ET.Element]:
    """Every inline <svg> of a page, parsed as XML (so it is well-formed)."""
    text = response.text
    found = []
    while (start := text.find("<svg")) >= 0:
        end = text.index("</svg>", start) + len("</svg>")
        found.append(ET.fromstring(text[start:end]))
        text = text[end:]
    return found


def test_narratives_page(client: TestClient, store: SQLStore) -> None:
    response = client.get("/narratives", params={"as_of": "2020-04-30", "weeks": 8})
    main = page(response)
    rows = main.find("table").find("tbody").find_all("tr")
    largest_first = [f"/narratives/{n.id}" for n in NarrativeBook(store).all()]
    assert [r.find("a").get("href") for r in rows] == largest_first and len(rows) == 4
    emerging = [r for r in rows if r.has_class("is-emerging")]
    assert [r.find("a").text for r in emerging][:1] == ["coronavirus"]
    assert main.find("ol", "emerging-list").find("a").get("href") == "/narratives/n2"  # the fastest first
    assert "No narrative grew" in page(client.get("/narratives", params={"as_of": "2017-06-30"})).text
    assert XSS in main.text  # shown as text, escaped in the HTML
    charts = svgs(response)
    assert len(charts) == 4 and all(c.get("role") == "img" and c.get("aria-label") for c in charts)
    assert "emerging" not in " ".join(r.get("class") for r in rows if r.find("a").text == "Navalny")


def test_narrative_page(client: TestClient, store: SQLStore) -> None:
    response = client.get("/narratives/n1")
    main = page(response)
    assert main.find("h1").text == "Skripal poisoning"
    size = NarrativeBook(store).get("n1").size
    members = main.find("ol", "member-list").find_all("a")
    assert len(members) == min(size, 50) and all(a.get("href").startswith("/cases/") for a in members)
    representative = NarrativeBook(store).get("n1").representative
    assert f"/cases/{representative}" in main.links().values()
    charts = svgs(response)
    assert [c.get("id") for c in charts] == ["narrative-counts", "narrative-share"]
    assert any("%" in (t.text or "") for t in charts[1].iter(f"{SVG}text"))
    assert any((t.text or "") == "2018" for t in charts[0].iter(f"{SVG}text"))  # year ticks
    second = page(client.get("/narratives/n1", params={"page": 2}))
    assert second.find("ol", "member-list").get("start") == "51"
    assert page(client.get("/narratives/n4")).find("h1").text == XSS
    assert "Not found" in page(client.get("/narratives/n999"), 404).text
    assert page(client.get("/narratives/n5")).find("h1").text == "Skripal poisoning"  # merged


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query)


def test_trends_page(client: TestClient, store: SQLStore) -> None:
    response = client.get("/trends", params={"keyword": "coronavirus", "country": "Germany"})
    main = page(response)
    total = direct_count(store, ("keyword", "coronavirus"), ("country", "germany"))
    assert main.find("p", "total").find("strong").text == f"{total:,}"
    line, keywords, countries = svgs(response)
    assert (line.get("id"), keywords.get("id"), countries.get("id")) == ("trend", "top-keyword", "top-country")
    bars = [a.get("href", "") for a in keywords.iter(f"{SVG}a")]
    assert bars and all(("keyword", "coronavirus") in query_of(h) and ("country", "Germany") in query_of(h)
                        for h in bars)
    assert bars[0].startswith("/?") and keywords.get("role") == "group"
    chips = {a.text: a.get("href") for a in main.find("ul", "chips").find_all("a")}
    assert any(h.startswith("/trends?") and "country=Germany" in h and "coronavirus" not in h
               for h in chips.values())
    shares = client.get("/trends", params={"compare": ["coronavirus", "Sergei Skripal", XSS], "show": "share"})
    page(shares)
    chart = svgs(shares)[0]
    legend = [t.text for g in chart.iter(f"{SVG}g") if g.get("class") == "legend" for t in g.iter(f"{SVG}text")]
    assert legend == ["coronavirus", "Sergei Skripal", XSS]
    assert page(client.get("/trends", params={"language": "Elvish"}), 400)
    assert page(client.get("/trends", params={"period": "week", "q": "novichok"}))


def test_cooccurrence_page(client: TestClient, store: SQLStore) -> None:
    response = client.get("/cooccurrence", params={"n": 4, "since": "2020-01-01", "until": "2020-12-31"})
    main = page(response)
    (heat,) = svgs(response)
    cells = [g for g in heat.iter(f"{SVG}g") if g.get("class") == "cell"]
    assert len(cells) == 16
    first = cells[0].find(f"{SVG}a")
    assert first is not None and ("since", "2020-01-01") in query_of(first.get("href", ""))
    rows = main.find("table", "pairs").find("tbody").find_all("tr")
    assert len(rows) == 30
    keyword, country, count = (td.text for td in rows[0].find_all("td")[:3])
    query = SearchQuery(keywords=(keyword,), countries=(country,), since=date(2020, 1, 1), until=date(2020, 12, 31))
    assert int(count.replace(",", "")) == store.search(query).total
    narrative_rows = client.get("/cooccurrence", params={"rows": "narrative", "cols": "language", "shade": "lift"})
    assert "Skripal poisoning" in page(narrative_rows).text
    assert page(client.get("/cooccurrence", params={"n": 1}), 422)


# -- fuzzing the API ----------------------------------------------------------------------------

WITH_INPUT = ["/api/narratives/{narrative_id}/trend", "/api/trends", "/api/emerging", "/api/cooccurrence"]
NO_INVALID_INPUT = ["/api/narratives", "/api/narratives/{narrative_id}"]  # nothing a request can get wrong
FUZZ_RUNS = ([(path, GenerationMode.POSITIVE) for path in NO_INVALID_INPUT + WITH_INPUT]
             + [(path, GenerationMode.NEGATIVE) for path in WITH_INPUT])


@pytest.fixture(scope="module")
def fuzzed(seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    """The seed cases with one narrative, and the app's own schema."""
    store = open_store(str(tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite"))
    assert import_records(store, read_file(str(seed_path))).created == 4
    book = NarrativeBook(store)
    with store.transaction():
        book._insert("n1", label="kazakhstan · coup", terms=["kazakhstan"], keywords=[])
        raw(store).execute("INSERT INTO case_narratives (case_pk, narrative_id) SELECT pk, 'n1' FROM cases")
        book._refresh("n1")
    app = create_app(store, "use-m")
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.service.close()
    store.close()


@pytest.mark.parametrize(("path", "mode"), FUZZ_RUNS, ids=[f"{p} {m.value}" for p, m in FUZZ_RUNS])
def test_generated_requests_never_fail(fuzzed: schemathesis.BaseSchema, path: str, mode: GenerationMode) -> None:
    """No 5xx, and every answer as /openapi.json documents it (status, type, body)."""
    strategy = fuzzed[path]["GET"].as_strategy(generation_mode=mode)
    if "{narrative_id}" in path and mode is GenerationMode.POSITIVE:
        strategy = st.tuples(strategy, st.sampled_from([None, "n1"])).map(_with_narrative)
    statuses: set[int] = set()

    @given(case=strategy)
    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(checks=FUZZ_CHECKS)
        statuses.add(response.status_code)

    run()
    assert statuses and max(statuses) < 500


def _with_narrative(drawn: tuple[schemathesis.Case[Any], str | None]) -> schemathesis.Case[Any]:
    case, narrative_id = drawn
    if narrative_id is not None:
        case.path_parameters = {**(case.path_parameters or {}), "narrative_id": narrative_id}
    return case
