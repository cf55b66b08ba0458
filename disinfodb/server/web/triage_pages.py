"""The triage page for editors: the hits `watch` queued, filtered; confirm and dismiss as
plain forms (static/app.js adds j/k, c, d, n), and a new case drafted from a document in
the case editor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from disinfodb.cases import STORED, Case
from disinfodb.server.auth import PageEditor, ServiceDep
from disinfodb.server.params import ItemId, TriageParams
from disinfodb.server.web.forms import CaseForm
from disinfodb.server.web.i18n import translator
from disinfodb.server.web.pages import check_csrf, local_target, redirect, render
from disinfodb.suggest import Suggestion
from disinfodb.triage import confirm, dismiss, draft
from disinfodb.vocab import language_name

router = APIRouter(include_in_schema=False)
PER_PAGE = 20


@router.get("/triage", response_class=HTMLResponse)
def triage_page(service: ServiceDep, request: Request, which: TriageParams, _: PageEditor,
                page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    items, total = service.reader.triage.items(which, page, PER_PAGE)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return render(request, "triage.html", {
        "items": items, "total": total, "page": page, "pages": max(1, -(-total // PER_PAGE)), "which": which,
        "sources": service.reader.triage.sources(), "narratives": service.reader.narratives.all(),
        "here": here, "page_link": lambda number: "/triage?" + urlencode([*params, ("page", str(number))]),
        "title": translator(request).gettext("Triage")})


@router.post("/triage/{item_id}/confirm")
def confirm_item(service: ServiceDep, request: Request, item_id: ItemId, user: PageEditor,
                 csrf: Annotated[str, Form()] = "", back: Annotated[str, Form()] = "/triage") -> Response:
    check_csrf(request, csrf)
    confirm(service.writer, item_id, user.name)
    return redirect(request, local_target(back))


@router.post("/triage/{item_id}/dismiss")
def dismiss_item(service: ServiceDep, request: Request, item_id: ItemId, user: PageEditor,
                 csrf: Annotated[str, Form()] = "", back: Annotated[str, Form()] = "/triage") -> Response:
    check_csrf(request, csrf)
    dismiss(service.writer, item_id, user.name)
    return redirect(request, local_target(back))


@router.get("/triage/{item_id}/draft", response_class=HTMLResponse)
def draft_page(service: ServiceDep, request: Request, item_id: ItemId, _: PageEditor) -> HTMLResponse:
    """The new-case editor, prefilled from the item's document (saving it is the editor's own
    form). The likely suggested values are filled in too, and every suggestion is listed
    under its field with its score, so the editor sees which values are guesses."""
    prefilled = draft(service.reader, item_id, service.matcher)
    fields = prefilled.model_dump(exclude={"from_item", "suggested"})
    suggested: dict[str, list[SuggestedValue]] = {}
    for name, values in prefilled.suggested:
        if values:
            fields[name] = [*fields.get(name, []), *(s.value for s in values if s.likely)]
            suggested[name] = [SuggestedValue(language_name(s.value) if name == "languages" else s.value, s)
                               for s in values]
    case = Case.model_validate(fields, context=STORED)  # checked on save
    return render(request, "edit.html", {"form": CaseForm.of(case), "errors": {}, "case": None,
                                         "suggested": suggested, "title": translator(request).gettext("New case")})


@dataclass(frozen=True)
class SuggestedValue:
    """A suggestion as the editor's field spells it (languages by their English name)."""

    shown: str
    suggestion: Suggestion
