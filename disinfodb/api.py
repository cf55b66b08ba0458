"""The JSON API (FastAPI): the library's search, cases, history and matching over HTTP.

Every endpoint has a pydantic model in and out, so /openapi.json is exact. Errors are
RFC 9457 problem details (`application/problem+json`) naming what was wrong; a stack
trace never reaches the client. One store serves the app; its calls are serialised by a
lock (SQLite connections are not meant for concurrent use), which is plenty for reads
that take milliseconds.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from disinfodb import __version__
from disinfodb.cases import Case
from disinfodb.embed import load_embedders
from disinfodb.errors import CaseNotFound, DisinfoError, QuerySyntaxError
from disinfodb.match import ClaimIndex, InputTooLarge, Matcher, NothingToMatch
from disinfodb.search import MAX_PER_PAGE, FacetValue, Hit, SearchQuery
from disinfodb.store import SQLiteStore, open_store

MAX_MATCH_CHARS = 200_000


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] = []


class SearchOut(BaseModel):
    total: int
    page: int
    per_page: int
    results: list[Hit]  # snippets are HTML-escaped, with matches in <mark> tags
    facets: dict[str, list[FacetValue]]


class HistoryEntryOut(BaseModel):
    seq: int
    action: Literal["create", "update", "delete"]
    version: int
    actor: str
    at: datetime
    previous: Case | None


class RelatedOut(BaseModel):
    case_id: str
    title: str
    score: float


class MatchIn(BaseModel):
    text: str = Field(max_length=MAX_MATCH_CHARS, description="The text to check, any language")
    limit: int = Field(5, ge=1, le=50)
    min_label: Literal["none", "related", "match"] = "none"
    since: date | None = None
    until: date | None = None
    keywords: list[str] = []
    countries: list[str] = []
    languages: list[str] = []


class EvidenceOut(BaseModel):
    input_sentence: str
    case_sentence: str
    score: float


class MatchOut(BaseModel):
    case_id: str
    title: str
    score: float
    label: Literal["match", "related", "none"]
    evidence: list[EvidenceOut]


class MatchesOut(BaseModel):
    matches: list[MatchOut]


def problem(status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=errors or [])
    return JSONResponse(body.model_dump(), status_code=status, media_type="application/problem+json")


class Service:
    """The store and the (lazily built) matcher behind the app, used one call at a time."""

    def __init__(self, store: SQLiteStore, model: str | None = None) -> None:
        self.store = store
        self.model = model
        self._matcher: Matcher | None = None
        self._matcher_version: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @contextmanager
    def using(self) -> Iterator[SQLiteStore]:
        with self._lock:
            yield self.store

    def matcher(self) -> Matcher:
        """Built on first use (embedding whatever is not cached), rebuilt after any write
        to the database, by this process or another (cached vectors make that cheap)."""
        version = self.store.data_version()
        if self._matcher is None or self._matcher_version != version:
            embedders = load_embedders(self.model)
            self._matcher = Matcher(self.store, embedders, ClaimIndex.build(self.store, embedders))
            self._matcher_version = self.store.data_version()
        return self._matcher


def create_app(store: SQLiteStore | None = None, model: str | None = None) -> FastAPI:
    """The API app over a store (default: $DISINFODB_DB or ./disinfodb.sqlite)."""
    service = Service(store or open_store(), model)
    app = FastAPI(title="disinfodb", version=__version__,
                  description="Search, read and match debunked disinformation cases.")
    _add_error_handlers(app)

    @app.get("/api/cases", response_model=SearchOut, tags=["cases"])
    def search_cases(
        q: Annotated[str, Query(max_length=1000, description='Words, "phrases", prefix*, -excluded, OR')] = "",
        keyword: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI reads defaults, never mutates
        country: Annotated[list[str], Query()] = [],  # noqa: B006
        language: Annotated[list[str], Query()] = [],  # noqa: B006
        outlet: Annotated[list[str], Query()] = [],  # noqa: B006
        issue: Annotated[list[int], Query()] = [],  # noqa: B006
        since: date | None = None,
        until: date | None = None,
        sort: Literal["relevance", "date", "date_asc"] = "relevance",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20,
    ) -> SearchOut:
        query = SearchQuery(text=q, keywords=tuple(keyword), countries=tuple(country),
                            languages=tuple(language), outlets=tuple(outlet), issues=tuple(issue),
                            since=since, until=until, sort=sort, page=page, per_page=per_page)
        with service.using() as db:
            results = db.search(query)
        return SearchOut(total=results.total, page=results.page, per_page=results.per_page,
                         results=results.hits, facets=results.facets)

    @app.get("/api/cases/{case_id}", response_model=Case, tags=["cases"])
    def get_case(case_id: str) -> Case:
        with service.using() as db:
            return db.get(case_id)

    @app.get("/api/cases/{case_id}/history", response_model=list[HistoryEntryOut], tags=["cases"])
    def case_history(case_id: str) -> list[HistoryEntryOut]:
        with service.using() as db:
            entries = db.history(case_id)
            if not entries:
                db.get(case_id)  # raises CaseNotFound
        return [HistoryEntryOut(seq=e.seq, action=e.action, version=e.version,  # type: ignore[arg-type]
                                actor=e.actor, at=e.at, previous=e.previous) for e in entries]

    @app.get("/api/cases/{case_id}/related", response_model=list[RelatedOut], tags=["cases"])
    def related_cases(case_id: str, limit: Annotated[int, Query(ge=1, le=50)] = 10) -> list[RelatedOut]:
        with service.using():
            found = service.matcher().related(case_id, limit)
        return [RelatedOut(case_id=cid, title=title, score=score) for cid, title, score in found]

    @app.post("/api/match", response_model=MatchesOut, tags=["matching"])
    def match_text(request: MatchIn) -> MatchesOut:
        filters = SearchQuery(keywords=tuple(request.keywords), countries=tuple(request.countries),
                              languages=tuple(request.languages), since=request.since, until=request.until)
        with service.using():
            matches = service.matcher().match(request.text, filters if filters != SearchQuery() else None,
                                              limit=request.limit, min_label=request.min_label)
        return MatchesOut(matches=[MatchOut(case_id=m.case_id, title=m.title, score=m.score,
                                            label=m.label,  # type: ignore[arg-type]
                                            evidence=[EvidenceOut(**dataclasses.asdict(e)) for e in m.evidence])
                                   for m in matches])

    @app.get("/api/stats", tags=["cases"])
    def stats() -> dict[str, Any]:
        with service.using() as db:
            numbers = db.stats()
        numbers.pop("path", None)  # where the file lives is the server's business
        return numbers

    return app


def _add_error_handlers(app: FastAPI) -> None:
    statuses: list[tuple[type[Exception], int, str]] = [
        (CaseNotFound, 404, "Case not found"),
        (QuerySyntaxError, 400, "Bad query"),
        (NothingToMatch, 422, "Nothing to match"),
        (InputTooLarge, 413, "Text too large"),
        (DisinfoError, 400, "Bad request"),
    ]
    for error_type, status, title in statuses:
        app.add_exception_handler(error_type, _handler(status, title))

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()]
        return problem(422, "Invalid request", "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)

    async def crashed(request: Request, error: Exception) -> JSONResponse:
        return problem(500, "Internal error", "the server failed to answer; the error was logged")

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, crashed)


def _handler(status: int, title: str) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, error: Exception) -> JSONResponse:
        return problem(status, title, str(error))

    return handle
