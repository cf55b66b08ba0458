"""Signing in and out (server-side sessions in HttpOnly cookies; sign-in rate-limited per
address), and the API docs page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from disinfodb.server.auth import SESSION_COOKIE, ServiceDep, client_key, session_user
from disinfodb.server.web.i18n import translator
from disinfodb.server.web.pages import check_csrf, local_target, redirect, render, templates

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The JSON API's documentation (Swagger UI over /openapi.json)."""
    return templates.TemplateResponse(request, "docs.html", {})


@router.get("/login", response_class=HTMLResponse)
def login_page(service: ServiceDep, request: Request, next: str = "/") -> HTMLResponse:
    request.state.user = session_user(service, request)
    return render(request, "login.html", {"next": local_target(next), "title": translator(request).gettext("Sign in")})


@router.post("/login", response_class=HTMLResponse)
def login(service: ServiceDep, request: Request, name: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    check_csrf(request, csrf)
    service.login_limiter.check(client_key(None, request))
    user = service.accounts.authenticate(name, password)
    if user is None:
        request.state.user = None
        tr = translator(request)
        return render(request, "login.html", {"next": local_target(next), "name": name, "title": tr.gettext("Sign in"),
                                              "error": tr.gettext("Unknown user name or wrong password.")}, status=401)
    response = redirect(request, local_target(next))
    response.set_cookie(SESSION_COOKIE, service.accounts.start_session(user.name), httponly=True,
                        samesite="lax", secure=service.settings.secure_cookies, path="/")
    return response


@router.post("/logout")
def logout(service: ServiceDep, request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        service.accounts.end_session(session)
    response = redirect(request, "/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
