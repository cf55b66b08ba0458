"""A read API compatible with Google's Fact Check Tools API (`GET /v1alpha1/claims:search`),
so the newsroom and research tools written for Google's, Google's own client included,
search this database as they are: the same parameters, the same JSON.

Mapped from the cases, and no more than they say: `text` is the claim (the summary, else
the title), `claimant` the outlets that carried it (each name once), `claimDate` its publication date; each
case is one `claimReview` by the instance's publisher (`Settings.publisher`: its name, its
site, its textual rating, the language of its debunks), whose `url` is the case's own
address (else its page here), `title` the case's title and `reviewDate` its last update.

`query` runs the default search mode (`auto`: words and meaning fused), `languageCode`
filters by the language of the articles, `maxAgeDays` by publication date. A `pageToken`
holds the offset of the next page and what the query resolved to (the day `maxAgeDays`
counts from), so paging is stable across a day's end; a token of another query (or
another maxAgeDays), or one that does not decode to an offset and a day, is a 400 problem
document. Tokens are opaque, not signed: one made by hand can ask for nothing the
parameters cannot (an offset up to MAX_OFFSET, a day to count from).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from disinfodb.cases import Case, web_url
from disinfodb.errors import CaseNotFound, QuerySyntaxError
from disinfodb.export import Publisher
from disinfodb.search import MAX_MEANING_CHARS, MAX_PER_PAGE, SearchMode, SearchQuery
from disinfodb.server.auth import KeySearcher, ServiceDep
from disinfodb.server.problems import problem, problems
from disinfodb.server.service import Service

PREFIX = "/v1alpha1"
DEFAULT_PAGE_SIZE = 10  # Google's
MAX_OFFSET = 100_000
MAX_AGE_DAYS = 100 * 366  # further back than any case may be dated (1900: DISINFODB_EARLIEST_DATE)

router = APIRouter(prefix=PREFIX, tags=["fact check tools"], responses=problems(400, 401, 422))


class _GoogleModel(BaseModel):
    """Field names as Google's JSON spells them (camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PublisherOut(_GoogleModel):
    name: str
    site: str = Field(description="The publisher's host name")


class ClaimReviewOut(_GoogleModel):
    publisher: PublisherOut
    url: str = Field(description="The case's address (its original debunk), else its page on this site")
    title: str
    review_date: datetime | None = Field(None, description="When the case was last updated")
    textual_rating: str
    language_code: str = Field(description="The language the review (the debunk) is written in")


class ClaimOut(_GoogleModel):
    text: str = Field(description="The claim: the case's summary, else its title")
    claimant: str | None = Field(None, description="The outlets that carried the claim")
    claim_date: datetime | None = Field(None, description="When the claim was published")
    claim_review: list[ClaimReviewOut]


class ClaimSearchOut(_GoogleModel):
    claims: list[ClaimOut] = []
    next_page_token: str | None = Field(None, description="Pass as pageToken for the next page; absent on the last")


@router.get("/claims:search", response_model=ClaimSearchOut, response_model_exclude_none=True,
            responses=problems(429))
def search_claims(
    service: ServiceDep, searcher: KeySearcher,
    query: Annotated[str, Query(max_length=MAX_MEANING_CHARS, description="What the claims say, any language")] = "",
    language_code: Annotated[str | None, Query(alias="languageCode", max_length=35, description=(
        "The language of the articles (BCP-47, e.g. `en-US`: its language is what counts)"))] = None,
    max_age_days: Annotated[int | None, Query(alias="maxAgeDays", ge=1, le=MAX_AGE_DAYS, description=(
        "Only claims published within this many days"))] = None,
    review_publisher_site_filter: Annotated[str | None, Query(alias="reviewPublisherSiteFilter", max_length=253,
                                                              description="Only reviews by this site")] = None,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PER_PAGE)] = DEFAULT_PAGE_SIZE,
    page_token: Annotated[str | None, Query(alias="pageToken", max_length=500)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Where to start (without a pageToken)")] = 0,
) -> ClaimSearchOut:
    """Fact-checked claims matching a query, as Google's Fact Check Tools API answers:
    every case is a claim reviewed by this instance's publisher."""
    if not query and not review_publisher_site_filter:
        raise QuerySyntaxError("query or reviewPublisherSiteFilter is required (as in Google's API)")
    publisher = service.settings.publisher
    since = date.today() - timedelta(days=max_age_days) if max_age_days else None
    language = language_code.split("-")[0] if language_code else None
    identity = _identity(query, language, review_publisher_site_filter, max_age_days)
    if page_token:
        offset, since = _read_token(page_token, identity)
    if review_publisher_site_filter and review_publisher_site_filter.lower() != publisher.site.lower():
        return ClaimSearchOut(claims=[], next_page_token=None)  # every review here is this publisher's
    wanted = SearchQuery(text=query, languages=(language,) if language else (), since=since, mode=SearchMode.AUTO)
    cases, total = _window(service, wanted, offset, page_size, searcher.budget_key)
    end = offset + page_size
    more = end < total and end <= MAX_OFFSET  # a next page this endpoint can be asked for
    return ClaimSearchOut(claims=[claim_of(case, publisher) for case in cases],
                          next_page_token=_token(end, since, identity) if more else None)


