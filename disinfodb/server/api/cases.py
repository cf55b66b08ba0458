"""The JSON API (FastAPI): the library's search, cases, history, matching, writes,
imports and exports over HTTP; `create_app` also mounts the web pages.

Every endpoint has a pydantic model in and out, so /openapi.json is exact. Errors are
RFC 9457 problem details (`application/problem+json`) naming what was wrong; a stack
trace never reaches the client. Reads are public unless the instance is private; writes
need the bearer token of an editor or admin (see `disinfodb.server.auth`).
"""

from __future__ import annotations

import itertools
import logging
from datetime import date, datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from disinfodb import related
from disinfodb.cases import Case
from disinfodb.export import FILE_SUFFIXES, MEDIA_TYPES, export_chunks
from disinfodb.ingest import FORMATS
from disinfodb.ingest.pipeline import ImportReport
from disinfodb.related import Reason
from disinfodb.search import FacetValue, Hit, SearchMode
from disinfodb.server.auth import ApiEditor, ApiReader, ApiSearcher, ServiceDep, client_key
from disinfodb.server.params import SearchParams
from disinfodb.server.problems import ProblemOut, problems

log = logging.getLogger(__name__)
ImportFormat = Literal["listing", "jsonl", "json", "csv", "euvsdisinfo-2017", "euvsdisinfo-2021", "claimreview"]
assert get_args(ImportFormat) == FORMATS, "keep the import formats of the API and the readers in step"


class SearchOut(BaseModel):
    total: int
    page: int
    per_page: int
    mode: SearchMode
    results: list[Hit]
    facets: dict[str, list[FacetValue]]


class HistoryEntryOut(BaseModel):
    seq: int
    action: Literal["create", "update", "delete"]
    version: int
    actor: str
    at: datetime
    previous: Case | None


class StatsOut(BaseModel):
    cases: int
    first_published: date | None
    last_published: date | None
    distinct: dict[str, int] = Field(description="Distinct values of each facet (keyword, country, ...)")
    audit_entries: int
    schema_version: int
    backend: str = Field(description="sqlite or postgresql")


class CaseNameOut(BaseModel):
    case_id: str
    title: str


class RelatedOut(BaseModel):
    """A related case (disinfodb.related): why it is listed, and its near copies."""

    case_id: str
    title: str
    score: float = Field(description="what the list is ordered by: the claims' similarity plus what the"
                                     " cases share (keywords, narrative, rebuttal)")
    similarity: float = Field(description="cosine of the two claims")
    reasons: list[Reason] = Field(description="why it is listed: the same narrative, shared keywords, a"
                                              " shared rebuttal paragraph, a similar claim")
    keywords: list[str] = Field(description="the keywords both cases carry, rarest first")
    narrative: str | None = Field(description="the id of the narrative both cases are in")
    also: list[CaseNameOut] = Field(description="near copies of this case (the same claim recorded again),"
                                                " collapsed into this entry")


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








router = APIRouter(prefix="/api", responses=problems(400, 401, 413, 422))


@router.get("/cases", response_model=SearchOut, tags=["cases"], responses=problems(429))
def search_cases(service: ServiceDep, query: SearchParams, searcher: ApiSearcher) -> SearchOut:
    """Cases matching words or meaning and filters, with facet counts. `mode`: `words` (the
    query syntax), `meaning` (any language: the 100 closest cases), `auto` (both fused; plain
    words for a query that uses the syntax); `mode` in the answer says which answered.
    Anonymous clients share a budget of search time per address (429 with Retry-After once
    it is spent)."""
    results = service.search(query, searcher.budget_key)
    return SearchOut(total=results.total, page=results.page, per_page=results.per_page, mode=results.mode,
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
    """The cases most related to this one, one entry per claim, each with its reasons."""
    return [RelatedOut.model_validate(found.as_json())
            for found in related.related_cases(service.matcher(), service.reader, case_id, limit)]


@router.get("/stats", response_model=StatsOut, tags=["cases"])
def stats(service: ServiceDep, _: ApiReader) -> StatsOut:
    numbers = service.reader.stats()
    numbers.pop("path", None)  # where the file lives is the server's business
    return StatsOut.model_validate(numbers)


@router.get("/export", tags=["cases"], response_class=StreamingResponse,
            responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}})
def export_cases(service: ServiceDep, query: SearchParams, _: ApiReader,
           format: Literal["jsonl", "json", "csv", "claimreview"] = "jsonl",
           raw_csv: Annotated[bool, Query(description="CSV only: keep cells that start with = + - @ as they are"
                                                      " (by default they get a leading ' so that spreadsheets"
                                                      " show them as text and never run them as formulas)")] = False,
           ) -> StreamingResponse:
    """Every case the filters select (the full-text query is not applied), streamed."""
    cases = service.reader.iter_cases(query)
    first = next(cases, None)  # applies the filters now: a bad one is a problem (400), not a broken stream
    chunks = export_chunks(format, cases if first is None else itertools.chain([first], cases), raw_csv,
                           service.settings.publisher)
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
    report = service.import_upload(file.file, file.filename, format, user.name, dry_run=dry_run,
                                   skip_invalid=skip_invalid)
    return ImportOut.of(report)
