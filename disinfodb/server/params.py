"""Query-string parameters the API and the pages share: which cases (words and filters),
and a search's state (sort, page). Both read the same names, so a page's URL and an API
call say the same thing."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, Path, Query
from pydantic import BeforeValidator

from disinfodb.search import MAX_MEANING_CHARS, MAX_PER_PAGE, SearchMode, SearchQuery, Sort
from disinfodb.store.triage import Status, TriageFilter

# A triage item's id in a path: bounded to an SQL integer, so a larger one is a 422, not a
# driver's overflow (the API and the pages alike).
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A triage item's id")]
# A form's empty date field sends `since=`: that means "no bound", not a bad date.
OptionalDate = Annotated[date | None, BeforeValidator(lambda value: value or None)]


def filter_params(
    q: Annotated[str, Query(max_length=MAX_MEANING_CHARS, description='Words, "phrases", prefix*, -excluded, OR;'
                            ' or any text in any language (mode=meaning or auto)')] = "",
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
    sort: Sort = Sort.RELEVANCE,
    mode: SearchMode = SearchMode.AUTO,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 20,
) -> SearchQuery:
    """The search state, from the query string (the web pages read the same parameters)."""
    return dataclasses.replace(filters, sort=sort, mode=mode, page=page, per_page=per_page)


SearchParams = Annotated[SearchQuery, Depends(search_params)]


def triage_params(
    source: Annotated[list[str], Query(description="Where the documents came from, as `watch` was given it")] = [],  # noqa: B006
    label: Annotated[list[Literal["related", "match"]], Query()] = [],  # noqa: B006
    narrative: Annotated[str, Query(description="The matched case's narrative")] = "",
    since: OptionalDate = None,
    until: OptionalDate = None,
    status: Annotated[Literal["open", "confirmed", "dismissed", "all"], Query()] = "open",
) -> TriageFilter:
    """Which triage items: the API's listing and the triage page read the same names."""
    return TriageFilter(status=None if status == "all" else Status(status), sources=tuple(s for s in source if s),
                        labels=tuple(label), narrative=narrative or None, since=since, until=until)


TriageParams = Annotated[TriageFilter, Depends(triage_params)]