@router.get("/claims:imageSearch", include_in_schema=False)
def search_claims_by_image(request: Request) -> JSONResponse:
    """Not an operation of this server (its cases have no images to match): a clear answer
    for Google's clients that try it, not a 404 that reads as a wrong address."""
    return problem(501, "Not implemented", "claims:imageSearch is not offered by disinfodb: its cases have no"
                   " images to match; use claims:search")


def claim_of(case: Case, publisher: Publisher) -> ClaimOut:
    """A case as the Fact Check Tools API's claim: one review, by this instance's publisher."""
    outlets = list(dict.fromkeys(o.name or (web_url(o.url) or "") for o in case.outlets))  # a site named once
    review = ClaimReviewOut(
        publisher=PublisherOut(name=publisher.name, site=publisher.site),
        url=web_url(case.url) or f"{publisher.url or ''}/cases/{quote(case.id)}", title=case.title,
        review_date=case.updated_at.astimezone(UTC) if case.updated_at else None,
        textual_rating=publisher.rating, language_code=publisher.language)
    return ClaimOut(text=case.summary or case.title, claimant=", ".join(o for o in outlets if o) or None,
                    claim_date=datetime.combine(case.published, time(), UTC) if case.published else None,
                    claim_review=[review])


def _window(service: Service, wanted: SearchQuery, offset: int, size: int,
            budget_key: str | None) -> tuple[list[Case], int]:
    """The cases from `offset` on (at most `size`), and how many the search found: the
    search's pages of `size` that hold them (two where `offset` falls inside a page)."""
    first = offset // size + 1
    results = service.search(_page(wanted, first, size), budget_key)
    hits = results.hits[offset % size:]
    if offset % size and len(results.hits) == size:
        hits += service.search(_page(wanted, first + 1, size), budget_key).hits[:offset % size]
    cases = []
    for hit in hits:
        try:
            cases.append(service.reader.get(hit.id))
        except CaseNotFound:  # deleted since the search: the page is one shorter
            continue
    return cases, results.total


def _page(wanted: SearchQuery, page: int, size: int) -> SearchQuery:
    return dataclasses.replace(wanted, page=page, per_page=size)


def _identity(query: str, language: str | None, site: str | None, max_age_days: int | None) -> str:
    """What a token is bound to: the query it pages through (the page size may change)."""
    return hashlib.sha256(json.dumps([query, language, site, max_age_days]).encode()).hexdigest()[:16]


def _token(offset: int, since: date | None, identity: str) -> str:
    state = {"o": offset, "s": since.isoformat() if since else None, "q": identity}
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _read_token(token: str, identity: str) -> tuple[int, date | None]:
    """The offset and the `since` of a token this endpoint gave for the same query; a
    token it did not give (or for another query) is a QuerySyntaxError (400)."""
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, since, bound_to = state["o"], state["s"], state["q"]
        if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:  # not a bool either
            raise ValueError(offset)
        since_date = date.fromisoformat(since) if since is not None else None
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise QuerySyntaxError("pageToken is not one this server gave: pass nextPageToken as it came") from error
    if bound_to != identity:
        raise QuerySyntaxError("pageToken belongs to another query: page with the query it came with")
    return offset, since_date
