"""The listing text format (the seed file): fields read, and located problems."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from disinfodb.errors import ImportRejected, Location
from disinfodb.ingest import read_file
from disinfodb.ingest.base import Record
from disinfodb.ingest.listing import read_listing
from disinfodb.ingest.pipeline import import_records
from disinfodb.store import SQLiteStore


def read_text(text: str, source: str = "test.txt") -> list[Record]:
    return list(read_listing(io.StringIO(text), source))


@pytest.fixture(scope="module")
def seed_records(seed_path: Path) -> list[Record]:
    return list(read_file(str(seed_path)))


def test_seed_gives_four_valid_records(seed_records: list[Record]) -> None:
    assert [r.problems for r in seed_records] == [[], [], [], []]
    assert [r.line for r in seed_records] == [1, 28, 42, 52]
    assert [r.case.title for r in seed_records if r.case] == [
        "Kazakhstan’s destabilisation attempts to obstruct EEU membership and China’s new Silk Road",
        "A coup in Kazakhstan was meant to divert Russia’s attention before negotiations",
        "US intelligence agencies pressured Western media into accusing Russia of invading Ukraine",
        "Kazakhstan unrest is a US attempt to drag Russia into new conflicts",
    ]


def test_seed_case_1_metadata(seed_records: list[Record]) -> None:
    case = seed_records[0].case
    assert case is not None
    assert case.issue == 270
    assert case.published == date(2022, 1, 8)
    assert case.languages == ["es"]
    assert case.countries == ["Russia", "China", "Kazakhstan", "US", "Afghanistan"]
    assert case.keywords == ["Destabilising Russia", "Colour revolutions", "Eurasian economic union",
                             "Central Asia"]
    assert case.summary.startswith("The destabilisation of Kazakhstan from abroad")
    assert case.summary.endswith("where the embers of the US debacle in Afghanistan persist.")
    assert "\n" not in case.summary
    # Disproof: five paragraphs, and nothing of the metadata block.
    assert case.disproof.startswith("This is part of a wider disinformation campaign")
    assert case.disproof.count("\n\n") == 4
    assert case.disproof.endswith("to undermine China and Russia.")
    for text in (case.summary, case.disproof):
        assert "publication/media" not in text
        assert "Issue 270" not in text
        assert "see more" not in text.casefold()
    assert case.id == ""
    assert case.url is None
    assert case.outlets == []


def test_seed_cases_2_to_4_summary_is_paragraphs_after_title(seed_records: list[Record]) -> None:
    cases = [r.case for r in seed_records[1:]]
    assert all(c is not None for c in cases)
    two, three, four = cases
    assert two is not None and three is not None and four is not None
    assert two.summary == (
        'The events in Kazakhstan are another attempt at a "colour revolution". "Revolution" in '
        "Kazakhstan before negotiations with Russia is very beneficial for the US.\n\n"
        "It is also done to divert Russia's attention from the deployment of missile launchers in "
        "Poland and Romania and the integration of Georgia and Ukraine into NATO.\n\n"
        "These events erase the last hope for the constructiveness of the upcoming negotiations."
    )
    assert three.summary.startswith("Under pressure from US intelligence agencies")
    assert three.summary.count("\n") == 0
    assert four.summary.startswith("It is clear that no country is more interested")
    assert four.summary.count("\n\n") == 2
    for case in cases:
        assert case is not None
        # No metadata block: no fields besides title, summary and disproof.
        assert (case.issue, case.published, case.languages, case.countries, case.keywords,
                case.outlets, case.links) == (None, None, [], [], [], [], [])
        assert "Disproof" not in case.summary
        assert case.disproof not in case.summary


def test_seed_cases_2_and_4_share_their_disproof_paragraph(seed_records: list[Record]) -> None:
    """The seed repeats the closing paragraph of the disproof; the first paragraphs differ."""
    two, four = seed_records[1].case, seed_records[3].case
    assert two is not None and four is not None
    shared = two.disproof.split("\n\n")[-1]
    assert shared.startswith("The pro-Kremlin media frequently falsely portray popular protests")
    assert four.disproof.split("\n\n")[-1] == shared
    assert two.disproof.startswith("This claim advances an emerging pro-Kremlin narrative")
    assert four.disproof.startswith("A new disinformation around the crisis in Kazakhstan")


def test_seed_imports_into_store(seed_store: SQLiteStore) -> None:
    assert seed_store.count() == 4
    assert seed_store.audit_count() == 4


# -- the format in detail -----------------------------------------------------------------

FULL = """\
Disinfo: NATO is preparing an attack

Summary

NATO troops gather at the border.

Disproof

No evidence. See https://example.org/report. Also (https://example.org/b).

publication/media

  • Reported in: Issue 12
  • Date of publication: 2021-03-04
  • Language: Russian, English
  • Countries: USA, Kirgizstan
  • Keyword: NATO, military
  • Outlets: Sputnik, https://rt.example/x
