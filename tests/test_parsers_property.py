"""Property tests: readers never crash on arbitrary input, and valid cases round-trip."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disinfodb.cases import Case, Outlet
from disinfodb.errors import UnknownFormat
from disinfodb.export import EXPORTERS
from disinfodb.ingest import read_file
from disinfodb.ingest.base import Record
from disinfodb.ingest.csv import OWN_COLUMNS, read_csv
from disinfodb.ingest.listing import read_listing

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_records(records: list[Record], source: str, lines: int) -> None:
    """Every record is a case or located problems, never both, never neither. A JSON
    array's records are numbered by position, so several may share one line."""
    last = max(lines, len(records), 1)
    for record in records:
        assert (record.case is None) == bool(record.problems)
        assert 1 <= record.line <= last
        for problem in record.problems:
            assert problem.location.source == source
            assert problem.message
            assert problem.location.line is None or 1 <= problem.location.line <= last


LISTING_LINES = st.sampled_from([
    "Disinfo: a title", "Disinfo:", "disinfo:   ", "Summary", "Disproof", "publication/media", "see more",
    "", "  ", "• Reported in: Issue 270", "• Reported in: Issue none", "• Reported in: Issue " + "9" * 5000,
    "• DATE OF PUBLICATION: 31/31/2022", "• Date of publication: 08/01/2022", "• Article language(s) Spanish",
    "• Article language(s) Elvish", "• Countries and/or Regions discussed: USA, Russia", "• Keywords: a, b",
    "• Outlets: RT, https://rt.example", "• Outlet:", "• Unknown: thing", "- Keyword", "* ", "•",
    "Some claim text", "https://example.org/x.", "\ufeffDisinfo: bom", "Disinfo: " + "x" * 300,
])


@SETTINGS
@given(text=st.text() | st.lists(LISTING_LINES | st.text(max_size=40), max_size=30).map("\n".join))
def test_listing_reader_never_raises(text: str) -> None:
    records = list(read_listing(io.StringIO(text, newline=None), "fuzz.txt"))
    check_records(records, "fuzz.txt", len(text.splitlines()) + 1)


@SETTINGS
@given(data=st.binary(max_size=300) | st.text().map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_read_file_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.txt"
        path.write_bytes(data)
        records = list(read_file(str(path)))
    check_records(records, str(path), data.count(b"\n") + data.count(b"\r") + 1)


CSV_CELLS = st.sampled_from([
    "", "x", "Russian", "Elvish", "2022-01-08", "31/31/2022", "10/03/17", "0", "82", "a;b", "a\\;b", "\\",
    '"', '""', "a,b", "a+b", "\n", "\r\n", "http://x",
]) | st.text(max_size=20)


@SETTINGS
@given(text=st.text())
def test_csv_reader_only_raises_unknown_format(text: str) -> None:
    try:
        records = list(read_csv(io.StringIO(text, newline=""), "fuzz.csv"))
    except UnknownFormat:
        return
    check_records(records, "fuzz.csv", text.count("\n") + text.count("\r") + 2)


@SETTINGS
@given(header=st.sampled_from([
    list(OWN_COLUMNS), ["title"], ["title", "languages", "published", "issue"],
    ["issue", "date", "outlet", "language", "origin", "reported by", "keywords", "source", "title", "summary",
     "disproof"],
    ["date", "id", "title", "countries", "keywords", "languages", "outlets"],
]), rows=st.lists(st.lists(CSV_CELLS, max_size=13), max_size=6), tail=st.text(max_size=30))
def test_csv_reader_with_known_header_never_raises(header: list[str], rows: list[list[str]],
                                                   tail: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue() + tail
    records = list(read_csv(io.StringIO(text, newline=""), "fuzz.csv"))
    check_records(records, "fuzz.csv", text.count("\n") + text.count("\r") + 2)


# -- round trips of generated valid cases ----------------------------------------------


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
WORDS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]) | st.sampled_from(";\\\"',+ "),
                min_size=1, max_size=25)
URLS = st.builds(lambda path: "https://example.org/" + path, st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), max_size=20))


def _title_ok(title: str) -> bool:
    clean = " ".join(title.split())
    return bool(clean) and not clean.casefold().startswith("disinfo:")


OUTLETS = st.one_of(
    st.builds(lambda n, a: Outlet(name=n, archive_url=a), WORDS.filter(lambda w: bool(w.split())),
              URLS | st.none()),
    st.builds(lambda n, u, a: Outlet(name=n, url=u, archive_url=a), WORDS | st.just(""), URLS,
              URLS | st.none()),
)

CASES = st.builds(
    Case,
    id=st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,8}){0,3}", fullmatch=True) | st.just(""),
    url=URLS | st.none(),
    title=WORDS.filter(_title_ok),
    summary=TEXT,
    disproof=TEXT,
    published=st.dates(date(1990, 1, 1), date.today()) | st.none(),  # dates must be plausible
    issue=st.integers(1, 100_000) | st.none(),
    languages=st.lists(st.sampled_from(["ru", "en", "es", "de", "fr", "uk", "ka", "ar", "cs", "ro", "cnr"]),
                       max_size=4),
    countries=st.lists(WORDS, max_size=4),
    keywords=st.lists(WORDS, max_size=5),
    outlets=st.lists(OUTLETS, max_size=4),
    links=st.lists(URLS, max_size=3),
    related=st.lists(WORDS, max_size=2),
    narratives=st.lists(WORDS, max_size=2),
    reported_by=TEXT,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(CASES, min_size=1, max_size=4))
def test_generated_cases_round_trip(cases: list[Case]) -> None:
    for fmt, exporter in EXPORTERS.items():
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"cases.{fmt}"
            with open(path, "w", encoding="utf-8", newline="") as out:
                assert exporter(cases, out) == len(cases)
            records = list(read_file(str(path), fmt))
        assert [r.problems for r in records] == [[] for _ in cases], fmt
        assert [r.case.content() if r.case else None for r in records] == [c.content() for c in cases], fmt
