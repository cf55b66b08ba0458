"""How library errors look over HTTP: a status, and an RFC 9457 problem document that
names the field or line at fault. The API sends the document; the web pages show it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from disinfodb.errors import (
    BodyTooLarge,
    CaseConflict,
    CaseExists,
    CaseNotFound,
    DatabaseUnavailable,
    DisinfoError,
    ImportRejected,
    InputTooLarge,
    MatchingUnavailable,
    NarrativeNotFound,
    NotAllowed,
    NothingToMatch,
    NotSignedIn,
    QuerySyntaxError,
    RateLimited,
    SearchTooSlow,
    ThemeNotFound,
    TriageDecided,
    TriageNotFound,
    UnknownFormat,
    VersionConflict,
    VersionRequired,
)
from disinfodb.errors import Problem as LocatedProblem

DATABASE_RETRY_AFTER_S = 2  # a restarting PostgreSQL server is usually back within seconds
# With a realm: httplib2 (under Google's API clients) fails on a bare `Bearer` challenge
# (MalformedHeader) where it should read a 401.
BEARER_CHALLENGE = 'Bearer realm="disinfodb"'


class ProblemError(BaseModel):
    """One thing at fault: the field (or line) and what is wrong with it. The one shape of
    every problem's `errors`, a request's validation errors included; some problems add
    what a client needs to recover (an import's `source` and `line`, a conflict's
    `current_version`), hence the extra keys allowed."""

    model_config = ConfigDict(extra="allow")

    field: str | None = None
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document: every error answer of the API, one schema component."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemError] = []


class ProblemOut(BaseModel):
    source: str
    line: int | None
    field: str | None
    message: str

    @classmethod
    def of(cls, problem: LocatedProblem) -> ProblemOut:
        where = problem.location
        return cls(source=where.source, line=where.line, field=where.field, message=problem.message)


ERROR_STATUSES: list[tuple[type[Exception], int, str]] = [
    (CaseNotFound, 404, "Case not found"),
    (ThemeNotFound, 404, "Theme not found"),
    (NarrativeNotFound, 404, "Narrative not found"),
    (TriageNotFound, 404, "Triage item not found"),
    (TriageDecided, 409, "Already decided"),
    (QuerySyntaxError, 400, "Bad query"),
    (NothingToMatch, 422, "Nothing to match"),
    (InputTooLarge, 413, "Text too large"),
    (BodyTooLarge, 413, "Request too large"),
    (NotSignedIn, 401, "Not signed in"),
    (NotAllowed, 403, "Not allowed"),
    (RateLimited, 429, "Too many requests"),
    (CaseExists, 409, "Case exists"),
    (VersionConflict, 409, "Edit conflict"),
    (VersionRequired, 428, "Version required"),
    (SearchTooSlow, 400, "Search too costly"),
    (CaseConflict, 409, "Conflicting case"),
    (UnknownFormat, 422, "Unknown format"),
    (ImportRejected, 422, "Import rejected"),
    (DatabaseUnavailable, 503, "Database unavailable"),
    (MatchingUnavailable, 503, "Matching busy"),
    (DisinfoError, 400, "Bad request"),
]


def error_response(error: Exception) -> JSONResponse:
    """The problem document (and status) for a library error."""
    status, title = status_of(error)
    errors: list[dict[str, Any]] = []
    if isinstance(error, ImportRejected):
        errors = [ProblemOut.of(p).model_dump() for p in error.problems]
    elif isinstance(error, VersionConflict | VersionRequired):
        errors = [{"field": "version", "message": str(error), "current_version": error.current_version}]
    elif isinstance(error, TriageDecided):
        errors = [{"field": "status", "message": str(error), "status": error.status}]
    elif isinstance(error, CaseExists):
        errors = [{"field": "id", "message": str(error), "existing_id": error.case_id}]
    return problem(status, title, str(error), errors, error_headers(error))


def error_headers(error: Exception) -> dict[str, str]:
    """The headers an error's answer carries (API and pages alike): when to retry, how to sign in."""
    if isinstance(error, RateLimited | MatchingUnavailable):
        return {"Retry-After": str(error.retry_after)}
    if isinstance(error, DatabaseUnavailable):
        return {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
    if isinstance(error, NotSignedIn):
        return {"WWW-Authenticate": BEARER_CHALLENGE}
    return {}


def status_of(error: Exception) -> tuple[int, str]:
    """The HTTP status and title for an error (500 for anything unexpected)."""
    return next(((s, t) for kind, s, t in ERROR_STATUSES if isinstance(error, kind)), (500, "Internal error"))


def problem(status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None,
            headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = Problem.model_validate({"title": title, "status": status, "detail": detail, "errors": errors or []})
    return JSONResponse(body.model_dump(), status_code=status, media_type="application/problem+json",
                        headers=headers)


_PROBLEMS = {
    400: "Bad request: a body that cannot be read, or a bad query (e.g. an unknown language)",
    401: "No API token where one is needed, or an unknown one",
    403: "The token's user may not do this",
    404: "No such case (or narrative, review issue, triage item)",
    409: "The case exists already, or changed since the version sent; or the triage item was decided already",
    413: "The body or the text is too large",
    422: "Invalid request: the problem names each field (or line) at fault",
    428: "The edit did not say which version it was based on: the problem gives the current one",
    429: "Too many requests",
    503: "The database server cannot be reached for now (e.g. PostgreSQL restarting), or (matching) every"
         " match worker is busy: retry after Retry-After seconds",
}


PROBLEM_REF = "#/components/schemas/{model}"


def problem_schemas() -> dict[str, dict[str, Any]]:
    """The schema components of the problem documents, for /openapi.json (see `problems`)."""
    schema = Problem.model_json_schema(ref_template=PROBLEM_REF)
    return {**schema.pop("$defs"), "Problem": schema}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """What /openapi.json says of the problem documents an endpoint may answer with
    (any endpoint may answer 503 while a database server is away). Each refers to the one
    `Problem` component (`problem_schemas`): a schema inlined per operation made client
    generators define a model per operation, all of one name."""
    documented: dict[int | str, dict[str, Any]] = {}
    reference = {"$ref": PROBLEM_REF.format(model="Problem")}
    for status in (*statuses, 503):
        documented[status] = {"description": _PROBLEMS[status],
                              "content": {"application/problem+json": {"schema": reference}}}
        if status in (429, 503):
            documented[status]["headers"] = {"Retry-After": {"description": "Seconds to wait",
                                                             "schema": {"type": "integer"}}}
    return documented
