"""The app: the JSON API and the web pages over one Service, with one error policy.

Library errors become problem documents under /api and friendly error pages elsewhere;
nothing unexpected ever shows a client a stack trace.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from disinfodb import __version__
from disinfodb.errors import DisinfoError
from disinfodb.server.api.accounts import router as accounts_api_router
from disinfodb.server.api.cases import router as api_router
from disinfodb.server.api.factcheck import router as factcheck_api_router
from disinfodb.server.api.insights import router as insights_api_router
from disinfodb.server.api.matching import router as matching_api_router
from disinfodb.server.api.rebuttals import router as rebuttals_api_router
from disinfodb.server.api.suggest import router as suggest_api_router
from disinfodb.server.api.triage import router as triage_api_router
from disinfodb.server.headers import SecurityHeaders, ServerTiming
from disinfodb.server.limits import BodySizeLimit
from disinfodb.server.problems import error_response, problem, problem_schemas
from disinfodb.server.service import Service, Settings
from disinfodb.server.web import ROUTERS as WEB_ROUTERS
from disinfodb.server.web import error_page, is_page
from disinfodb.store import Store, open_store

log = logging.getLogger(__name__)

#: What `serve --workers N` hands each of its processes: the database, the model and the
#: Settings as JSON (uvicorn starts workers from an import string, so no argument reaches
#: the factory; a spawned process inherits the environment).
WORKER_ENV = "DISINFODB_SERVE_WORKER"


def create_app(store: Store | None = None, model: str | None = None,
               settings: Settings | None = None) -> FastAPI:
    """The app (API and web pages) over a store (default: $DISINFODB_DB or ./disinfodb.sqlite)."""
    service = Service(store or open_store(), model, settings)
    app = FastAPI(title="disinfodb", version=__version__, docs_url=None, redoc_url=None,
                  description="Search, read, match and edit debunked disinformation cases. Reads are public"
                              " unless the instance is private; writes need `Authorization: Bearer <token>`"
                              " of an editor (`disinfodb token create NAME`).",
                  generate_unique_id_function=operation_id)
    app.state.service = service
    app.include_router(api_router)
    app.include_router(matching_api_router)
    app.include_router(accounts_api_router)
    app.include_router(insights_api_router)
    app.include_router(rebuttals_api_router)
    app.include_router(suggest_api_router)
    app.include_router(triage_api_router)
    app.include_router(factcheck_api_router)
    for router in WEB_ROUTERS:
        app.include_router(router)
    # The API docs page runs Swagger UI from the files the fastapi-offline package ships:
    # no CDN, and a Content-Security-Policy that allows this site's own scripts only.
    app.mount("/static/swagger", StaticFiles(packages=[("fastapi_offline", "static")]), name="swagger")
    app.mount("/static", StaticFiles(packages=[("disinfodb.server.web", "static")]), name="static")
    add_error_handlers(app)
    with_problem_components(app)
    settings = service.settings
    texts = dict.fromkeys(("/api/match", "/api/suggest-disproof", "/api/suggest-metadata", "/check"),
                          settings.max_match_body_bytes)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, path_limits=texts)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ServerTiming, worker=os.getpid() if settings.workers > 1 else None)
    return app


def worker_environment(location: str, model: str | None, settings: Settings) -> str:
    """The value of WORKER_ENV that makes `worker_app` serve `location` with these settings."""
    return json.dumps({"db": location, "model": model, "settings": dataclasses.asdict(settings)})


def worker_app() -> FastAPI:
    """One process of `serve --workers N` (uvicorn's factory, run in each worker): its own
    connections, matcher, match workers and term index over the database WORKER_ENV names.
    The matcher's build starts when the worker starts serving, and everything (match
    workers included) is closed when uvicorn stops it (SIGTERM from the supervisor, Ctrl-C)."""
    config = json.loads(os.environ[WORKER_ENV])
    app = create_app(open_store(config["db"]), config["model"], Settings(**config["settings"]))
    service: Service = app.state.service

    @asynccontextmanager
    async def serving(_app: FastAPI) -> AsyncIterator[None]:
        service.warm_up()
        try:
            yield
        finally:
            service.close()

    app.router.lifespan_context = serving
    return app


def operation_id(route: APIRoute) -> str:
    """An operation's id is its endpoint's name (`search_cases`, `match_text`): clients
    generated from /openapi.json name their functions after it, and FastAPI's default
    (`search_cases_api_cases_get`) reads as the URL twice."""
    return route.name


def with_problem_components(app: FastAPI) -> None:
    """/openapi.json carries the problem document as components that every operation's
    error answers refer to (`problems.problems`)."""
    generated = app.openapi

    def contract() -> dict[str, Any]:
        schema = generated()  # FastAPI builds it once and keeps it
        schema.setdefault("components", {}).setdefault("schemas", {}).update(problem_schemas())
        return schema

    app.openapi = contract  # type: ignore[method-assign]


def add_error_handlers(app: FastAPI) -> None:
    """Library errors become problem documents for /api and error pages for the web."""

    async def library_error(request: Request, error: Exception) -> Response:
        if is_page(request):
            return error_page(request, error)
        return error_response(error)

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        if is_page(request):
            return error_page(request, error, status=422, detail=detail)
        return problem(422, "Invalid request", detail, errors)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if is_page(request):
            return error_page(request, error, status=error.status_code)
        return problem(error.status_code, str(error.detail), str(error.detail), headers=error.headers)

    async def crashed(request: Request, error: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        if is_page(request):
            return error_page(request, error, status=500)
        return problem(500, "Internal error", "the server failed to answer; the error was logged")

    app.add_exception_handler(DisinfoError, library_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crashed)
