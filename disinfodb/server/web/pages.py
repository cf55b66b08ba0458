"""Rendering pages: the Jinja2 templates (the pages' own and the review's), every page's
shared context (the signed-in user, a CSRF token, the page's language), error pages, and
the CSRF check forms that change anything must pass (their token must equal the one in a
SameSite=Strict cookie)."""

from __future__ import annotations

import hmac
import secrets
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from disinfodb import __version__
from disinfodb.cases import web_url
from disinfodb.errors import DisinfoError, NotAllowed, NotSignedIn
from disinfodb.facets import FACETS
from disinfodb.markup import linkify
from disinfodb.server.api.factcheck import PREFIX as FACTCHECK_PREFIX
from disinfodb.server.problems import error_headers, status_of
from disinfodb.server.service import Service
from disinfodb.server.web import i18n
from disinfodb.server.web.i18n import N_, page_language, translator, with_lang

CSRF_COOKIE = "disinfodb_csrf"
_NOT_PAGES = ("/api", "/openapi.json", "/static", FACTCHECK_PREFIX)
# Error pages' headings (the problem documents of the API keep their English titles).
_ERROR_TITLES = {400: N_("That request could not be answered"), 401: N_("Sign in needed"),
                 403: N_("Not allowed"), 404: N_("Not found"), 409: N_("A conflict with the stored case"),
                 413: N_("Too large"), 422: N_("That request could not be read"),
                 428: N_("The version is missing"), 429: N_("Too many requests"),
                 503: N_("The database cannot be reached for now")}
_OTHER_ERROR = N_("Something went wrong")


# The pages' own templates, and the review's (a review page shows the digest the standalone file has).
templates = Jinja2Templates(env=Environment(loader=ChoiceLoader([
    FileSystemLoader(str(resources.files("disinfodb.server.web") / "templates")),
    FileSystemLoader(str(resources.files("disinfodb.review") / "templates"))]), autoescape=True))
i18n.install(templates.env)
templates.env.globals.update(facets=FACETS)
templates.env.filters.update(urlquote=lambda value: quote(str(value), safe=""), linkify=linkify, web_url=web_url)


def is_page(request: Request) -> bool:
    """Whether a request is for a web page (errors render as HTML) or the API."""
    return not request.url.path.startswith(_NOT_PAGES)


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A page, with the signed-in user, a CSRF token (its cookie set on first visit), in
    the request's language (which the headers say, and which Accept-Language may change)."""
    service: Service = request.app.state.service
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    user = getattr(request.state, "user", None)
    full = {"user": user, "csrf": token, "version": __version__, "private": service.settings.private, **context}
    response = templates.TemplateResponse(request, name, full, status_code=status)
    response.headers["Cache-Control"] = "no-store" if user else "private, max-age=0"
    response.headers["Content-Language"] = page_language(request).code
    response.headers["Vary"] = "Accept-Language"
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=service.settings.secure_cookies, path="/")
    return response


def error_page(request: Request, error: Exception, status: int | None = None, detail: str | None = None) -> Response:
    """The page for an error: sign in where a user is needed, else say what went wrong."""
    if isinstance(error, NotSignedIn):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(request, f"/login?next={quote(here)}")
    status = status or status_of(error)[0]
    tr = translator(request)
    title = tr.gettext(_ERROR_TITLES.get(status, _OTHER_ERROR))
    message = detail or (str(error) if isinstance(error, DisinfoError) else getattr(error, "detail", None)
                         or tr.gettext("The server failed to answer; the error was logged."))
    response = render(request, "error.html", {"title": title, "status": status, "detail": message}, status=status)
    response.headers.update({k: v for k, v in error_headers(error).items() if k != "WWW-Authenticate"})
    return response


def check_csrf(request: Request, token: str) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), token.encode()):
        raise NotAllowed("the form has expired or came from another site; reload the page and try again")


def redirect(request: Request, target: str) -> RedirectResponse:
    """See Other, to a page of this site in the request's chosen language."""
    return RedirectResponse(with_lang(target, page_language(request).kept), status_code=303)


def local_target(target: str) -> str:
    """Only redirect within this site (an open redirect would help phishing)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
