"""CSV import: the two real EUvsDisinfo scrapes, and our own CSV columns."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from conftest import CSV_2017, CSV_2021, RealData, require

from disinfodb.cases import Case, Outlet
from disinfodb.errors import ImportRejected, Location, UnknownFormat
from disinfodb.ingest import read_file
from disinfodb.ingest.base import Record
from disinfodb.ingest.csv import join_escaped, split_escaped
from disinfodb.ingest.pipeline import import_records
from disinfodb.store import SQLiteStore
from disinfodb.vocab import language_code

# -- the real files -----------------------------------------------------------------------


def test_2017_import_counts(real_data: RealData) -> None:
    report = real_data.report_2017
    assert (report.created, report.updated, report.unchanged) == (2769, 0, 0)
    assert len(report.duplicates) == 299
    assert len(report.conflicts) == 3
    assert report.problems == []
    assert report.records == 3071
    # Every skipped row is located in the file and names the row it repeats.
    source = str(CSV_2017)
    assert all(p.location.source == source and p.location.line for p in report.duplicates)
    assert [p.location.line for p in report.conflicts] == [2437, 2738, 2938]
    assert all(re.search(r"same case as line \d+", p.message) for p in report.conflicts)
    assert all(re.search(r"exact duplicate of line \d+", p.message) for p in report.duplicates)


def test_2021_import_counts(real_data: RealData) -> None:
    report = real_data.report_2021
    assert (report.created, report.updated, report.unchanged) == (10892, 0, 0)
    assert (report.duplicates, report.conflicts, report.problems) == ([], [], [])
    assert real_data.store.count() == 2769 + 10892
    assert real_data.store.audit_count() == 2769 + 10892


@pytest.mark.parametrize(("path", "unchanged", "duplicates", "conflicts"),
                         [(CSV_2017, 2769, 299, 3), (CSV_2021, 10892, 0, 0)])
def test_second_import_changes_nothing(real_data: RealData, path: Path, unchanged: int, duplicates: int,
                                       conflicts: int) -> None:
    store = real_data.store
    count, audits = store.count(), store.audit_count()
    report = import_records(store, read_file(str(require(path))))
    assert (report.created, report.updated, report.unchanged) == (0, 0, unchanged)
    assert (len(report.duplicates), len(report.conflicts), report.problems) == (duplicates, conflicts, [])
    assert store.count() == count
    assert store.audit_count() == audits
    assert all(case.version == 1 for case in store.iter_cases())


def test_languages_are_normalised(real_data: RealData) -> None:
    codes = {code for case in real_data.cases for code in case.languages}
    assert codes, "the real data names languages"
    for code in codes:
        assert re.fullmatch(r"[a-z]{2,3}", code), code
        assert language_code(code) == code
    assert {"ru", "en", "es", "ro", "de", "ka", "cs"} <= codes
    # Scraped spellings never survive as values.
    assert not codes & {"russian", "castilian", "Russian", "Castilian", "Moldavian"}


def test_countries_are_normalised(real_data: RealData) -> None:
    countries = {c for case in real_data.cases for c in case.countries}
    assert "US" in countries
    assert not countries & {"USA", "United States", "Kirgizstan", "Russian Federation"}


def test_first_row_of_2017_file(real_data: RealData) -> None:
    title = "Explosions in Vinnitsa were organized by Ukrainian soldiers"
    # The 2021 scrape has a case with the same title (and a URL): take the 2017 one.
    (case,) = [c for c in real_data.cases if c.title == title and c.url is None]
    assert case.published == date(2017, 10, 3)
    assert case.issue == 82
    assert case.languages == ["ru"]
    assert case.countries == ["Ukraine"]
    assert case.keywords == ["TV Zvezda", "Military"]
    assert case.outlets == [Outlet(name="TV Zvezda",
                                   url="https://tvzvezda.ru/news/vstrane_i_mire/content/201710030853-nx7c.htm")]
    assert case.reported_by == "Promote Ukraine NGO"
    assert case.summary.startswith("The recent explosions in the munitions depot in Vinnitsa")
    assert case.links == ["https://euvsdisinfo.eu/dependent-media-russias-military-tv-zvezda/",
                          "http://www.telegraph.co.uk/news/2017/09/27/fire-ukraine-ammunition-depot-"
                          "prompts-mass-evacuation/"]
    assert case.url is None
    assert case.id == "explosions-in-vinnitsa-were-organized-by-ukrainian-soldiers"


def test_2017_mm_dd_yy_dates(real_data: RealData) -> None:
    """Row 2 of the file is dated 10/02/17: October 2nd, not February 10th."""
    title = "EU officials supported the violence in Catalonia"
    (case,) = [c for c in real_data.cases if c.title == title and c.url is None]
    assert case.published == date(2017, 10, 2)
    # A country in the language column means that country's language.
    assert case.languages == ["ro"]
    dates = [c.published for c in real_data.cases if c.url is None and c.published]
    assert min(dates) >= date(2015, 1, 1)
    assert max(dates) <= date(2017, 12, 31)


def test_2021_case_url_id_and_plus_lists(real_data: RealData) -> None:
    store = real_data.store
    case = store.get("german-special-services-helped-navalny")
    assert case.url == "https://euvsdisinfo.eu/report/german-special-services-helped-navalny/"
    assert case.title == "German special services helped Navalny"
    assert case.published == date(2021, 2, 18)
    assert case.countries == ["Russia", "Germany"]
    assert case.keywords == ["Alexei Navalny", "Vladimir Putin"]
    assert case.languages == ["ru"]
    assert case.outlets == [Outlet(name="TASS - Russian")]
    other = store.get("the-us-interfered-in-russian-internal-affairs-through-protest-rallies")
    assert other.keywords == ["Civil Society", "Protest", "Alexei Navalny", "Colour revolutions"]
    assert other.countries == ["Russia", "US"]
    with_url = [c for c in real_data.cases if c.url]
    assert len(with_url) == 10892
    # The id is the URL's last part (cut to 80 characters), unless another case has that id
    # already (a 2017 case of the same title, or a URL with the same first 80 characters).
    by_id = {c.id: c for c in real_data.cases}
    plain = 0
    for case in with_url:
        assert case.url
        tail = case.url.rstrip("/").rsplit("/", 1)[-1]
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", tail):
            continue
        expected = tail[:80].rstrip("-")
        if case.id == expected:
            plain += 1
        else:
            assert re.fullmatch(re.escape(expected) + r"-[0-9a-f]{6}", case.id), (case.id, tail)
            assert by_id[expected].url != case.url
    assert plain > 10_000


# -- our own CSV format -------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "own.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def cases_of(path: Path, fmt: str | None = None) -> list[Case]:
    records = list(read_file(str(path), fmt))
    assert [r.problems for r in records] == [[] for _ in records]
    return [r.case for r in records if r.case]


def test_own_csv_header_names_fields_in_any_order(tmp_path: Path) -> None:
    path = write(tmp_path, "keywords,published,title,languages,issue\n"
                           "NATO;Crimea,2022-01-08,A title,Russian;English,270\n")
    (case,) = cases_of(path)
    assert case.title == "A title"
    assert case.keywords == ["NATO", "Crimea"]
    assert case.published == date(2022, 1, 8)
    assert case.languages == ["ru", "en"]
    assert case.issue == 270


def test_own_csv_escaped_separators(tmp_path: Path) -> None:
    path = write(tmp_path, 'title,keywords,countries\n'
                           't,"a\\;b;c\\\\d;;e\\\\",US;;\n')
    (case,) = cases_of(path)
    assert case.keywords == ["a;b", "c\\d", "e\\"]
    assert case.countries == ["US"]


def test_own_csv_outlets_are_positional(tmp_path: Path) -> None:
    path = write(tmp_path, "title,outlet_names,outlet_urls,outlet_archive_urls\n"
                           "t,RT;;Sputnik,https://rt.example/1;https://only-url.example;,;;https://archive.example/s\n")
    (case,) = cases_of(path)
    assert case.outlets == [
        Outlet(name="RT", url="https://rt.example/1"),
        Outlet(name="", url="https://only-url.example"),
        Outlet(name="Sputnik", archive_url="https://archive.example/s"),
    ]


@pytest.mark.parametrize("values", [[], ["a"], ["a;b", "c\\", "\\;", ""], ["x", "", "y"], [";", ";;"]])
def test_join_and_split_escaped_are_inverse(values: list[str]) -> None:
    assert split_escaped(join_escaped(values)) == (values if values != [""] else [])


def test_unknown_column_is_unknown_format(tmp_path: Path) -> None:
    path = write(tmp_path, "title,colour\nt,red\n")
    with pytest.raises(UnknownFormat, match=r"unknown CSV column.*colour"):
        list(read_file(str(path)))


def test_header_without_title_is_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormat, match="title"):
        list(read_file(str(write(tmp_path, "name,summary\nx,y\n"))))


def test_forced_profile_needs_its_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "title\nt\n")
    with pytest.raises(UnknownFormat, match="euvsdisinfo-2021"):
        list(read_file(str(path), "euvsdisinfo-2021"))
    with pytest.raises(UnknownFormat, match="unknown format 'xml'"):
        list(read_file(str(path), "xml"))


def test_unknown_column_writes_nothing(store: SQLiteStore, tmp_path: Path) -> None:
    path = write(tmp_path, "title,colour\nt,red\n")
    with pytest.raises(UnknownFormat):
        import_records(store, read_file(str(path)))
    assert (store.count(), store.audit_count()) == (0, 0)


BAD_ROWS = (
    "title,summary,published,languages\n"          # line 1
    "Good one,fine,2022-01-08,ru\n"                  # line 2
    'Multi,"line one\nline two\nline three",,\n'     # lines 3-5
    "Bad date,x,31/31/2022,ru\n"                     # line 6
    "\n"                                             # line 7 (blank: skipped)
    "Bad language,x,,Elvish Sindarin\n"              # line 8
    "Too,many,cells,here,really\n"                   # line 9
    "Good two,,,\n"                                  # line 10
)


def test_bad_rows_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, BAD_ROWS, "rows.csv")
    records = list(read_file(str(path)))
    assert [r.line for r in records] == [2, 3, 6, 8, 9, 10]
    assert [r.case is not None for r in records] == [True, True, False, False, False, True]
    problems = [p for r in records for p in r.problems]
    assert [p.location for p in problems] == [
        Location(str(path), 6, "published"), Location(str(path), 8, "languages"), Location(str(path), 9)]
    assert "Elvish Sindarin" in problems[1].message
    assert "6 cells" in problems[2].message or "5 cells" in problems[2].message
    assert records[1].case is not None and records[1].case.summary == "line one\nline two\nline three"


def test_bad_rows_reject_the_import(store: SQLiteStore, tmp_path: Path) -> None:
    path = write(tmp_path, BAD_ROWS, "rows.csv")
    with pytest.raises(ImportRejected) as caught:
        import_records(store, read_file(str(path)))
    assert [(p.location.line, p.location.field) for p in caught.value.problems] == [
        (6, "published"), (8, "languages"), (9, None)]
    assert f"{path}:line 6 [published]" in str(caught.value)
    assert "nothing was imported" in str(caught.value)
    assert (store.count(), store.audit_count()) == (0, 0)


HEADER_2017 = ('"issue","date","outlet","language","origin","reported by","keywords","source","title",'
               '"summary","disproof"\n')


def test_2017_profile_bad_date_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER_2017
                 + '5,02/30/16,"RT","Russian","Syria","X","a, b","https://rt.example","T1","s","d"\n'
                 + '6,01/31/16,"RT","Castilian","Syria, USA","X","a, b","","T2","s",'
                 + '"see https://example.org/x."\n', "scrape.csv")
    records = list(read_file(str(path)))
    assert [(p.location, "'02/30/16' is not a date" in p.message) for p in records[0].problems] == [
        (Location(str(path), 2, "published"), True)]
    case = records[1].case
    assert case is not None
    assert (case.issue, case.published, case.languages, case.countries, case.keywords) == (
        6, date(2016, 1, 31), ["es"], ["Syria", "US"], ["a", "b"])
    assert case.outlets == [Outlet(name="RT")]
    assert case.links == ["https://example.org/x"]


def test_2021_profile_from_small_file(tmp_path: Path) -> None:
    path = write(tmp_path, "date,id,title,countries,keywords,languages,outlets\n"
                           "2020-05-01,https://euvsdisinfo.eu/report/some-case/,Some case,USA+Russia,"
                           "a+b+,Russian+English,RT + Sputnik\n", "posts.csv")
    records: list[Record] = list(read_file(str(path)))
    (case,) = [r.case for r in records if r.case]
    assert case.url == "https://euvsdisinfo.eu/report/some-case/"
    assert (case.countries, case.keywords, case.languages) == (["US", "Russia"], ["a", "b"], ["ru", "en"])
    assert case.outlets == [Outlet(name="RT"), Outlet(name="Sputnik")]
