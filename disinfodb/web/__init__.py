"""The web pages: server-rendered HTML (Jinja2) over the same Service as the API.

Every page works without JavaScript; `static/app.js` only improves it (upload progress,
keyboard shortcuts). The URL of a search holds its whole state, so links can be shared.
Forms that change anything carry a CSRF token that must equal the token in a
SameSite=Strict cookie; web sessions are server-side rows, so signing out ends them.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import date
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from disinfodb import __version__
from disinfodb.api import SearchParams, import_upload
from disinfodb.auth import (
    SESSION_COOKIE,
    PageEditor,
    PageSearcher,
    PageVisitor,
    ServiceDep,
    client_key,
    session_user,
)
from disinfodb.cases import Case, web_url
from disinfodb.errors import (
    CaseConflict,
    CaseExists,
    CaseNotFound,
    DisinfoError,
    ImportRejected,
    NotAllowed,
    NotSignedIn,
    QuerySyntaxError,
    VersionConflict,
    VersionRequired,
)
from disinfodb.markup import linkify
from disinfodb.match import Match
from disinfodb.narratives import NarrativeBook
from disinfodb.problems import error_headers, status_of
from disinfodb.rebuttals import rebuttal_groups_of, suggest_disproofs
from disinfodb.search import Results
from disinfodb.service import Service
from disinfodb.vocab import language_name
from disinfodb.web.forms import CaseForm, highlighted
from disinfodb.web.links import SearchLinks

CSRF_COOKIE = "disinfodb_csrf"
CSRF_FIELD = "csrf"
MATCH_LIMIT = 10
_NOT_PAGES = ("/api", "/openapi.json", "/static")

templates = Jinja2Templates(directory=str(resources.files("disinfodb.web") / "templates"))
templates.env.globals["language_name"] = language_name
templates.env.filters["urlquote"] = lambda value: quote(str(value), safe="")
templates.env.filters["linkify"] = linkify
templates.env.filters["web_url"] = web_url


def is_page(request: Request) -> bool:
    """Whether a request is for a web page (errors render as HTML) or the API."""
    return not request.url.path.startswith(_NOT_PAGES)


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A page, with the signed-in user, a CSRF token (its cookie set on first visit)."""
    service: Service = request.app.state.service
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    user = getattr(request.state, "user", None)
    full = {"user": user, "csrf": token, "version": __version__, "private": service.settings.private, **context}
    response = templates.TemplateResponse(request, name, full, status_code=status)
    response.headers["Cache-Control"] = "no-store" if user else "private, max-age=0"
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=service.settings.secure_cookies, path="/")
    return response


def error_page(request: Request, error: Exception, status: int | None = None, detail: str | None = None) -> Response:
    """The page for an error: sign in where a user is needed, else say what went wrong."""
    if isinstance(error, NotSignedIn):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(here)}", status_code=303)
    code, title = status_of(error)
    status = status or code
    title = {404: "Not found", 422: "That request could not be read"}.get(status, title)
    message = detail or (str(error) if isinstance(error, DisinfoError) else
                         getattr(error, "detail", None) or "The server failed to answer; the error was logged.")
    response = render(request, "error.html", {"title": title, "status": status, "detail": message}, status=status)
    response.headers.update({k: v for k, v in error_headers(error).items() if k != "WWW-Authenticate"})
    return response


def check_csrf(request: Request, token: str) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), token.encode()):
        raise NotAllowed("the form has expired or came from another site; reload the page and try again")


