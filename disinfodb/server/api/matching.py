"""The matching API: `POST /api/match`, which debunked cases a text repeats."""

from __future__ import annotations

import dataclasses
from datetime import date

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from disinfodb.documents import Document
from disinfodb.matching import Label
from disinfodb.search import SearchQuery
from disinfodb.server.auth import ApiReader, ServiceDep, client_key
from disinfodb.server.matchers import MatchRequest
from disinfodb.server.problems import problems

router = APIRouter(prefix="/api", responses=problems(400, 401, 413, 422))


class MatchIn(BaseModel):
    text: str = Field(description="The text to check, any language (at most 200,000 characters by default:"
                                  " longer is a 413)")
    limit: int = Field(5, ge=1, le=50)
    min_label: Label = Label.NONE
    since: date | None = None
    until: date | None = None
    keywords: list[str] = []
    countries: list[str] = []
    languages: list[str] = []


class EvidenceOut(BaseModel):
    input_sentence: str
    case_sentence: str
    score: float
    at: str | None = Field(None, description="Where the input sentence is in its source (a subtitle cue's start"
                                             " time, a PDF page), for a text read from a file; null otherwise")


class MatchOut(BaseModel):
    case_id: str
    title: str
    score: float
    label: Label
    evidence: list[EvidenceOut]


class IndexOut(BaseModel):
    complete: bool = Field(description="false while the server is still embedding cases (or a write is not indexed"
                                       " yet): the matches then come from the cases indexed so far")
    cases: int = Field(description="Cases the answer was matched against")
    total: int = Field(description="Cases in the database")
    embedding: str | None = Field(description="What the background build is embedding now, if anything")


class MatchesOut(BaseModel):
    matches: list[MatchOut]
    index: IndexOut


@router.post("/match", response_model=MatchesOut, tags=["matching"], responses=problems(429))
def match_text(service: ServiceDep, body: MatchIn, request: Request, user: ApiReader) -> MatchesOut:
    """Which cases the text repeats, best first, with a calibrated score, a label and the
    sentence pair that matched. A 503 with Retry-After when every match worker is busy."""
    service.admit_text(body.text, client_key(user, request))
    filters = SearchQuery(keywords=tuple(body.keywords), countries=tuple(body.countries),
                          languages=tuple(body.languages), since=body.since, until=body.until)
    answer = service.match(MatchRequest(Document("text", body.text), filters if filters != SearchQuery() else None,
                                        body.limit, body.min_label))
    return MatchesOut.model_validate({"matches": [m.as_json() for m in answer.matches],
                                      "index": dataclasses.asdict(answer.index)})
