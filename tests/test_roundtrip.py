"""Every exporter is the inverse of its reader: export, import into a fresh store, compare."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from conftest import FIXTURES

from disinfodb.cases import Case, Outlet
from disinfodb.export import EXPORTERS
from disinfodb.ingest import detect_format, read_file
from disinfodb.ingest.claimreview import TITLE_FALLBACK_CHARS
from disinfodb.ingest.pipeline import import_records
from disinfodb.store import SQLStore, open_store

SUFFIX = {"jsonl": ".jsonl", "json": ".json", "csv": ".csv", "claimreview": ".jsonld"}

TRICKY = [
    Case(
        id="tricky-everything",
        url="https://euvsdisinfo.eu/report/tricky-everything/",
        title='Semi;colons, back\\slashes and "quotes" in Ελληνικά – Русский 中文 🙂',
        summary='Line one; with "quotes", \'single\' and a back\\slash\\\n\nSecond paragraph: ü ğ ß ø\n'
                "third line, + plus, tab\tinside",
        disproof="Disproof with a URL https://example.org/a;b and\n\nanother paragraph \\; escaped?",
        published=date(2021, 2, 28),
        issue=270,
        languages=["ru", "en", "el"],
        countries=["Russia", "Côte d'Ivoire", "US"],
        keywords=["a;b", "c\\", "\\;", 'quote "q"', "multi word", "Ünïcödé"],
        outlets=[
            Outlet(name="RT; Deutsch", url="https://rt.example/a;b", archive_url="https://archive.example/x"),
            Outlet(name="", url="https://url-only.example/p?q=1&r=2"),
            Outlet(name="Name only \\ slash"),
            Outlet(name="Archived only", archive_url="https://web.archive.example/2021/y"),
        ],
        links=["https://example.org/a;b", "https://example.org/c\\d"],
        related=["other-case", "third-case"],
        narratives=["Encircling Russia", "Colour revolutions; again"],
        reported_by='Promote "Ukraine"; NGO',
    ),
    Case(id="bare-minimum", title="Only a title"),
    Case(id="empty-lists", title="Empty lists but text", summary="s", disproof="d", languages=[],
         countries=[], keywords=[], outlets=[], links=[]),
    Case(title="No id given: the store assigns one", summary="„Anführungszeichen“ «guillemets»",
         published=date(2015, 1, 6), outlets=[Outlet(url="https://x.example/1")]),
    Case(title="Trailing backslash\\", keywords=["ends with\\"], countries=["Ends\\"],
         outlets=[Outlet(name="a\\", url="https://x.example/\\")]),
]


@pytest.fixture
def source_store(seed_store: SQLStore) -> SQLStore:
    for case in TRICKY:
        seed_store.upsert(case)
    assert seed_store.count() == 4 + len(TRICKY)
    return seed_store


def contents(store: SQLStore) -> dict[str, dict[str, object]]:
    return {case.id: case.content() for case in store.iter_cases()}


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_export_import_round_trip(fmt: str, source_store: SQLStore, tmp_path: Path) -> None:
    path = tmp_path / f"export{SUFFIX[fmt]}"
    with open(path, "w", encoding="utf-8", newline="") as out:
        written = EXPORTERS[fmt](source_store.iter_cases(), out)
    assert written == source_store.count()
    assert detect_format(str(path), path.read_bytes()[:65536]) == fmt

    target = open_store(str(tmp_path / "target.sqlite"))
    try:
        report = import_records(target, read_file(str(path)))
        assert report.problems == []
        assert (report.created, report.updated, report.unchanged) == (written, 0, 0)
        assert contents(target) == contents(source_store)
        # Importing the export again is a no-op.
        again = import_records(target, read_file(str(path)))
        assert (again.created, again.updated, again.unchanged) == (0, 0, written)
    finally:
        target.close()


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_export_of_nothing_imports_nothing(fmt: str, store: SQLStore, tmp_path: Path) -> None:
    path = tmp_path / f"empty{SUFFIX[fmt]}"
    with open(path, "w", encoding="utf-8", newline="") as out:
        assert EXPORTERS[fmt]([], out) == 0
    report = import_records(store, read_file(str(path), fmt))
    assert (report.records, report.problems, store.count()) == (0, [], 0)


def test_claimreview_export_shape(source_store: SQLStore, tmp_path: Path) -> None:
    path = tmp_path / "cr.json"
    with open(path, "w", encoding="utf-8") as out:
        EXPORTERS["claimreview"]([source_store.get("tricky-everything")], out)
    (review,) = json.loads(path.read_text(encoding="utf-8"))
    assert review["@type"] == "ClaimReview"
    assert review["identifier"] == "tricky-everything"
    assert review["url"] == "https://euvsdisinfo.eu/report/tricky-everything/"
    assert review["itemReviewed"]["datePublished"] == "2021-02-28"
    assert review["inLanguage"] == ["ru", "en", "el"]
    assert review["itemReviewed"]["appearance"][0] == {
        "@type": "CreativeWork", "name": "RT; Deutsch", "url": "https://rt.example/a;b",
        "archivedAt": "https://archive.example/x"}
    assert {p["name"]: p["value"] for p in review["additionalProperty"]}["disinfodb:issue"] == 270


def test_third_party_claimreview_mapping(store: SQLStore) -> None:
    path = FIXTURES / "claimreview_third_party.json"
    records = list(read_file(str(path)))
    assert [r.problems for r in records] == [[]]
    case = records[0].case
    assert case is not None
    claim = "The moon landing was filmed in a studio in Nevada."
    assert case.url == "https://factcheck.example/reviews/staged-moon-landing/"
    assert case.title == claim  # no name/headline: the claim (cut) is the title
    assert case.summary == claim
    assert case.disproof == ("Hundreds of independent observatories tracked the missions.\n\n"
                             "See https://nasa.example/apollo.")
    assert case.published == date(2023, 5, 2)
    assert case.languages == ["en"]
    assert case.outlets == [Outlet(name="The truth about the moon", url="https://blog.example/moon"),
                            Outlet(name="VideoSite", url="https://video.example/v/1")]
    assert (case.keywords, case.countries, case.links, case.issue) == ([], [], [], None)

    report = import_records(store, read_file(str(path)))
    assert report.created == 1
    assert store.get("staged-moon-landing").title == claim


def test_third_party_claimreview_variants(store: SQLStore, tmp_path: Path) -> None:
    long_claim = "word " * 60
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "ClaimReview", "claimReviewed": long_claim, "datePublished": "2020-01-01",
         "itemReviewed": {"@type": "Claim", "datePublished": "2019-12-24",
                          "firstAppearance": "https://first.example/x"},
         "inLanguage": {"@type": "Language", "name": "German"}, "keywords": "NATO, Crimea",
         "spatialCoverage": "USA", "citation": [{"url": "https://cite.example/1"}, "https://cite.example/2"],
         "description": "Rated false."},
        {"@type": ["ClaimReview"], "name": "Named review", "headline": "ignored"},
        {"@type": "Article", "name": "not a review"},
    ]}
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(graph), encoding="utf-8")
    records = list(read_file(str(path)))
    first, second, third = records
    assert first.case is not None and second.case is not None
    assert first.case.title == " ".join(long_claim[:TITLE_FALLBACK_CHARS].split())
    assert first.case.published == date(2019, 12, 24)  # the claim's date wins over the review's
    assert first.case.outlets == [Outlet(url="https://first.example/x")]
    assert first.case.languages == ["de"]
    assert first.case.keywords == ["NATO", "Crimea"]
    assert first.case.countries == ["US"]
    assert first.case.links == ["https://cite.example/1", "https://cite.example/2"]
    assert first.case.disproof == "Rated false."
    assert second.case.title == "Named review"
    assert third.case is None
    assert [(p.location.line, p.location.field) for p in third.problems] == [(3, "@type")]


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_own_export_mentioning_claimreview_is_read_as_own_format(fmt: str, store: SQLStore,
                                                                  tmp_path: Path) -> None:
    """Detection must not take our own export for ClaimReview because a case mentions the word."""
    case = Case(id="markup", title="Fact-checkers' ClaimReview markup is a CIA tool",
                summary="The ClaimReview schema is used to censor.")
    path = tmp_path / f"cases.{fmt}"
    with open(path, "w", encoding="utf-8") as out:
        EXPORTERS[fmt]([case], out)
    records = list(read_file(str(path)))
    assert [r.problems for r in records] == [[]]
    assert records[0].case is not None and records[0].case.content() == case.content()
