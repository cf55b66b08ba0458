"""The shared-rebuttal API: disproof paragraphs that several cases use, and suggestions of
disproof paragraphs for a draft case (see `disinfodb.rebuttals`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from disinfodb.matching import Label
from disinfodb.rebuttals import RebuttalGroup, rebuttal_groups_of, shared_rebuttals, suggest_disproofs
from disinfodb.server.auth import ApiReader, ServiceDep, client_key
from disinfodb.server.problems import problems

router = APIRouter(prefix="/api")

MAX_PER_PAGE = 100


class CaseRefOut(BaseModel):
    id: str
    title: str
    published: date | None


class RebuttalGroupOut(BaseModel):
    key: str = Field(description="A stable id of the paragraph (a hash of its normalised text)")
    text: str = Field(description="The paragraph as the earliest case using it wrote it")
    count: int = Field(description="How many cases use it")
    case_ids: list[str] = Field(description="The cases using it, oldest first (undated last)")
    cases: list[CaseRefOut]

    @classmethod
    def of(cls, group: RebuttalGroup) -> RebuttalGroupOut:
        return cls(key=group.key, text=group.text, count=group.count, case_ids=group.case_ids,
                   cases=[CaseRefOut(id=c.id, title=c.title, published=c.published) for c in group.cases])


class RebuttalGroupsOut(BaseModel):
    total: int
    page: int
    per_page: int
    groups: list[RebuttalGroupOut]


class SuggestIn(BaseModel):
    text: str = Field(description="The draft's claim (title and summary), any language (at most 200,000"
                                  " characters by default: longer is a 413)")
    limit: int = Field(5, ge=1, le=50)
    exclude: list[str] = Field([], max_length=100, description="Case ids not to draw from (the case being edited)")


class SuggestionSourceOut(BaseModel):
    case_id: str
    title: str
    score: float
    label: Label


class SuggestionOut(BaseModel):
    key: str
    text: str
    score: float = Field(description="1 - prod(1 - match score) over the matched cases that use the paragraph")
    case_ids: list[str] = Field(description="The matched cases whose disproof has it, best match first")
    sources: list[SuggestionSourceOut]
    used_by: int = Field(description="How many cases in the database use it")


class SuggestionsOut(BaseModel):
    suggestions: list[SuggestionOut]


@router.get("/rebuttals", response_model=RebuttalGroupsOut, tags=["rebuttals"], responses=problems(400, 401, 422))
def rebuttal_groups(service: ServiceDep, _: ApiReader,
                    min_cases: Annotated[int, Query(ge=2, le=100_000, description="Cases per group, at least")] = 2,
                    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
                    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20) -> RebuttalGroupsOut:
    """Disproof paragraphs used by several cases, largest group first."""
    groups = shared_rebuttals(service.reader, min_cases)
    start = (page - 1) * per_page
    return RebuttalGroupsOut(total=len(groups), page=page, per_page=per_page,
                             groups=[RebuttalGroupOut.of(g) for g in groups[start:start + per_page]])


@router.get("/cases/{case_id}/rebuttals", response_model=list[RebuttalGroupOut], tags=["rebuttals"],
            responses=problems(400, 401, 404, 422))
def case_rebuttals(service: ServiceDep, case_id: str, _: ApiReader) -> list[RebuttalGroupOut]:
    """The shared-rebuttal groups of this case's disproof paragraphs, in the disproof's order."""
    return [RebuttalGroupOut.of(g) for g in rebuttal_groups_of(service.reader, case_id)]


@router.post("/suggest-disproof", response_model=SuggestionsOut, tags=["rebuttals"],
             responses=problems(400, 401, 413, 422, 429))
def suggest_disproof(service: ServiceDep, body: SuggestIn, request: Request, user: ApiReader) -> SuggestionsOut:
    """Disproof paragraphs for a draft claim, from the disproofs of the cases it matches best."""
    service.admit_text(body.text, client_key(user, request))
    found = suggest_disproofs(service.matcher(), service.reader, body.text, body.limit, exclude=body.exclude)
    return SuggestionsOut(suggestions=[
        SuggestionOut(key=s.key, text=s.text, score=s.score, case_ids=s.case_ids, used_by=s.used_by,
                      sources=[SuggestionSourceOut(case_id=c.case_id, title=c.title, score=c.score,
                                                   label=c.label)
                               for c in s.sources])
        for s in found])
