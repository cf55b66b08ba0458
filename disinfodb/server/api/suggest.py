"""The suggestion API: `POST /api/suggest-metadata`, keywords, countries and article languages
for a new claim (see `disinfodb.suggest`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from disinfodb.server.auth import ApiReader, ServiceDep, client_key
from disinfodb.server.problems import problems
from disinfodb.suggest import MAX_TEXT_CHARS, Suggestions, suggest_metadata

router = APIRouter(prefix="/api")


class SuggestMetadataIn(BaseModel):
    model_config = ConfigDict(strict=True)  # a number is not a text, nor a text a number

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS,
                      description=f"The claim (title and summary, or a document's claim sentences), any language;"
                                  f" at most {MAX_TEXT_CHARS:,} characters")
    limit: int = Field(5, ge=1, le=50, description="Values per facet")


@router.post("/suggest-metadata", response_model=Suggestions, tags=["matching"],
             responses=problems(400, 401, 413, 422, 429), name="suggest_metadata")
def suggest_metadata_of(service: ServiceDep, body: SuggestMetadataIn, request: Request,
                        user: ApiReader) -> Suggestions:
    """Keywords, countries and article languages for a claim, best first, from models trained on
    the archive's cases (the claims closest to it, and what their values say of its words)."""
    service.admit_text(body.text, client_key(user, request))
    return suggest_metadata(service.matcher(), body.text, body.limit)
