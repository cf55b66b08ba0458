"""Exporters: JSON Lines (lossless), CSV (spreadsheet-friendly, lossless) and ClaimReview.

Each writes cases as they stream out of the store, so exporting is constant memory, and
each is the exact inverse of its reader in `disinfodb.ingest` (the tests round-trip them).
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

from disinfodb.cases import Case, web_url
from disinfodb.ingest.claimreview import EXTRA_PREFIX
from disinfodb.ingest.csv import OWN_COLUMNS, join_escaped, neutralised

_EXTRA_FIELDS = ("issue", "related", "narratives", "reported_by")


@dataclass(frozen=True)
class Publisher:
    """Who reviewed the claims, as every ClaimReview we write says it: the export, the case
    pages' JSON-LD and the Fact Check Tools API. A server sets it (`disinfodb serve
    --publisher-name`, `--rating-label`, `--review-language`, its public URL); an export
    from the command line names disinfodb."""

    name: str = "disinfodb"
    url: str | None = None  # the site's address (a server's public URL)
    rating: str = "Disinformation"  # the textual rating every case gets: a debunked claim
    language: str = "en"  # the language the debunks are written in (the archive's: English)

    @property
    def site(self) -> str:
        """The site's host name, as the Fact Check Tools API names a publisher's site."""
        return urlsplit(self.url).netloc if self.url else ""

    def organization(self) -> dict[str, str]:
        return {"@type": "Organization", "name": self.name, **({"url": self.url} if self.url else {})}


DEFAULT_PUBLISHER = Publisher()


def jsonl_chunks(cases: Iterable[Case]) -> Iterator[str]:
    for case in cases:
        yield case.model_dump_json() + "\n"


def _json_array(items: Iterable[str]) -> Iterator[str]:
    """A JSON array written item by item, one item per line."""
    yield "["
    first = True
    for item in items:
        yield ("\n" if first else ",\n") + item
        first = False
    yield "\n]\n"


def json_chunks(cases: Iterable[Case]) -> Iterator[str]:
    return _json_array(case.model_dump_json() for case in cases)


def case_to_csv_row(case: Case) -> dict[str, str]:
    row: dict[str, str] = {
        "id": case.id, "url": case.url or "", "title": case.title, "summary": case.summary,
        "disproof": case.disproof, "published": case.published.isoformat() if case.published else "",
        "issue": "" if case.issue is None else str(case.issue), "reported_by": case.reported_by,
        "outlet_names": join_escaped([o.name for o in case.outlets]),
        "outlet_urls": join_escaped([o.url or "" for o in case.outlets]),
        "outlet_archive_urls": join_escaped([o.archive_url or "" for o in case.outlets]),
        "outlet_dates": join_escaped([o.published.isoformat() if o.published else "" for o in case.outlets]),
    }
    for column in ("languages", "countries", "keywords", "links", "related", "narratives"):
        row[column] = join_escaped(getattr(case, column))
    return row


class _Line:
    """A file-like sink for csv.writer that hands back what was written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)


def csv_chunks(cases: Iterable[Case], raw: bool = False) -> Iterator[str]:
    """Our CSV; cells a spreadsheet would run as formulas are neutralised unless `raw`
    (the reader restores them either way)."""
    line = _Line()
    writer = csv.DictWriter(line, fieldnames=OWN_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for case in cases:
        row = case_to_csv_row(case)
        writer.writerow(row if raw else {column: neutralised(cell) for column, cell in row.items()})
        yield line.text
        line.text = ""
    yield line.text  # the header, when there were no cases


def case_to_claimreview(case: Case, publisher: Publisher = DEFAULT_PUBLISHER) -> dict[str, Any]:
    """One case as a schema.org ClaimReview (the claim was rated false by the debunk):
    what the export writes and each case page carries as JSON-LD."""
    # Only web addresses leave as URLs (a consumer may render them as links); an outlet known
    # only by another kind of address (kept from an older release) keeps it as its name.
    appearances = [
        {k: v for k, v in (("@type", "CreativeWork"), ("name", o.name or ("" if web_url(o.url) else o.url)),
                           ("url", web_url(o.url)),
                           ("archivedAt", web_url(o.archive_url)),
                           ("datePublished", o.published.isoformat() if o.published else None)) if v}
        for o in case.outlets
    ]
    item: dict[str, Any] = {"@type": "Claim", "appearance": appearances}
    if case.published:
        item["datePublished"] = case.published.isoformat()
    review: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "identifier": case.id,
        "name": case.title,
        "claimReviewed": case.summary,
        "reviewBody": case.disproof,
        "itemReviewed": item,
        "inLanguage": case.languages,
        "keywords": case.keywords,
        "spatialCoverage": [{"@type": "Place", "name": c} for c in case.countries],
        "citation": [link for link in case.links if web_url(link)],
        "author": publisher.organization(),
        "reviewRating": {"@type": "Rating", "alternateName": publisher.rating,
                         "ratingValue": 1, "bestRating": 5, "worstRating": 1},
        "additionalProperty": [
            {"@type": "PropertyValue", "name": EXTRA_PREFIX + name, "value": getattr(case, name)}
            for name in _EXTRA_FIELDS
        ],
    }
    if case.updated_at:  # when the review was last changed: schema.org's date of the review
        review["datePublished"] = case.updated_at.date().isoformat()
    if web_url(case.url):
        review["url"] = case.url
    return review


def claimreview_script(case: Case, publisher: Publisher = DEFAULT_PUBLISHER) -> str:
    """The case's ClaimReview as the body of a `<script type="application/ld+json">`: the
    same JSON, with `<`, `>` and `&` written as JSON escapes, so that no case text (a claim
    quoting `</script>`, an HTML comment) can end the element or change how a page parses."""
    text = json.dumps(case_to_claimreview(case, publisher), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def claimreview_chunks(cases: Iterable[Case], publisher: Publisher = DEFAULT_PUBLISHER) -> Iterator[str]:
    """A JSON-LD array of ClaimReview objects."""
    return _json_array(json.dumps(case_to_claimreview(case, publisher), ensure_ascii=False) for case in cases)


CHUNKS: dict[str, Callable[[Iterable[Case]], Iterator[str]]] = {
    "jsonl": jsonl_chunks, "json": json_chunks, "csv": csv_chunks, "claimreview": claimreview_chunks,
}
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "json": "application/json", "csv": "text/csv",
               "claimreview": "application/ld+json"}
FILE_SUFFIXES = {"jsonl": ".jsonl", "json": ".json", "csv": ".csv", "claimreview": ".claimreview.json"}


def export_chunks(fmt: str, cases: Iterable[Case], raw_csv: bool = False,
                  publisher: Publisher = DEFAULT_PUBLISHER) -> Iterator[str]:
    """Cases in format `fmt`, as text chunks; `raw_csv` keeps formula-like CSV cells verbatim;
    ClaimReviews name `publisher`."""
    if fmt == "csv" and raw_csv:
        return csv_chunks(cases, raw=True)
    if fmt == "claimreview":
        return claimreview_chunks(cases, publisher)
    return CHUNKS[fmt](cases)


def export_cases(fmt: str, cases: Iterable[Case], out: TextIO, raw_csv: bool = False) -> int:
    """Write cases to `out` in format `fmt`; the number of cases written."""
    counted = _Counter(cases)
    for chunk in export_chunks(fmt, counted, raw_csv):
        out.write(chunk)
    return counted.count


class _Counter:
    def __init__(self, cases: Iterable[Case]) -> None:
        self.cases = cases
        self.count = 0

    def __iter__(self) -> Iterator[Case]:
        for case in self.cases:
            self.count += 1
            yield case


EXPORTERS: dict[str, Callable[[Iterable[Case], TextIO], int]] = {
    fmt: functools.partial(export_cases, fmt) for fmt in CHUNKS
}