see more
"""


def test_all_metadata_bullets_are_read() -> None:
    (record,) = read_text(FULL)
    assert record.problems == []
    case = record.case
    assert case is not None
    assert case.title == "NATO is preparing an attack"
    assert case.summary == "NATO troops gather at the border."
    assert case.disproof == "No evidence. See https://example.org/report. Also (https://example.org/b)."
    assert case.links == ["https://example.org/report", "https://example.org/b"]
    assert case.issue == 12
    assert case.published == date(2021, 3, 4)
    assert case.languages == ["ru", "en"]
    assert case.countries == ["US", "Kyrgyzstan"]
    assert case.keywords == ["NATO", "military"]
    assert [(o.name, o.url) for o in case.outlets] == [("Sputnik", None), ("", "https://rt.example/x")]


@pytest.mark.parametrize("written", ["08/01/2022", "08.01.2022", "2022-01-08"])
def test_date_formats(written: str) -> None:
    (record,) = read_text(f"Disinfo: t\nDisproof\nno\npublication/media\n• Date of publication: {written}\n")
    assert record.case is not None and record.case.published == date(2022, 1, 8)


def test_several_cases_and_crlf_via_read_file(tmp_path: Path) -> None:
    path = tmp_path / "two.txt"
    path.write_bytes("\ufeffDisinfo: one\r\nclaim one\r\nDisproof\r\nno\r\n\r\n"
                     "Disinfo: two\r\nDisproof\r\nno two\r\n".encode())
    records = list(read_file(str(path)))
    assert [(r.line, r.problems) for r in records] == [(1, []), (6, [])]
    assert [(r.case.title, r.case.summary, r.case.disproof) for r in records if r.case] == [
        ("one", "claim one", "no"), ("two", "", "no two")]


# -- malformed listings: located problems -------------------------------------------------


def locations(records: list[Record]) -> list[tuple[int | None, str | None]]:
    return [(p.location.line, p.location.field) for r in records for p in r.problems]


def test_text_before_first_disinfo_line() -> None:
    records = read_text("Some preamble\n\nmore preamble\nDisinfo: t\nclaim\nDisproof\nno\n", "pre.txt")
    assert locations(records) == [(1, None), (3, None)]
    assert all("before the first 'Disinfo: <title>' line" in p.message
               for r in records for p in r.problems)
    assert records[0].problems[0].location == Location("pre.txt", 1)
    assert records[-1].case is not None and records[-1].line == 4


def test_case_without_disproof() -> None:
    records = read_text("Disinfo: fine\nDisproof\nno\n\nDisinfo: no disproof\nclaim only\n\n"
                        "Disinfo: fine too\nDisproof\nno\n")
    assert [r.case is not None for r in records] == [True, False, True]
    assert locations(records) == [(5, "disproof")]
    assert "no 'Disproof' section" in records[1].problems[0].message


def test_unknown_metadata_bullet() -> None:
    text = ("Disinfo: t\nDisproof\nno\n\npublication/media\n\n  • Reported in: Issue 3\n"
            "  • Favourite colour: red\n  • Keywords: a\n")
    (record,) = read_text(text)
    assert record.case is None
    assert locations([record]) == [(8, None)]
    assert "unknown metadata line 'Favourite colour: red'" in record.problems[0].message


def test_bad_date_names_field_published() -> None:
    text = "Disinfo: t\nDisproof\nno\npublication/media\n  • DATE OF PUBLICATION: 31/31/2022\n"
    (record,) = read_text(text, "dates.txt")
    assert record.case is None
    assert [p.location for p in record.problems] == [Location("dates.txt", 5, "published")]
    assert "'31/31/2022' is not a date" in record.problems[0].message


def test_bad_issue_names_field_issue() -> None:
    (record,) = read_text("Disinfo: t\nDisproof\nno\npublication/media\n• Reported in: Issue soon\n")
    assert locations([record]) == [(5, "issue")]


def test_text_after_see_more() -> None:
    text = "Disinfo: t\nDisproof\nno\npublication/media\n• Keywords: a\nsee more\n\nstray text\n"
    (record,) = read_text(text)
    assert record.case is None
    assert locations([record]) == [(8, None)]
    assert "text after 'see more'" in record.problems[0].message


def test_invalid_case_values_are_located_at_the_title_line() -> None:
    records = read_text("Disinfo: ok\nDisproof\nno\n\nDisinfo: t\nDisproof\nno\npublication/media\n"
                        "• Article language(s) Elvish Sindarin\n")
    assert records[0].case is not None
    assert locations(records[1:]) == [(5, "languages")]
    assert "Elvish Sindarin" in records[1].problems[0].message


def test_malformed_listing_import_is_rejected_with_every_problem(store: SQLiteStore, tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("preamble\nDisinfo: good\nDisproof\nno\n\nDisinfo: no disproof\n\n"
                    "Disinfo: bad date\nDisproof\nno\npublication/media\n• Date of publication: 31/31/2022\n",
                    encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        import_records(store, read_file(str(path)))
    assert [(p.location.source, p.location.line, p.location.field) for p in caught.value.problems] == [
        (str(path), 1, None), (str(path), 6, "disproof"), (str(path), 12, "published")]
    assert f"{path}:line 12 [published]" in str(caught.value)
    assert store.count() == 0
    assert store.audit_count() == 0


@pytest.mark.parametrize("bullet", ["• Outlet https://rt.example/x", "• Outlet: https://rt.example/x",
                                    "• Outlets https://rt.example/x"])
def test_outlet_url_without_label_colon_is_kept_whole(bullet: str) -> None:
    """The colon of "https://" is not the one that ends a bullet's label."""
    (record,) = read_text(f"Disinfo: t\nDisproof\nno\npublication/media\n{bullet}\n")
    assert record.case is not None
    assert [(o.name, o.url) for o in record.case.outlets] == [("", "https://rt.example/x")]
