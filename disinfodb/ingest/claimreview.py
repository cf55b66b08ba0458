"""Reader for schema.org ClaimReview JSON-LD, the fact-checking community's exchange format.

Mapping (and the exporter writes the same): claimReviewed -> summary, reviewBody or
description -> disproof, itemReviewed.datePublished (else datePublished, the review's date,
in files not written by us) -> published,
itemReviewed.appearance -> outlets, inLanguage -> languages, keywords, spatialCoverage
-> countries, citation -> links, url -> case URL, identifier -> id, and our remaining
fields as `additionalProperty` PropertyValues named `disinfodb:<field>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from disinfodb.ingest.base import Record, build_record, problem_record
from disinfodb.ingest.jsonl import read_json_array, read_jsonl

EXTRA_PREFIX = "disinfodb:"
TITLE_FALLBACK_CHARS = 120


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _name(value: Any) -> str:
    """A plain string from a string or a schema.org Thing with a name."""
    if isinstance(value, dict):
        return str(value.get("name") or value.get("alternateName") or "")
    return "" if value is None else str(value)


def _outlet(appearance: Any) -> dict[str, Any]:
    if isinstance(appearance, str):
        return {"url": appearance}
    publisher = appearance.get("publisher") or appearance.get("author")
    return {
        "name": _name(appearance.get("name") or appearance.get("headline") or publisher),
        "url": appearance.get("url"),
        "archive_url": appearance.get("archivedAt"),
        "published": str(appearance.get("datePublished") or "")[:10] or None,  # a date-time's date
    }


def claimreview_to_case(review: dict[str, Any]) -> dict[str, Any]:
    """Map one ClaimReview object to Case fields (validation happens after)."""
    item = review.get("itemReviewed") or {}
    item = item if isinstance(item, dict) else {}
    summary = str(review.get("claimReviewed") or "")
    keywords = review.get("keywords") or []
    if isinstance(keywords, str):
        keywords = keywords.split(",")
    extras = {str(prop["name"]).removeprefix(EXTRA_PREFIX): prop.get("value")
              for prop in _as_list(review.get("additionalProperty"))
              if isinstance(prop, dict) and str(prop.get("name", "")).startswith(EXTRA_PREFIX)}
    # Many fact-checkers date only their review; ours (the ones with disinfodb: properties)
    # date the claim in itemReviewed, and a claim without a date there has none.
    review_date = None if extras else review.get("datePublished")
    data: dict[str, Any] = {
        "id": str(review.get("identifier") or ""),
        "url": review.get("url"),
        "title": _name(review.get("name") or review.get("headline"))
        or summary[:TITLE_FALLBACK_CHARS],
        "summary": summary,
        "disproof": str(review.get("reviewBody") or review.get("description") or ""),
        "published": str(item.get("datePublished") or review_date or "")[:10] or None,
        "languages": [_name(v) for v in _as_list(review.get("inLanguage") or item.get("inLanguage"))],
        "keywords": [str(k) for k in keywords],
        "countries": [_name(v) for v in _as_list(review.get("spatialCoverage"))],
        "outlets": [_outlet(a) for a in _as_list(item.get("appearance") or item.get("firstAppearance"))],
        "links": [str(v.get("url") if isinstance(v, dict) else v) for v in _as_list(review.get("citation"))],
    }
    return data | extras


def _is_claimreview(data: dict[str, Any]) -> bool:
    return "ClaimReview" in _as_list(data.get("@type"))


def build_claimreview_record(source: str, number: int, data: dict[str, Any]) -> Record:
    if not _is_claimreview(data):
        return problem_record(source, number, f"expected @type ClaimReview, got {data.get('@type')!r}",
                              "@type")
    return build_record(source, number, claimreview_to_case(data))


def read_claimreview(stream: BinaryIO, source: str) -> Iterator[Record]:
    """ClaimReview as a JSON array, JSON Lines, one object, or an `@graph` document."""
    head = stream.peek(1 << 16)[: 1 << 16] if hasattr(stream, "peek") else b""
    stripped = head.lstrip().lstrip(b"\xef\xbb\xbf")
    if stripped.startswith(b"["):
        yield from read_json_array(stream, source, build_claimreview_record)
        return
    text = stream.read().decode("utf-8-sig")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        # Not one document: JSON Lines, one review per line.
        yield from read_jsonl(text.splitlines(), source, build_claimreview_record)
        return
    reviews = document.get("@graph", [document]) if isinstance(document, dict) else document
    for number, review in enumerate(_as_list(reviews), start=1):
        if isinstance(review, dict):
            yield build_claimreview_record(source, number, review)
        else:
            yield problem_record(source, number, "expected a JSON object")
