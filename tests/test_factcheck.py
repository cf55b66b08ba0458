"""The Fact Check Tools-compatible API, through Google's own client.

google-api-python-client builds the client from the discovery document it ships (static
discovery: offline), its `api_endpoint` pointed at a real server (uvicorn on loopback,
the web tests' SQLite file: the seed cases and 300 rows of the 2015-2017 scrape, their
vectors cached, so `query` runs the default `auto` search), and searches, pages and
filters with it as a newsroom tool would.
"""

from __future__ import annotations

import base64
import json
import logging
import logging.config
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn.config
from conftest import CSV_2017, require
from googleapiclient.discovery import Resource, build
from googleapiclient.errors import HttpError
from web_support import KAZAKH_COUP, READER, VINNITSA, build_web_db, served

from disinfodb.accounts import Accounts
from disinfodb.cases import Case, Outlet
from disinfodb.cli.serve import _log_config
from disinfodb.export import DEFAULT_PUBLISHER
from disinfodb.server.api import factcheck
from disinfodb.server.service import Settings
from disinfodb.store import open_store

PUBLIC_URL = "https://desk.example"
SETTINGS = Settings(public_url=PUBLIC_URL, publisher_name="Example Desk", rating_label="False",
                    search_seconds_per_minute=0)
QUERY = "Ukraine"


@dataclass(frozen=True)
class Site:
    url: str
    path: Path


@pytest.fixture(scope="module")
def site(seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("factcheck") / "cases.sqlite"
    build_web_db(path, seed_path, require(CSV_2017))
    store = open_store(str(path))
    with served(store, SETTINGS) as url:
        yield Site(url, path)
    store.close()


def google_client(url: str, key: str = "any-key") -> Resource:
    return build("factchecktools", "v1alpha1", developerKey=key, client_options={"api_endpoint": url},
                 static_discovery=True, cache_discovery=False)


def review_url(site: Site, case_id: str) -> str:
    case = httpx.get(f"{site.url}/api/cases/{case_id}").json()
    return case["url"] or f"{PUBLIC_URL}/cases/{case_id}"


def problem_of(error: HttpError) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.content)
    return body


def test_a_search_answers_as_googles_api(site: Site) -> None:
    claims = google_client(site.url).claims()
    query = "Explosions in Vinnitsa"
    total = httpx.get(f"{site.url}/api/cases", params={"q": query}).json()["total"]
    answer = claims.search(query=query, pageSize=1).execute()
    assert total > 1 and set(answer) == {"claims", "nextPageToken"} and len(answer["claims"]) == 1
    answer = claims.search(query=query, pageSize=total).execute()
    assert set(answer) == {"claims"} and len(answer["claims"]) == total
    claim = {claim["claimReview"][0]["title"]: claim for claim in answer["claims"]}[VINNITSA]
    case_id = httpx.get(f"{site.url}/api/cases", params={"q": VINNITSA, "per_page": 1}).json()["results"][0]["id"]
    case = httpx.get(f"{site.url}/api/cases/{case_id}").json()
    assert claim["text"] == case["summary"]  # the claim
    assert claim["claimant"] == ", ".join(outlet["name"] for outlet in case["outlets"]) == "TV Zvezda"
    assert claim["claimDate"] == f"{case['published']}T00:00:00Z"
    (review,) = claim["claimReview"]
    assert review == {"publisher": {"name": "Example Desk", "site": "desk.example"},
                      "url": f"{PUBLIC_URL}/cases/{case_id}",  # the scrape has no case URL: its page here
                      "title": VINNITSA, "reviewDate": review["reviewDate"], "textualRating": "False",
                      "languageCode": "en"}
    assert datetime.fromisoformat(review["reviewDate"]) == datetime.fromisoformat(case["updated_at"])

    undated = {c["claimReview"][0]["title"]: c for c in claims.search(query=KAZAKH_COUP).execute()["claims"]}
    assert set(undated[KAZAKH_COUP]) == {"text", "claimReview"}  # no outlets, no date: nothing made up


