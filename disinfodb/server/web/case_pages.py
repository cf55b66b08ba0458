"""The search page, a case's page and the editor (new case, edit, delete, disproof suggestions)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from disinfodb.accounts import User
from disinfodb.cases import Case
from disinfodb.errors import CaseConflict, CaseExists, CaseNotFound, QuerySyntaxError, VersionConflict, VersionRequired
from disinfodb.export import claimreview_script
from disinfodb.matching import meaning
from disinfodb.rebuttals import rebuttal_groups_of, suggest_disproofs
from disinfodb.search import Results
from disinfodb.server.auth import PageEditor, PageSearcher, PageVisitor, ServiceDep, client_key
from disinfodb.server.params import SearchParams
from disinfodb.server.service import Service
from disinfodb.server.web.forms import CaseForm
from disinfodb.server.web.i18n import page_language, translator
from disinfodb.server.web.links import SearchLinks
from disinfodb.server.web.pages import check_csrf, redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def search_page(service: ServiceDep, request: Request, query: SearchParams, searcher: PageSearcher) -> HTMLResponse:
    links = SearchLinks(request.query_params.multi_items(), page_language(request).kept)
    title = translator(request).gettext("Search")
    try:
        results = service.search(query, searcher.budget_key)
    except QuerySyntaxError as error:  # show it above the search box, with the query kept to fix
        return render(request, "search.html", {"results": Results(total=0, hits=[]), "query": query,
                                               "links": links, "pages": 1, "title": title,
                                               "error": str(error)}, status=400)
    pages = max(1, -(-results.total // query.per_page))
    return render(request, "search.html", {"results": results, "query": query, "links": links,
                                           "pages": pages, "title": query.text or title,
                                           "meaning_results": meaning.MEANING_RESULTS})


@router.get("/cases/new", response_class=HTMLResponse)
def new_case_page(service: ServiceDep, request: Request, _: PageEditor) -> HTMLResponse:
    return render(request, "edit.html", {"form": CaseForm(), "errors": {}, "case": None,
                                         "title": _editor_title(request, None)})


@router.post("/cases/new", response_class=HTMLResponse)
async def create_case(service: ServiceDep, request: Request, user: PageEditor) -> Response:
    form, action = await _case_form(request)
    return await run_in_threadpool(_create, service, request, user.name, form, action)  # off the event loop


def _create(service: Service, request: Request, actor: str, form: CaseForm, action: str) -> Response:
    if action == "suggest":
        return _with_suggestions(service, request, form, None)
    try:
        stored = service.writer.create(form.to_case(), actor=actor)
    except (ValidationError, CaseExists, CaseConflict) as error:
        return _form_again(request, form, None, error)
    return redirect(request, f"/cases/{quote(stored.id)}?saved=1")


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(service: ServiceDep, request: Request, case_id: str, _: PageVisitor) -> HTMLResponse:
    case = service.reader.get(case_id)
    listed = _existing(service, case.related)
    similar = service.related_if_ready(case_id)
    narrative_id = next(iter(case.narratives), None)
    narrative = service.reader.narratives.get(narrative_id) if narrative_id else None
    rebuttals = [(group, [c for c in group.cases if c.id != case_id])
                 for group in rebuttal_groups_of(service.reader, case_id)]
    return render(request, "case.html", {"case": case, "history": service.reader.history(case_id),
                                         "listed_related": listed, "similar": similar,
                                         "narrative": narrative,
                                         "rebuttals": rebuttals,
                                         # escaped for a <script> element by claimreview_script
                                         "claimreview": Markup(claimreview_script(case, service.settings.publisher)),
                                         "saved": request.query_params.get("saved"), "title": case.title})


@router.get("/cases/{case_id}/edit", response_class=HTMLResponse)
def edit_case_page(service: ServiceDep, request: Request, case_id: str, _: PageEditor) -> HTMLResponse:
    case = service.reader.get(case_id)
    return render(request, "edit.html", {"form": CaseForm.of(case), "errors": {}, "case": case,
                                         "title": _editor_title(request, case)})


@router.post("/cases/{case_id}/edit", response_class=HTMLResponse)
async def edit_case(service: ServiceDep, request: Request, case_id: str, user: PageEditor) -> Response:
    form, action = await _case_form(request)
    return await run_in_threadpool(_edit, service, request, case_id, user, form, action)  # off the event loop


def _edit(service: Service, request: Request, case_id: str, user: User, form: CaseForm, action: str) -> Response:
    case = service.reader.get(case_id)
    if action == "suggest":
        return _with_suggestions(service, request, form, case)
    try:
        service.replace_case(case_id, form.to_case(case), user, form.version)
    except (ValidationError, VersionConflict, VersionRequired, CaseConflict) as error:
        return _form_again(request, form, case, error)
    return redirect(request, f"/cases/{quote(case_id)}?saved=1")


@router.post("/cases/{case_id}/delete")
def delete_case(service: ServiceDep, request: Request, case_id: str, user: PageEditor,
                csrf: Annotated[str, Form()] = "", version: Annotated[int | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    service.delete_case(case_id, user, version)
    return redirect(request, "/?deleted=" + quote(case_id))


def _form_again(request: Request, form: CaseForm, case: Case | None, error: Exception) -> HTMLResponse:
    """The editor again, with what was typed and why it was not saved."""
    tr = translator(request)
    conflict = None
    if isinstance(error, ValidationError):
        errors, status = CaseForm.errors_of(error, tr), 422
    elif isinstance(error, VersionConflict):
        errors, status = {}, 409
        conflict = tr.gettext("Someone else saved this case (now version %(version)s) while you were editing."
                              " Nothing of yours was saved: your text is below. Open the case in a new tab to see"
                              " their changes, then save again to overwrite them with yours."
                              ) % {"version": error.current_version}
        form.version = error.current_version
    elif isinstance(error, VersionRequired):
        errors, status = {}, 428
        conflict = tr.gettext("The form did not say which version of the case it edits (it is at version"
                              " %(version)s now), so nothing was saved: your text is below. Check the case"
                              " in a new tab, then save again to overwrite it with yours."
                              ) % {"version": error.current_version}
        form.version = error.current_version
    elif isinstance(error, CaseExists):
        errors = {"title": tr.gettext("This case is already in the database as “%(id)s”.") % {"id": error.case_id}}
        status = 409
    else:
        errors, status = {"url": str(error)}, 409
    return render(request, "edit.html", {"form": form, "errors": errors, "case": case, "conflict": conflict,
                                         "title": _editor_title(request, case)}, status=status)


def _editor_title(request: Request, case: Case | None) -> str:
    tr = translator(request)
    return tr.gettext("Edit %(title)s") % {"title": case.title} if case else tr.gettext("New case")


def _with_suggestions(service: Service, request: Request, form: CaseForm, case: Case | None) -> HTMLResponse:
    """The editor again, unsaved, with disproof paragraphs of the cases its claim matches."""
    draft = f"{form.title}\n{form.summary}".strip()
    suggestions = []
    message = None
    if draft:
        draft = draft[:service.settings.max_match_chars]
        service.admit_text(draft, client_key(getattr(request.state, "user", None), request))
        suggestions = suggest_disproofs(service.matcher(), service.reader, draft, limit=5,
                                        exclude=(case.id,) if case else ())
    if not suggestions:
        tr = translator(request)
        message = (tr.gettext("Write the title or summary first: suggestions come from the cases whose claims"
                              " match it.")
                   if not draft else tr.gettext("No matched case has a disproof paragraph to suggest."))
    return render(request, "edit.html", {"form": form, "errors": {}, "case": case, "suggestions": suggestions,
                                         "suggestion_message": message, "title": _editor_title(request, case)})


async def _case_form(request: Request) -> tuple[CaseForm, str]:
    """The editor's form, and which button sent it ("save" or "suggest")."""
    data = await request.form()
    form = CaseForm.from_form({k: v for k, v in data.items() if isinstance(v, str)})
    check_csrf(request, form.csrf)
    action = data.get("action")
    return form, action if isinstance(action, str) else "save"


def _existing(service: Service, case_ids: list[str]) -> list[Case]:
    found = []
    for case_id in case_ids:
        try:
            found.append(service.reader.get(case_id))
        except CaseNotFound:
            continue
    return found
