"""The JSON API (FastAPI): the library's search, cases, history, matching, writes,
imports and exports over HTTP; `create_app` also mounts the web pages.

Every endpoint has a pydantic model in and out, so /openapi.json is exact. Errors are
RFC 9457 problem details (`application/problem+json`) naming what was wrong; a stack
trace never reaches the client. Reads are public unless the instance is private; writes
need the bearer token of an editor or admin (see `disinfodb.auth`).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field

from disinfodb.accounts import Role
from disinfodb.auth import ApiAdmin, ApiEditor, ApiReader, ApiSearcher, ServiceDep, client_key, token_user
from disinfodb.cases import Case
from disinfodb.export import FILE_SUFFIXES, MEDIA_TYPES, export_chunks
from disinfodb.ingest import FORMATS, read_file
from disinfodb.ingest.pipeline import ImportReport, import_records
from disinfodb.match import InputTooLarge
from disinfodb.problems import ProblemOut, problems
from disinfodb.search import MAX_PER_PAGE, FacetValue, Hit, SearchQuery
from disinfodb.service import Service

log = logging.getLogger(__name__)
ImportFormat = Literal["listing", "jsonl", "json", "csv", "euvsdisinfo-2017", "euvsdisinfo-2021", "claimreview"]
assert get_args(ImportFormat) == FORMATS, "keep the import formats of the API and the readers in step"


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
    text: str = Field(description="The text to check, any language (at most 200,000 characters by default:"
                                  " longer is a 413)")
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


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    duplicates: list[ProblemOut]
    conflicts: list[ProblemOut]
    problems: list[ProblemOut]  # bad records skipped (with skip_invalid; else the import is a 422)
    dry_run: bool

    @classmethod
    def of(cls, report: ImportReport) -> ImportOut:
        return cls(created=report.created, updated=report.updated, unchanged=report.unchanged,
                   duplicates=[ProblemOut.of(p) for p in report.duplicates],
                   conflicts=[ProblemOut.of(p) for p in report.conflicts],
                   problems=[ProblemOut.of(p) for p in report.problems], dry_run=report.dry_run)


class UserOut(BaseModel):
    name: str
    role: Role
    has_password: bool


# A form's empty date field sends `since=`: that means "no bound", not a bad date.
OptionalDate = Annotated[date | None, BeforeValidator(lambda value: value or None)]


def filter_params(
    q: Annotated[str, Query(max_length=1000, description='Words, "phrases", prefix*, -excluded, OR')] = "",
    keyword: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI reads defaults, never mutates
    country: Annotated[list[str], Query()] = [],  # noqa: B006
    language: Annotated[list[str], Query()] = [],  # noqa: B006
    outlet: Annotated[list[str], Query()] = [],  # noqa: B006
    issue: Annotated[list[int], Query()] = [],  # noqa: B006
    since: OptionalDate = None,
    until: OptionalDate = None,
) -> SearchQuery:
    """Which cases: words and filters from the query string (searches, exports, trends)."""
    return SearchQuery(text=q, keywords=tuple(keyword), countries=tuple(country), languages=tuple(language),
                       outlets=tuple(outlet), issues=tuple(issue), since=since, until=until)


FilterParams = Annotated[SearchQuery, Depends(filter_params)]


def search_params(
    filters: FilterParams,
    sort: Literal["relevance", "date", "date_asc"] = "relevance",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20,
) -> SearchQuery:
    """The search state, from the query string (the web pages read the same parameters)."""
    return dataclasses.replace(filters, sort=sort, page=page, per_page=per_page)


SearchParams = Annotated[SearchQuery, Depends(search_params)]


router = APIRouter(prefix="/api", responses=problems(400, 401, 413, 422))


@router.get("/cases", response_model=SearchOut, tags=["cases"], responses=problems(429))
def search_cases(service: ServiceDep, query: SearchParams, searcher: ApiSearcher) -> SearchOut:
    """Cases matching words and filters, with facet counts. Anonymous clients share a
    budget of search time per address (429 with Retry-After once it is spent)."""
    with service.searching(searcher.budget_key) as store:
        results = store.search(query)
    return SearchOut(total=results.total, page=results.page, per_page=results.per_page,
                     results=results.hits, facets=results.facets)


@router.get("/cases/{case_id}", response_model=Case, tags=["cases"], responses=problems(404))
def get_case(service: ServiceDep, case_id: str, _: ApiReader) -> Case:
    return service.reader.get(case_id)


@router.get("/cases/{case_id}/history", response_model=list[HistoryEntryOut], tags=["cases"],
            responses=problems(404))
def case_history(service: ServiceDep, case_id: str, _: ApiReader) -> list[HistoryEntryOut]:
    entries = service.reader.history(case_id)
    if not entries:
        service.reader.get(case_id)  # raises CaseNotFound
    return [HistoryEntryOut(seq=e.seq, action=e.action, version=e.version,  # type: ignore[arg-type]
                            actor=e.actor, at=e.at, previous=e.previous) for e in entries]


@router.get("/cases/{case_id}/related", response_model=list[RelatedOut], tags=["cases"],
            responses=problems(404))
def related_cases(service: ServiceDep, case_id: str, _: ApiReader,
                  limit: Annotated[int, Query(ge=1, le=50)] = 10) -> list[RelatedOut]:
    found = service.matcher().related(case_id, limit)
    return [RelatedOut(case_id=cid, title=title, score=score) for cid, title, score in found]


@router.post("/match", response_model=MatchesOut, tags=["matching"], responses=problems(429))
def match_text(service: ServiceDep, body: MatchIn, request: Request, user: ApiReader) -> MatchesOut:
    service.match_limiter.check(client_key(user, request))
    if len(body.text) > service.settings.max_match_chars:
        raise InputTooLarge(f"the text has {len(body.text):,} characters;"
                            f" at most {service.settings.max_match_chars:,} are matched in one request")
    filters = SearchQuery(keywords=tuple(body.keywords), countries=tuple(body.countries),
                          languages=tuple(body.languages), since=body.since, until=body.until)
    matches = service.matcher().match(body.text, filters if filters != SearchQuery() else None,
                                      limit=body.limit, min_label=body.min_label)
    return MatchesOut(matches=[MatchOut(case_id=m.case_id, title=m.title, score=m.score,
                                        label=m.label,  # type: ignore[arg-type]
                                        evidence=[EvidenceOut(**dataclasses.asdict(e)) for e in m.evidence])
                               for m in matches])


@router.get("/stats", tags=["cases"])
def stats(service: ServiceDep, _: ApiReader) -> dict[str, Any]:
    numbers = service.reader.stats()
    numbers.pop("path", None)  # where the file lives is the server's business
    return numbers


@router.get("/export", tags=["cases"], response_class=StreamingResponse,
            responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}})
def export(service: ServiceDep, query: SearchParams, _: ApiReader,
           format: Literal["jsonl", "json", "csv", "claimreview"] = "jsonl",
           raw_csv: Annotated[bool, Query(description="CSV only: keep cells that start with = + - @ as they are"
                                                      " (by default they get a leading ' so that spreadsheets"
                                                      " show them as text and never run them as formulas)")] = False,
           ) -> StreamingResponse:
    """Every case the filters select (the full-text query is not applied), streamed."""
    cases = service.reader.iter_cases(query)
    first = next(cases, None)  # applies the filters now: a bad one is a problem (400), not a broken stream
    chunks = export_chunks(format, cases if first is None else itertools.chain([first], cases), raw_csv)
    filename = f"disinfodb-{date.today().isoformat()}{FILE_SUFFIXES[format]}"
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/cases", response_model=Case, status_code=201, tags=["writes"], responses=problems(403, 409))
def create_case(service: ServiceDep, case: Case, user: ApiEditor, response: Response) -> Case:
    stored = service.writer.create(case, actor=user.name)
    response.headers["Location"] = f"/api/cases/{stored.id}"
    return stored


@router.put("/cases/{case_id}", response_model=Case, tags=["writes"], responses=problems(403, 404, 409, 428))
def update_case(service: ServiceDep, case_id: str, case: Case, user: ApiEditor,
                force: Annotated[bool, Query(description="Admins only: overwrite without a version")] = False) -> Case:
    """Replace a case. Send the `version` you edited: if the case changed since, 409;
    without one, 428 (with the current version)."""
    return service.replace_case(case_id, case, user, case.version or None, force)


@router.delete("/cases/{case_id}", status_code=204, tags=["writes"], responses=problems(403, 404, 409, 428))
def delete_case(service: ServiceDep, case_id: str, user: ApiEditor,
                version: Annotated[int | None, Query(ge=1, description="The version you mean to delete")] = None,
                force: Annotated[bool, Query(description="Admins only: delete without a version")] = False,
                ) -> Response:
    """Delete a case (its history is kept). Without `version`, 428 (with the current version)."""
    service.delete_case(case_id, user, version, force)
    return Response(status_code=204)


@router.post("/import", response_model=ImportOut, tags=["writes"], responses=problems(403, 429))
def import_file(service: ServiceDep,
    request: Request, user: ApiEditor,
    file: Annotated[UploadFile, File(description="Listing text, JSONL, JSON, CSV or ClaimReview")],
    format: Annotated[ImportFormat | None, Form()] = None,
    dry_run: Annotated[bool, Form()] = False,
    skip_invalid: Annotated[bool, Form()] = False,
) -> ImportOut:
    """Import a file: all of it or nothing (422 naming each bad record's line and field)."""
    service.import_limiter.check(client_key(user, request))
    report = import_upload(service, file, format, user.name, dry_run=dry_run, skip_invalid=skip_invalid)
    return ImportOut.of(report)


@router.get("/me", response_model=UserOut | None, tags=["accounts"])
def me(service: ServiceDep, request: Request) -> UserOut | None:
    """The user of the request's token (null without one)."""
    user = token_user(service, request)
    return UserOut(name=user.name, role=user.role, has_password=user.has_password) if user else None


@router.get("/users", response_model=list[UserOut], tags=["accounts"], responses=problems(403))
def users(service: ServiceDep, _: ApiAdmin) -> list[UserOut]:
    return [UserOut(name=u.name, role=u.role, has_password=u.has_password) for u in service.accounts.users()]


def import_upload(service: Service, upload: UploadFile, fmt: str | None, actor: str, *,
                  dry_run: bool = False, skip_invalid: bool = False) -> ImportReport:
    """Import an uploaded file through the writer connection (the upload is spooled to a
    temporary file first, so readers can sniff its format and stream it)."""
    name = Path(upload.filename or "upload").name
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix) as spooled:
        shutil.copyfileobj(upload.file, spooled)
        spooled.flush()
        records = read_file(spooled.name, fmt, source=name)
        return import_records(service.writer, records, actor=actor, dry_run=dry_run, skip_invalid=skip_invalid)