def test_google_client_pages_through_100_results_without_a_duplicate_or_a_gap(site: Site) -> None:
    searched = httpx.get(f"{site.url}/api/cases", params={"q": QUERY, "mode": "auto", "per_page": 200}).json()
    assert searched["mode"] == "auto" and searched["total"] == 100  # the ranked set of `auto` is cut at 100
    expected_ids = [hit["id"] for hit in searched["results"]]
    claims = google_client(site.url).claims()
    seen: list[str] = []
    request, pages = claims.search(query=QUERY, pageSize=10), 0
    while request is not None and len(seen) < 100:
        answer = request.execute()
        seen += [claim["claimReview"][0]["url"] for claim in answer["claims"]]
        pages += 1
        request = claims.search_next(request, answer)
    assert pages == 10 and request is None  # the 100, and no token after the last page
    assert seen == [review_url(site, case_id) for case_id in expected_ids]

    # an offset inside a page, and a page size that does not divide it, see the same list
    shifted = claims.search(query=QUERY, pageSize=7, offset=13).execute()
    assert [claim["claimReview"][0]["url"] for claim in shifted["claims"]] == seen[13:20]


def test_filters_language_and_age(site: Site) -> None:
    claims = google_client(site.url).claims()
    russian = claims.search(query=QUERY, languageCode="ru-RU", pageSize=50).execute()["claims"]
    api = httpx.get(f"{site.url}/api/cases", params={"q": QUERY, "mode": "auto", "language": "ru",
                                                      "per_page": 50}).json()["results"]
    assert russian and len(russian) == len(api)
    assert all("ru" in hit["languages"] for hit in api)
    assert [c["claimReview"][0]["url"] for c in russian] == [review_url(site, hit["id"]) for hit in api]

    max_age = (date.today() - date(2021, 1, 1)).days
    recent = claims.search(query="Kazakhstan", maxAgeDays=max_age).execute()["claims"]
    assert recent and all(datetime.fromisoformat(c["claimDate"]) >= datetime(2021, 1, 1, tzinfo=UTC) for c in recent)
    everything = claims.search(query="Kazakhstan", pageSize=50).execute()["claims"]
    assert len(everything) > len(recent)

    assert claims.search(query=QUERY, reviewPublisherSiteFilter="other.example").execute() == {"claims": []}
    ours = claims.search(query=QUERY, reviewPublisherSiteFilter="desk.example", pageSize=5).execute()
    assert len(ours["claims"]) == 5


def test_bad_arguments_are_problems_naming_the_rule(site: Site) -> None:
    claims = google_client(site.url).claims()
    answer = claims.search(query=QUERY, pageSize=5).execute()
    token = answer["nextPageToken"]
    for tampered, rule in ((token[:-3] + "xyz", "not one this server gave"), ("%%%", "not one this server gave"),
                           ("e30", "not one this server gave")):
        with pytest.raises(HttpError) as refused:
            claims.search(query=QUERY, pageToken=tampered).execute()
        assert refused.value.resp.status == 400 and rule in problem_of(refused.value)["detail"]
    with pytest.raises(HttpError) as other_query:
        claims.search(query="Kazakhstan", pageToken=token).execute()
    assert other_query.value.resp.status == 400 and "another query" in problem_of(other_query.value)["detail"]
    with pytest.raises(HttpError) as other_age:  # maxAgeDays is part of the query a token pages through
        claims.search(query=QUERY, maxAgeDays=30, pageToken=token).execute()
    assert other_age.value.resp.status == 400 and "another query" in problem_of(other_age.value)["detail"]
    state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for offset in (True, 10**9, -5, "5"):  # re-encoded by hand: still an offset the endpoint accepts, or a 400
        forged = base64.urlsafe_b64encode(json.dumps({**state, "o": offset}).encode()).decode().rstrip("=")
        with pytest.raises(HttpError) as refused:
            claims.search(query=QUERY, pageToken=forged).execute()
        assert refused.value.resp.status == 400 and "not one this server gave" in problem_of(refused.value)["detail"]

    for arguments, field in (({"pageSize": 0}, "query.pageSize"), ({"pageSize": 10_000}, "query.pageSize"),
                             ({"maxAgeDays": 10**6}, "query.maxAgeDays"), ({"offset": -1}, "query.offset")):
        with pytest.raises(HttpError) as invalid:
            claims.search(query=QUERY, **arguments).execute()
        assert invalid.value.resp.status == 422
        assert [e["field"] for e in problem_of(invalid.value)["errors"]] == [field]
    with pytest.raises(HttpError) as no_query:
        claims.search(languageCode="en").execute()
    assert no_query.value.resp.status == 400 and "query or reviewPublisherSiteFilter" in problem_of(
        no_query.value)["detail"]
    with pytest.raises(HttpError) as unknown_language:
        claims.search(query=QUERY, languageCode="xx").execute()
    assert unknown_language.value.resp.status == 400

    with pytest.raises(HttpError) as image:
        claims.imageSearch(imageUri="https://img.example/a.png").execute()
    assert image.value.resp.status == 501 and "claims:search" in problem_of(image.value)["detail"]


