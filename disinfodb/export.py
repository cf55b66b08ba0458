"""Exporters: JSON Lines (lossless), CSV (spreadsheet-friendly, lossless) and ClaimReview.

Each writes cases as they stream out of the store, so exporting is constant memory, and
each is the exact inverse of its reader in `disinfodb.ingest` (the tests round-trip them).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from disinfodb.cases import Case
from disinfodb.ingest.claimreview import EXTRA_PREFIX
from disinfodb.ingest.csv import OWN_COLUMNS, join_escaped

EXPORT_FORMATS = ("jsonl", "json", "csv", "claimreview")
_EXTRA_FIELDS = ("issue", "related", "narratives", "reported_by")
CLAIMREVIEW_AUTHOR = {"@type": "Organization", "name": "disinfodb"}


def export_jsonl(cases: Iterable[Case], out: TextIO) -> int:
    count = 0
    for case in cases:
        out.write(case.model_dump_json() + "\n")
        count += 1
    return count


def export_json(cases: Iterable[Case], out: TextIO) -> int:
    """A JSON array, written item by item."""
    out.write("[")
    count = 0
    for count, case in enumerate(cases, start=1):
        out.write(("\n" if count == 1 else ",\n") + case.model_dump_json())
    out.write("\n]\n")
    return count


def case_to_csv_row(case: Case) -> dict[str, str]:
    row: dict[str, str] = {
        "id": case.id, "url": case.url or "", "title": case.title, "summary": case.summary,
        "disproof": case.disproof, "published": case.published.isoformat() if case.published else "",
        "issue": "" if case.issue is None else str(case.issue), "reported_by": case.reported_by,
        "outlet_names": join_escaped([o.name for o in case.outlets]),
        "outlet_urls": join_escaped([o.url or "" for o in case.outlets]),
        "outlet_archive_urls": join_escaped([o.archive_url or "" for o in case.outlets]),
    }
    for column in ("languages", "countries", "keywords", "links", "related", "narratives"):
        row[column] = join_escaped(getattr(case, column))
    return row


def export_csv(cases: Iterable[Case], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=OWN_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for case in cases:
        writer.writerow(case_to_csv_row(case))
        count += 1
    return count


def case_to_claimreview(case: Case) -> dict[str, Any]:
    """One case as a schema.org ClaimReview (the claim was rated false by the debunk)."""
    appearances = [
        {k: v for k, v in (("@type", "CreativeWork"), ("name", o.name), ("url", o.url),
                           ("archivedAt", o.archive_url)) if v}
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
        "citation": case.links,
        "author": CLAIMREVIEW_AUTHOR,
        "reviewRating": {"@type": "Rating", "alternateName": "Disinformation",
                         "ratingValue": 1, "bestRating": 5, "worstRating": 1},
        "additionalProperty": [
            {"@type": "PropertyValue", "name": EXTRA_PREFIX + name, "value": getattr(case, name)}
            for name in _EXTRA_FIELDS
        ],
    }
    if case.url:
        review["url"] = case.url
    return review


def export_claimreview(cases: Iterable[Case], out: TextIO) -> int:
    """A JSON-LD array of ClaimReview objects."""
    out.write("[")
    count = 0
    for count, case in enumerate(cases, start=1):
        out.write(("\n" if count == 1 else ",\n") + json.dumps(case_to_claimreview(case), ensure_ascii=False))
    out.write("\n]\n")
    return count


EXPORTERS: dict[str, Callable[[Iterable[Case], TextIO], int]] = {
    "jsonl": export_jsonl, "json": export_json, "csv": export_csv, "claimreview": export_claimreview,
}
