"""Rendering pages: the Jinja2 templates (the pages' own and the review's), every page's
shared context (the signed-in user, a CSRF token), error pages, and the CSRF check forms
that change anything must pass (their token must equal the one in a SameSite=Strict
cookie)."""

from __future__ import annotations

import hmac
import secrets
from datetime import date
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from disinfodb import __version__
from disinfodb.cases import web_url
from disinfodb.errors import DisinfoError, NotAllowed, NotSignedIn
from disinfodb.facets import BY_NAME, FACETS
from disinfodb.markup import linkify
from disinfodb.server.problems import error_headers, status_of
from disinfodb.server.service import Service
from disinfodb.vocab import language_name

CSRF_COOKIE = "disinfodb_csrf"
_NOT_PAGES = ("/api", "/openapi.json", "/static")


def search_url(**params: Any) -> str:
    return "/?" + urlencode(params, doseq=True)


# The pages' own templates, and the review's (a review page shows the digest the standalone file has).
templates = Jinja2Templates(env=Environment(loader=ChoiceLoader([
    FileSystemLoader(str(resources.files("disinfodb.server.web") / "templates")),
    FileSystemLoader(str(resources.files("disinfodb.review") / "templates"))]), autoescape=True))
templates.env.globals.update(language_name=language_name, facets=FACETS, facet_named=BY_NAME, search_url=search_url,
                             today=date.today)
templates.env.filters.update(urlquote=lambda value: quote(str(value), safe=""), linkify=linkify, web_url=web_url)


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


def local_target(target: str) -> str:
    """Only redirect within this site (an open redirect would help phishing)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