def test_the_key_is_checked_on_a_private_instance(site: Site) -> None:
    store = open_store(str(site.path))
    token = Accounts(store).create_token(READER)
    private = Settings(public_url=PUBLIC_URL, private=True)
    with served(store, private) as url:
        for key, status in (("not-a-token", 401), (token, 200)):
            try:
                answer = google_client(url, key).claims().search(query=QUERY, pageSize=2).execute()
            except HttpError as refused:
                assert refused.resp.status == status == 401
                assert "API key" in problem_of(refused)["detail"]
            else:
                assert status == 200 and len(answer["claims"]) == 2
        assert httpx.get(f"{url}/v1alpha1/claims:search", params={"query": QUERY}).status_code == 401
    store.close()
    # a public instance ignores the key, whatever it is
    assert google_client(site.url, "not-a-token").claims().search(query=QUERY, pageSize=1).execute()["claims"]


def test_a_page_token_keeps_the_day_max_age_counted_from(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paging on past midnight: the next pages are still the list the first page began."""
    claims = google_client(site.url).claims()
    dates = sorted(c["claimDate"][:10] for c in claims.search(query=QUERY, pageSize=200).execute()["claims"]
                   if "claimDate" in c)
    oldest_kept = date.fromisoformat(dates[len(dates) // 2])  # a day later its cases are too old
    max_age = (date.today() - oldest_kept).days
    whole = claims.search(query=QUERY, maxAgeDays=max_age, pageSize=200).execute()["claims"]
    request = claims.search(query=QUERY, maxAgeDays=max_age, pageSize=4)
    answer = request.execute()
    paged = answer["claims"]

    class Tomorrow(date):
        @classmethod
        def today(cls) -> Tomorrow:
            later = date.fromordinal(date.today().toordinal() + 1)
            return cls(later.year, later.month, later.day)

    monkeypatch.setattr(factcheck, "date", Tomorrow)  # the server runs in this process, in a thread
    assert len(claims.search(query=QUERY, maxAgeDays=max_age, pageSize=200).execute()["claims"]) < len(whole)
    while (request := claims.search_next(request, answer)) is not None:
        answer = request.execute()
        paged += answer["claims"]
    assert paged == whole


def test_the_access_log_never_holds_a_key() -> None:
    """`serve` logs requests through uvicorn's access log with server.auth.RedactedKeys: a
    private instance's `?key=` is an API token."""
    config = _log_config(uvicorn.config.LOGGING_CONFIG)
    logging.config.dictConfig(config)
    handler = next(h for h in logging.getLogger("uvicorn.access").handlers)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/v1alpha1/claims:search?key=tok-123&query=x", "1.1", 200),
                               None)
    assert handler.filter(record) and "tok-123" not in record.getMessage()
    assert "/v1alpha1/claims:search?key=REDACTED&query=x" in record.getMessage()


def test_a_claimant_names_each_outlet_once() -> None:
    """The two scrapes list one site once per article it ran: the claimant is the sites."""
    case = Case(title="A claim", outlets=[Outlet(name="news.example", url="https://news.example/1"),
                                          Outlet(name="news.example", url="https://news.example/2"),
                                          Outlet(name="", url="https://other.example/a")])
    assert factcheck.claim_of(case, DEFAULT_PUBLISHER).claimant == "news.example, https://other.example/a"
