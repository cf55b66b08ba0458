"""The suggestion API: `POST /api/suggest-metadata`, keywords, countries and article languages
for a new claim (see `disinfodb.suggest`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from disinfodb.server.auth import ApiReader, ServiceDep, client_key
from disinfodb.server.problems import problems
from disinfodb.suggest import MAX_TEXT_CHARS, suggest_metadata

router = APIRouter(prefix="/api")


class SuggestMetadataIn(BaseModel):
    model_config = ConfigDict(strict=True)  # a number is not a text, nor a text a number

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS,
                      description=f"The claim (title and summary, or a document's claim sentences), any language;"
                                  f" at most {MAX_TEXT_CHARS:,} characters")
    limit: int = Field(5, ge=1, le=50, description="Values per facet")


class SuggestedValue(BaseModel):
    value: str = Field(description="As the cases spell it (languages: ISO 639 codes)")
    score: float = Field(description="The probability that a case with this claim carries the value")
    likely: bool = Field(description="The score reaches the facet's threshold (fitted for the best micro-F1 on"
                                     " the newest cases, held out)")


class SuggestedMetadata(BaseModel):
    keywords: list[SuggestedValue]
    countries: list[SuggestedValue]
    languages: list[SuggestedValue] = Field(description="Article languages")


@router.post("/suggest-metadata", response_model=SuggestedMetadata, tags=["matching"],
             responses=problems(400, 401, 413, 422, 429), name="suggest_metadata")
def suggest_metadata_of(service: ServiceDep, body: SuggestMetadataIn, request: Request,
                        user: ApiReader) -> SuggestedMetadata:
    """Keywords, countries and article languages for a claim, best first, from models trained on
    the archive's cases (the claims closest to it, and what their values say of its words)."""
    service.admit_text(body.text, client_key(user, request))
    found = suggest_metadata(service.matcher(), body.text, body.limit)
    return SuggestedMetadata.model_validate(found.as_json())