router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def search_page(service: ServiceDep, request: Request, query: SearchParams, searcher: PageSearcher) -> HTMLResponse:
    links = SearchLinks(request.query_params.multi_items())
    try:
        with service.searching(searcher.budget_key) as store:
            results = store.search(query)
    except QuerySyntaxError as error:  # show it above the search box, with the query kept to fix
        return render(request, "search.html", {"results": Results(total=0, hits=[]), "query": query,
                                               "links": links, "pages": 1, "title": "Search",
                                               "error": str(error)}, status=400)
    pages = max(1, -(-results.total // query.per_page))
    return render(request, "search.html", {"results": results, "query": query, "links": links,
                                           "pages": pages, "title": query.text or "Search"})


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The JSON API's documentation (Swagger UI over /openapi.json)."""
    return templates.TemplateResponse(request, "docs.html", {})


@router.get("/cases/new", response_class=HTMLResponse)
def new_case_page(service: ServiceDep, request: Request, _: PageEditor) -> HTMLResponse:
    return render(request, "edit.html", {"form": CaseForm(), "errors": {}, "case": None, "title": "New case"})


@router.post("/cases/new", response_class=HTMLResponse)
async def create_case(service: ServiceDep, request: Request, user: PageEditor) -> Response:
    form, action = await _case_form(request)
    if action == "suggest":
        return _with_suggestions(service, request, form, None)
    try:
        stored = service.writer.create(form.to_case(), actor=user.name)
    except (ValidationError, CaseExists, CaseConflict) as error:
        return _form_again(request, form, None, error)
    return RedirectResponse(f"/cases/{quote(stored.id)}?saved=1", status_code=303)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(service: ServiceDep, request: Request, case_id: str, _: PageVisitor) -> HTMLResponse:
    case = service.reader.get(case_id)
    listed = _existing(service, case.related)
    similar = service.related_if_ready(case_id)
    book = NarrativeBook(service.reader)
    narrative_id = book.of_cases([case_id]).get(case_id)
    rebuttals = [(group, [c for c in group.cases if c.id != case_id])
                 for group in rebuttal_groups_of(service.reader, case_id)]
    return render(request, "case.html", {"case": case, "history": service.reader.history(case_id),
                                         "listed_related": listed, "similar": similar,
                                         "narrative": book.get(narrative_id) if narrative_id else None,
                                         "rebuttals": rebuttals,
                                         "saved": request.query_params.get("saved"), "title": case.title})


@router.get("/cases/{case_id}/edit", response_class=HTMLResponse)
def edit_case_page(service: ServiceDep, request: Request, case_id: str, _: PageEditor) -> HTMLResponse:
    case = service.reader.get(case_id)
    return render(request, "edit.html", {"form": CaseForm.of(case), "errors": {}, "case": case,
                                         "title": f"Edit {case.title}"})


@router.post("/cases/{case_id}/edit", response_class=HTMLResponse)
async def edit_case(service: ServiceDep, request: Request, case_id: str, user: PageEditor) -> Response:
    case = service.reader.get(case_id)
    form, action = await _case_form(request)
    if action == "suggest":
        return _with_suggestions(service, request, form, case)
    try:
        service.replace_case(case_id, form.to_case(case), user, form.version)
    except (ValidationError, VersionConflict, VersionRequired, CaseConflict) as error:
        return _form_again(request, form, case, error)
    return RedirectResponse(f"/cases/{quote(case_id)}?saved=1", status_code=303)


@router.post("/cases/{case_id}/delete")
def delete_case(service: ServiceDep, request: Request, case_id: str, user: PageEditor,
                csrf: Annotated[str, Form()] = "", version: Annotated[int | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    service.delete_case(case_id, user, version)
    return RedirectResponse("/?deleted=" + quote(case_id), status_code=303)


@router.get("/check", response_class=HTMLResponse)
def check_page(service: ServiceDep, request: Request, _: PageVisitor) -> HTMLResponse:
    return render(request, "check.html", {"text": "", "matches": None, "title": "Check a text"})


@router.post("/check", response_class=HTMLResponse)
async def check_text(service: ServiceDep, request: Request, user: PageVisitor, text: Annotated[str, Form()] = "",
                     file: Annotated[UploadFile | None, File()] = None,
                     csrf: Annotated[str, Form()] = "") -> HTMLResponse:
    check_csrf(request, csrf)
    service.match_limiter.check(client_key(user, request))
    if file is not None and file.filename:
        text = (await file.read()).decode("utf-8", errors="replace")
    if not text.strip():
        return render(request, "check.html", {"text": "", "matches": None, "title": "Check a text",
                                              "error": "Paste a text or choose a file to check."}, status=422)
    if len(text) > service.settings.max_match_chars:
        return render(request, "check.html", {"text": "", "matches": None, "title": "Check a text",
                                              "error": f"The text has {len(text):,} characters; at most"
                                                       f" {service.settings.max_match_chars:,} can be checked."},
                      status=413)
    matches: list[Match] = service.matcher().match(text, limit=MATCH_LIMIT)
    return render(request, "check.html", {"text": text, "matches": matches,
                                          "marked": highlighted(text, matches), "title": "Check a text"})


@router.get("/import", response_class=HTMLResponse)
def import_page(service: ServiceDep, request: Request, _: PageEditor) -> HTMLResponse:
    return render(request, "import.html", {"report": None, "title": "Import cases"})


@router.post("/import", response_class=HTMLResponse)
def import_file(service: ServiceDep, request: Request, user: PageEditor, file: Annotated[UploadFile, File()],
                csrf: Annotated[str, Form()] = "", dry_run: Annotated[bool, Form()] = False,
                skip_invalid: Annotated[bool, Form()] = False) -> HTMLResponse:
    check_csrf(request, csrf)
    service.import_limiter.check(client_key(user, request))
    try:
        report = import_upload(service, file, None, user.name, dry_run=dry_run, skip_invalid=skip_invalid)
    except DisinfoError as error:
        status, _title = status_of(error)
        problems = error.problems if isinstance(error, ImportRejected) else []
        message = (f"{len(problems)} bad record(s), listed below. Fix them, or tick “Skip bad records”."
                   if problems else str(error))
        return render(request, "import.html", {"report": None, "error": message, "problems": problems,
                                               "filename": file.filename, "title": "Import cases"}, status=status)
    return render(request, "import.html", {"report": report, "filename": file.filename,
                                           "title": "Import cases"})


@router.get("/login", response_class=HTMLResponse)
def login_page(service: ServiceDep, request: Request, next: str = "/") -> HTMLResponse:
    request.state.user = session_user(service, request)
    return render(request, "login.html", {"next": _local(next), "title": "Sign in"})


@router.post("/login", response_class=HTMLResponse)
def login(service: ServiceDep, request: Request, name: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    check_csrf(request, csrf)
    service.login_limiter.check(client_key(None, request))
    user = service.accounts.authenticate(name, password)
    if user is None:
        request.state.user = None
        return render(request, "login.html", {"next": _local(next), "name": name, "title": "Sign in",
                                              "error": "Unknown user name or wrong password."}, status=401)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, service.accounts.start_session(user.name), httponly=True,
                        samesite="lax", secure=service.settings.secure_cookies, path="/")
    return response


@router.post("/logout")
def logout(service: ServiceDep, request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        service.accounts.end_session(session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _form_again(request: Request, form: CaseForm, case: Case | None, error: Exception) -> HTMLResponse:
    """The editor again, with what was typed and why it was not saved."""
    conflict = None
    if isinstance(error, ValidationError):
        errors, status = CaseForm.errors_of(error), 422
    elif isinstance(error, VersionConflict):
        errors, status = {}, 409
        conflict = (f"Someone else saved this case (now version {error.current_version}) while you were editing."
                    " Nothing of yours was saved: your text is below. Open the case in a new tab to see"
                    " their changes, then save again to overwrite them with yours.")
        form.version = error.current_version
    elif isinstance(error, VersionRequired):
        errors, status = {}, 428
        conflict = (f"The form did not say which version of the case it edits (it is at version"
                    f" {error.current_version} now), so nothing was saved: your text is below. Check the case"
                    " in a new tab, then save again to overwrite it with yours.")
        form.version = error.current_version
    elif isinstance(error, CaseExists):
        errors, status = {"title": f"This case is already in the database as '{error.case_id}'."}, 409
    else:
        errors, status = {"url": str(error)}, 409
    return render(request, "edit.html", {"form": form, "errors": errors, "case": case, "conflict": conflict,
                                         "title": f"Edit {case.title}" if case else "New case"}, status=status)


def _with_suggestions(service: Service, request: Request, form: CaseForm, case: Case | None) -> HTMLResponse:
    """The editor again, unsaved, with disproof paragraphs of the cases its claim matches."""
    draft = f"{form.title}\n{form.summary}".strip()
    suggestions = []
    message = None
    if draft:
        service.match_limiter.check(client_key(getattr(request.state, "user", None), request))
        suggestions = suggest_disproofs(service.matcher(), service.reader, draft[:service.settings.max_match_chars],
                                        limit=5, exclude=(case.id,) if case else ())
    if not suggestions:
        message = ("Write the title or summary first: suggestions come from the cases whose claims match it."
                   if not draft else "No matched case has a disproof paragraph to suggest.")
    return render(request, "edit.html", {"form": form, "errors": {}, "case": case, "suggestions": suggestions,
                                         "suggestion_message": message,
                                         "title": f"Edit {case.title}" if case else "New case"})


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


def _local(target: str) -> str:
    """Only redirect within this site (an open redirect would help phishing)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def search_url(**params: Any) -> str:
    return "/?" + urlencode(params, doseq=True)


templates.env.globals["search_url"] = search_url
templates.env.globals["today"] = date.today
