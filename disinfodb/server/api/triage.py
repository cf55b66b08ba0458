"""The triage queue over HTTP: the hits `disinfodb watch` queued, listed and filtered, an
Atom feed of the newest, and the editors' decisions (confirm, dismiss, draft a new case).
Reads follow the instance's rule for reads; decisions need an editor's token."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from disinfodb.cases import Case, web_url
from disinfodb.review.render import clean_base_url
from disinfodb.search import MAX_PER_PAGE
from disinfodb.server.auth import ApiEditor, ApiReader, ServiceDep
from disinfodb.server.params import ItemId, TriageParams
from disinfodb.server.problems import problems
from disinfodb.store.triage import TriageFilter, TriageItem
from disinfodb.triage import Draft, TriageHit, confirm, dismiss, draft

FEED_ENTRIES = 50
_ATOM = "http://www.w3.org/2005/Atom"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # an empty feed's `updated`

router = APIRouter(prefix="/api", tags=["triage"], responses=problems(400, 401, 422))


class TriagePage(BaseModel):
    total: int
    page: int
    per_page: int
    results: list[TriageHit]


class Confirmed(BaseModel):
    item: TriageHit
    case: Case  # with the document as its newest outlet


@router.get("/triage", response_model=TriagePage, responses=problems(404))
def list_triage(service: ServiceDep, which: TriageParams, _: ApiReader,
                page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20) -> TriagePage:
    """Queued hits, newest first: open ones unless `status` says otherwise; dates bound the
    document's own date."""
    items, total = service.reader.triage.items(which, page, per_page)
    return TriagePage(total=total, page=page, per_page=per_page, results=[TriageHit.of(i) for i in items])


@router.get("/triage.atom", response_class=Response, responses={200: {"content": {"application/atom+xml": {}}}})
def triage_feed(service: ServiceDep, _: ApiReader) -> Response:
    """The newest open hits as an Atom feed (for a feed reader)."""
    items, _total = service.reader.triage.items(TriageFilter(), 1, FEED_ENTRIES)
    return Response(atom(items, service.settings.public_url), media_type="application/atom+xml")


@router.post("/triage/{item_id}/confirm", response_model=Confirmed, responses=problems(403, 404, 409))
def confirm_item(service: ServiceDep, item_id: ItemId, user: ApiEditor) -> Confirmed:
    """The document repeats the case: it becomes an outlet of the case (with its URL and
    date; a new version, in the case's history), and the item leaves the queue. 409 when
    it was decided already."""
    item, case = confirm(service.writer, item_id, user.name)
    return Confirmed(item=TriageHit.of(item), case=case)


@router.post("/triage/{item_id}/dismiss", response_model=TriageHit, responses=problems(403, 404, 409))
def dismiss_item(service: ServiceDep, item_id: ItemId, user: ApiEditor) -> TriageHit:
    """Not the case: the item is kept (`status=dismissed` lists it) and leaves the queue."""
    return TriageHit.of(dismiss(service.writer, item_id, user.name))


@router.post("/triage/{item_id}/draft", response_model=Draft, responses=problems(403, 404))
def draft_item(service: ServiceDep, item_id: ItemId, _: ApiEditor) -> Draft:
    """A new case prefilled from the item's document (nothing is saved: `POST /api/cases`
    saves it): its summary the sentences that matched, else the leading ones; suggested
    keywords, countries (and languages, for a document of unknown language) apart, in
    `suggested`, each with its score."""
    return draft(service.reader, item_id, service.matcher)


def atom(items: list[TriageItem], base_url: str) -> str:
    """Hits as Atom entries, each linking to the document (else the triage page)."""
    base = clean_base_url(base_url)
    feed = ET.Element("feed", xmlns=_ATOM)
    ET.SubElement(feed, "title").text = "disinfodb: new hits to triage"
    ET.SubElement(feed, "id").text = f"{base}/api/triage.atom"
    ET.SubElement(feed, "link", rel="self", type="application/atom+xml", href=f"{base}/api/triage.atom")
    ET.SubElement(feed, "link", rel="alternate", type="text/html", href=f"{base}/triage")
    ET.SubElement(feed, "updated").text = (items[0].found_at if items else _EPOCH).isoformat()
    for item in items:
        entry = ET.SubElement(feed, "entry")
        ET.SubElement(entry, "id").text = f"{base}/api/triage/{item.id}"
        ET.SubElement(entry, "title").text = f"{item.label}: {item.title or item.doc_id} -> {item.case_title}"
        ET.SubElement(entry, "updated").text = item.found_at.isoformat()
        ET.SubElement(entry, "link", rel="alternate", href=web_url(item.url) or f"{base}/triage")
        ET.SubElement(entry, "link", rel="related", href=f"{base}/cases/{quote(item.case_id)}")
        pairs = [f"“{pair['input_sentence']}” ~ “{pair['case_sentence']}”" for pair in item.evidence]
        ET.SubElement(entry, "summary").text = (f"{item.source} · score {item.score:.2f} · case {item.case_id}\n"
                                                + "\n".join(pairs))
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")
