"""Checking a text: paste it or upload a file, see the cases it repeats and its matched sentences marked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from disinfodb.documents import Document, Skipped, joined, read_upload
from disinfodb.errors import InputTooLarge
from disinfodb.server.auth import PageVisitor, ServiceDep, client_key
from disinfodb.server.matchers import MatchRequest
from disinfodb.server.web.forms import highlighted
from disinfodb.server.web.i18n import translator
from disinfodb.server.web.pages import check_csrf, render

MATCH_LIMIT = 10

router = APIRouter(include_in_schema=False)


@router.get("/check", response_class=HTMLResponse)
def check_page(service: ServiceDep, request: Request, _: PageVisitor) -> HTMLResponse:
    title = translator(request).gettext("Check a text")
    return render(request, "check.html", {"text": "", "matches": None, "title": title,
                                          "index_note": service.index_status().note})


@router.post("/check", response_class=HTMLResponse)
def check_text(service: ServiceDep, request: Request, user: PageVisitor, text: Annotated[str, Form()] = "",
               file: Annotated[UploadFile | None, File()] = None,
               csrf: Annotated[str, Form()] = "") -> HTMLResponse:
    """Matching runs in a match worker (or, without one, here in a worker thread: a sync
    endpoint), never on the event loop. An upload's skipped parts are listed with the
    result, so that what was not checked is not taken for what matched nothing."""
    check_csrf(request, csrf)
    tr = translator(request)
    title = tr.gettext("Check a text")
    document = None
    skipped: Skipped = []
    if file is not None and file.filename:
        # A page, a PDF, subtitles or a text is one document; a feed's or an export's are checked together.
        document = joined(file.filename, read_upload(file.filename, file.file.read(), skipped))
        text = document.text
    if not text.strip():
        error = (tr.gettext("Nothing in the file could be read: see below what was skipped.") if skipped
                 else tr.gettext("Paste a text or choose a file to check."))
        return render(request, "check.html", {"text": "", "matches": None, "title": title, "error": error,
                                              "skipped": skipped}, status=422)
    try:
        service.admit_text(text, client_key(user, request))
    except InputTooLarge as error:
        return render(request, "check.html", {"text": "", "matches": None, "title": title,
                                              "error": f"{str(error).capitalize()}.", "skipped": skipped}, status=413)
    answer = service.match(MatchRequest(document or Document("text", text), limit=MATCH_LIMIT))
    return render(request, "check.html", {"text": text, "matches": answer.matches,
                                          "marked": highlighted(text, answer.matches), "title": title,
                                          "index_note": answer.index.note, "thresholds": answer.thresholds,
                                          "skipped": skipped})
