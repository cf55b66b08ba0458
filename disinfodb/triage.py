"""Deciding on what `disinfodb watch` queued: a hit confirmed becomes a new appearance of
its case (an outlet with the document's URL and date, written as any edit is: a new
version and an audit entry), a hit dismissed stays on record and leaves the queue, and a
document that repeats no case yet becomes a draft of a new case.

`TriageHit` is how a queued hit looks outside the store: in the API, its Atom feed and the
webhook's POSTs alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from disinfodb.cases import STORED, Case, Outlet, web_url
from disinfodb.errors import NothingToMatch, TriageDecided
from disinfodb.matching import Label, Matcher
from disinfodb.store import Store
from disinfodb.store.triage import Status, TriageItem
from disinfodb.suggest import MAX_TEXT_CHARS, Suggestions, suggest_metadata
from disinfodb.text import claim_sentences

LEADING_SENTENCES = 3  # a draft's summary for a document whose sentences matched no case
TITLE_CHARS = 200


class HitDocument(BaseModel):
    source: str
    id: str  # within its source
    title: str | None
    outlet: str | None
    url: str | None
    published: str | None
    lang: str | None
    text: str


class HitCase(BaseModel):
    id: str
    title: str
    narrative: str | None


class HitEvidence(BaseModel):
    input_sentence: str
    case_sentence: str
    score: float
    at: str | None = None


class TriageHit(BaseModel):
    id: int
    status: Status
    label: Label
    score: float
    found_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    document: HitDocument
    case: HitCase
    evidence: list[HitEvidence]

    @classmethod
    def of(cls, item: TriageItem) -> TriageHit:
        return cls(id=item.id, status=item.status, label=Label(item.label), score=item.score,
                   found_at=item.found_at, decided_by=item.decided_by, decided_at=item.decided_at,
                   document=HitDocument(source=item.source, id=item.doc_id, title=item.title, outlet=item.outlet,
                                        url=item.url, published=item.published, lang=item.lang, text=item.text),
                   case=HitCase(id=item.case_id, title=item.case_title, narrative=item.narrative_id),
                   evidence=[HitEvidence(**pair) for pair in item.evidence])


class Draft(BaseModel):
    """A new case prefilled from a document, for an editor to complete (nothing is saved).

    The case's fields are what the document itself says; what models guessed is kept apart in
    `suggested`, so that posting the fields as they are saves no guess unseen."""

    title: str
    summary: str
    published: date | None
    languages: list[str]
    outlets: list[Outlet]
    from_item: int
    suggested: Suggestions = Field(description="Suggestions, not the document's own values: keywords and countries"
                                               " for the summary's claim (`POST /api/suggest-metadata`), and"
                                               " article languages only when the document does not say its"
                                               " language (else none)")


def appearance(item: TriageItem) -> Outlet:
    """The document as an outlet of a case: its outlet's name, its web address, its date."""
    url = web_url(item.url)
    return Outlet(name=item.outlet or ("" if url else item.source), url=url, published=_day(item.published))


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def confirm(store: Store, item_id: int, actor: str) -> tuple[TriageItem, Case]:
    """The hit is the case again: its document becomes an outlet of the case (unless the
    case lists that URL already) and the item is confirmed, in one transaction."""
    with store.transaction():
        item = store.triage.get(item_id)
        if item.status is not Status.OPEN:
            raise TriageDecided(item_id, item.status.value)
        case = store.get(item.case_id)
        outlet = appearance(item)
        if not any(o.url and o.url == outlet.url for o in case.outlets):
            # The case as stored (rules added since do not refuse it), with one more outlet.
            updated = Case.model_validate({**case.content(), "outlets": [*case.outlets, outlet]}, context=STORED)
            case = store.replace(case.id, updated, actor=actor, expected_version=case.version)[1]
        return store.triage.decide(item_id, Status.CONFIRMED, actor), case


def dismiss(store: Store, item_id: int, actor: str) -> TriageItem:
    """Not the case: kept on record, out of the queue."""
    return store.triage.decide(item_id, Status.DISMISSED, actor)


def draft(store: Store, item_id: int, matcher: Callable[[], Matcher]) -> Draft:
    """A new case from the item's document: its summary the document's sentences that
    matched a case, or the leading ones when none matched (every hit `related`), with the
    matcher's suggested metadata for that summary. `matcher` is asked for once the item is
    found, so an unknown id is answered without loading a model."""
    item = store.triage.get(item_id)
    matched = [pair["input_sentence"] for hit in store.triage.of_document(item.document_pk)
               if hit.label == Label.MATCH for pair in hit.evidence]
    sentences = list(dict.fromkeys(matched)) or claim_sentences(item.text)[:LEADING_SENTENCES]
    order = {sentence: item.text.find(sentence) for sentence in sentences}
    sentences.sort(key=lambda s: order[s] if order[s] >= 0 else len(item.text))
    title = (item.title or (sentences[0] if sentences else item.text)).strip()
    summary = " ".join(sentences)
    suggested = _suggested(matcher(), summary or title)
    if item.lang:
        suggested = suggested.model_copy(update={"languages": []})  # the document says its own
    return Draft(title=_cut(title), summary=summary, published=_day(item.published),
                 languages=[item.lang] if item.lang else [], outlets=[appearance(item)], from_item=item.id,
                 suggested=suggested)


def _suggested(matcher: Matcher, claim: str) -> Suggestions:
    """The claim's suggestions; none for one without words (a draft is still a draft)."""
    try:
        return suggest_metadata(matcher, claim[:MAX_TEXT_CHARS])
    except NothingToMatch:
        return Suggestions(keywords=[], countries=[], languages=[])


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def hit_payload(item: TriageItem) -> dict[str, Any]:
    """A hit as JSON (what the webhook POSTs)."""
    return TriageHit.of(item).model_dump(mode="json")
