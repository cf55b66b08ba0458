"""The web pages through Starlette's TestClient, over a real SQLite database: the seed
cases, the first 300 rows of the 2015-2017 scrape, an editor and a reader."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CSV_2017, require
from fastapi.testclient import TestClient
from test_documents import COLLECTED, pdf_bytes
from web_support import (
    COUP_EN,
    EDITOR,
    EDITOR_PASSWORD,
    KAZAKH_COUP,
    KAZAKH_EEU,
    MODEL,
    READER,
    READER_PASSWORD,
    VINNITSA,
    Element,
    build_web_db,
    copy_db,
    parse,
)

from disinfodb.cases import Case
from disinfodb.ingest.claimreview import build_claimreview_record
from disinfodb.matching import load_calibration
from disinfodb.server.app import create_app
from disinfodb.server.service import Service, Settings
from disinfodb.store import SQLStore

CSRF = "disinfodb_csrf"
SESSION = "disinfodb_session"
PER_PAGE = 20
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@dataclass(frozen=True)
class WebDb:
    path: Path
    count: int


@pytest.fixture(scope="module")
def web_db(seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> WebDb:
    path = tmp_path_factory.mktemp("web") / "web.sqlite"
    return WebDb(path, build_web_db(path, seed_path, require(CSV_2017)))


@dataclass
class Site:
    """A running app over a private copy of the database, and a connection to check it."""

    client: TestClient
    store: SQLStore
    count: int  # cases when the test starts

    def case_id(self, title: str) -> str:
        found = [case.id for case in self.store.iter_cases() if case.title == title]
        assert len(found) == 1, title
        return found[0]


SiteFactory = Callable[..., Site]


@pytest.fixture
def make_site(web_db: WebDb, tmp_path: Path) -> Iterator[SiteFactory]:
    opened: list[tuple[TestClient, Service, SQLStore]] = []

    def make(settings: Settings | None = None) -> Site:
        store = copy_db(web_db.path, tmp_path / f"site{len(opened)}.sqlite")
        app = create_app(store, MODEL, settings)
        service: Service = app.state.service
        service.matcher()  # vectors are cached in the file: milliseconds; pages show similar cases at once
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        client.__enter__()
        opened.append((client, service, store))
        return Site(client, store, web_db.count)

    yield make
    for client, service, store in opened:
        client.__exit__(None, None, None)
        service.close()
        store.close()


@pytest.fixture
def site(make_site: SiteFactory) -> Site:
    return make_site()


# -- helpers --------------------------------------------------------------------------------


def page(response: httpx.Response, status: int = 200) -> Element:
    """The <main> of an HTML page, after checking its status and that it is a page."""
    assert response.status_code == status, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text
    return parse(response.text).find("main")


def csrf(client: TestClient) -> str:
    """The CSRF token, after a first page view set its cookie."""
    if CSRF not in client.cookies:
        page(client.get("/check"))
    return str(client.cookies[CSRF])


def sign_in(client: TestClient, name: str = EDITOR, password: str = EDITOR_PASSWORD, next_url: str = "/"
            ) -> httpx.Response:
    response: httpx.Response = client.post("/login", data={"name": name, "password": password,
                                                           "csrf": csrf(client), "next": next_url})
    assert response.status_code == 303, response.text[:2000]
    return response


def total(main: Element) -> int:
    return int(main.find("p", "total").find("strong").text.replace(",", ""))


def hit_titles(main: Element) -> list[str]:
    return [h.find("a").text.removeprefix("Disinfo: ") for h in main.find_all("li", "hit")]


def facet_links(main: Element, heading: str) -> list[tuple[str, int, Element]]:
    """(label, count, link) of each value of the facet with this heading."""
    section = next(s for s in main.find_all("section", "facet") if s.find("h2").text == heading)
    return [(a.find("span", "facet-label").text, int(a.find("span", "count").text.replace(",", "")), a)
            for a in section.find_all("a")]


def chips(main: Element) -> dict[str, str]:
    """Chip text (e.g. 'keyword NATO ×') -> its URL."""
    return {a.text: a.get("href") for a in main.find_all("a", "chip")}


def form_data(main: Element, action: str) -> dict[str, str]:
    """The fields of the form posting to `action`, as the page filled them in."""
    form = main.find("form", action=action)
    data = {e.get("name"): e.get("value") for e in form.find_all("input") if e.get("name")}
    data.update({e.get("name"): "".join(c for c in e.children if isinstance(c, str)).removeprefix("\n")
                 for e in form.find_all("textarea")})
    return data


# -- search ---------------------------------------------------------------------------------


def test_search_page_lists_hits_and_facet_counts(site: Site) -> None:
    main = page(site.client.get("/"))
    assert total(main) == site.count
    assert len(main.find_all("li", "hit")) == PER_PAGE
    headings = [s.find("h2").text for s in main.find_all("section", "facet")]
    assert headings[:2] == ["Keywords", "Countries and regions"] and "Years" in headings
    for label, count, _ in facet_links(main, "Countries and regions"):  # counts are the real ones
        assert count == sum(1 for case in site.store.iter_cases() if label in case.countries), label
    counts = [count for _, count, _ in facet_links(main, "Keywords")]
    assert counts == sorted(counts, reverse=True) and counts[0] > 10

    found = page(site.client.get("/", params={"q": "colour revolution"}))
    assert 1 <= total(found) < site.count and KAZAKH_COUP in hit_titles(found)
    assert "for “colour revolution”" in found.find("p", "total").text
    assert any(mark.text.lower().startswith(("colour", "revolution")) for mark in found.find_all("mark"))
    empty = page(site.client.get("/", params={"q": "zzyzzyva", "mode": "words"})).find("div", "empty")
    assert empty.text.startswith("No case")


def test_facet_links_filter_and_chips_remove_filters(site: Site) -> None:
    client = site.client
    label, count, link = facet_links(page(client.get("/")), "Keywords")[0]
    assert count < site.count and link.get("href") == "/?" + str(httpx.QueryParams({"keyword": label}))

    filtered = page(client.get(link.get("href")))
    assert total(filtered) == count
    assert chips(filtered) == {f"keyword {label} ×": "/"}
    on = [a for _, _, a in facet_links(filtered, "Keywords") if a.has_class("on")]
    assert len(on) == 1 and on[0].get("aria-pressed") == "true" and on[0].get("href") == "/"  # toggles off
    assert all(label in case.keywords for case in site.store.iter_cases()
               if case.title in hit_titles(filtered))

    country, in_both, country_link = facet_links(filtered, "Countries and regions")[0]
    both = page(client.get(country_link.get("href")))
    assert total(both) == in_both <= count
    assert set(chips(both)) == {f"keyword {label} ×", f"country {country} ×"}
    only_country = chips(both)[f"keyword {label} ×"]
    assert only_country == "/?" + str(httpx.QueryParams({"country": country}))
    assert total(page(client.get(only_country))) == sum(1 for c in site.store.iter_cases() if country in c.countries)
    assert total(page(client.get(both.find("a", "chip-clear").get("href")))) == site.count


def test_year_facet_date_range_and_sort(site: Site) -> None:
    client = site.client
    cases_2017 = [c for c in site.store.iter_cases() if c.published and c.published.year == 2017]
    _, count, link = next(f for f in facet_links(page(client.get("/")), "Years") if f[0] == "2017")
    assert count == len(cases_2017) and link.get("href") == "/?since=2017-01-01&until=2017-12-31"
    year = page(client.get(link.get("href")))
    assert total(year) == count
    assert set(chips(year)) == {"since 2017-01-01 ×", "until 2017-12-31 ×"}

    newest = page(client.get("/", params={"since": "2017-01-01", "until": "2017-12-31", "sort": "date"}))
    dates = [t.get("datetime") for t in newest.find_all("time")]
    assert dates == sorted(dates, reverse=True)
    assert dates[0] == max(c.published for c in cases_2017 if c.published).isoformat()
    assert newest.find("option", value="date").get("selected") == ""  # the form shows the state it came from
    assert newest.find("input", name="since").get("value") == "2017-01-01"


def test_pagination_links(site: Site) -> None:
    client = site.client
    pages = -(-site.count // PER_PAGE)
    first = page(client.get("/"))
    assert f"page 1 of {pages}" in first.find("p", "total").text
    pager = first.find("nav", "pager").links()
    assert pager["Next →"] == "/?page=2" and "← Previous" not in pager and pager["4"] == "/?page=4"

    second = page(client.get(pager["Next →"]))
    assert second.find("ol", "hits").get("start") == str(PER_PAGE + 1)
    assert not set(hit_titles(first)) & set(hit_titles(second))
    assert second.find("nav", "pager").links()["← Previous"] == "/"
    assert second.find("nav", "pager").find("span", **{"aria-current": "page"}).text == "2"

    last = page(client.get("/", params={"page": pages}))
    assert len(hit_titles(last)) == site.count - PER_PAGE * (pages - 1)
    assert "Next →" not in last.find("nav", "pager").links()

    words = page(client.get("/", params={"q": "Ukraine", "country": "Russia"}))  # filters survive paging
    assert total(words) > PER_PAGE
    assert words.find("nav", "pager").links()["Next →"] == "/?q=Ukraine&country=Russia&page=2"
    broad = page(client.get("/", params={"q": "Ukraine"}))
    assert total(broad) > PER_PAGE and broad.find("nav", "pager").links()["Next →"] == "/?q=Ukraine&page=2"
    facet_href = facet_links(page(client.get("/", params={"q": "Ukraine", "page": 2})), "Keywords")[0][2].get("href")
    assert "page=" not in facet_href  # a new filter starts again at page 1


def test_the_search_form_submits_a_search_that_works(site: Site) -> None:
    """What a browser sends when someone types words and presses Enter: every field of the
    form, the empty date fields of the closed "Dates and order" panel included."""
    main = page(site.client.get("/", params={"keyword": "NATO"}))
    form = main.find("form", "searchbar")
    fields = [(e.get("name"), e.get("value")) for e in form.find_all("input") if e.get("name")]
    select = form.find("select", name="sort")
    fields.append(("sort", next(o.get("value") for o in select.find_all("option") if "selected" in o.attrs)))
    sent = [(name, "Ukraine" if name == "q" else value) for name, value in fields]
    assert ("since", "") in sent and ("keyword", "NATO") in sent  # the filter travels as a hidden field
    response = site.client.get("/", params=sent)
    assert response.status_code == 200, (f"the search form's own submission {sent} gave {response.status_code}: "
                                         f"{parse(response.text).find('main').text[:300]}")
    found = page(response)
    assert 1 <= total(found) < site.count and set(chips(found)) == {"keyword NATO ×"}


@pytest.mark.parametrize(("params", "status", "words"), [
    ({"page": "0"}, 422, "page"),
    ({"per_page": "100000"}, 422, "per_page"),
    ({"since": "2020-13-01"}, 422, "since"),
    ({"sort": "sideways"}, 422, "sort"),
    ({"issue": "eighty"}, 422, "issue"),
    ({"q": 'foo "bar'}, 400, "unclosed quote"),
    ({"language": "Klingonese"}, 400, "Klingonese"),
])
def test_bad_search_params_give_a_friendly_error_page(site: Site, params: dict[str, str], status: int,
                                                      words: str) -> None:
    response = site.client.get("/", params=params)
    main = page(response, status)
    assert not response.text.lstrip().startswith("{")
    assert words in main.find("p", "error").text
    if status == 400:  # a query the parser refuses: the search page again, query kept to fix it
        assert 'id="q"' in response.text and "0</strong> cases" in response.text
        return
    assert main.links()["Back to the search"] == "/"
    title = main.find("h1").text
    assert title and title != "Internal error", f"a {status} for bad input is titled {title!r}"


def test_unknown_case_and_page_are_404_pages(site: Site) -> None:
    main = page(site.client.get("/cases/no-such-case"), 404)
    assert main.find("h1").text == "Not found" and "no-such-case" in main.find("p", "error").text
    assert page(site.client.get("/no/such/page"), 404).find("h1").text == "Not found"


# -- case page ------------------------------------------------------------------------------


def test_case_page_shows_the_case_with_links_and_history(site: Site) -> None:
    client = site.client
    case = site.store.get(site.case_id(KAZAKH_EEU))
    main = page(client.get(f"/cases/{case.id}"))
    assert main.find("h1").text == f"Disinfo: {KAZAKH_EEU}"
    sections = {s.find("h2").text: s.text for s in main.find("div", "case-body").find_all("section")}
    assert sections["Summary"].startswith("Summary The destabilisation of Kazakhstan from abroad")
    assert "Collective Security Treaty Organisation" in sections["Disproof"]

    meta = main.find("aside", "case-meta")
    links = meta.links()
    assert links["Issue 270"] == "/?issue=270"
    assert links["Spanish"] == "/?language=es"
    assert links["Kazakhstan"] == "/?country=Kazakhstan"
    assert [a.text for a in meta.find_all("a", "tag")] == case.keywords
    assert links["Colour revolutions"] == "/?keyword=Colour+revolutions"
    assert meta.find("time").get("datetime") == "2022-01-08"
    for href in (links["Issue 270"], links["Colour revolutions"]):  # each is a search that finds the case
        search = page(client.get(href))
        assert KAZAKH_EEU in hit_titles(search) and len(chips(search)) == 1

    history = main.find("section", "history")
    assert [li.find("strong").text for li in history.find_all("li")] == ["create"]
    assert "version 1 by import" in history.find("li").text
    related = [li.find("a") for li in main.find("section", "related").find_all("li")]
    assert related and all(a.get("href").startswith("/cases/") for a in related)
    assert case.id not in {a.get("href").rsplit("/", 1)[1] for a in related}

    csv_case = page(client.get(f"/cases/{site.case_id(VINNITSA)}"))
    assert csv_case.find("aside", "case-meta").links()["Issue 82"] == "/?issue=82"
    assert "TV Zvezda is a regular mouthpiece" in csv_case.find("section", "disproof").text


def test_markup_in_a_case_is_escaped_everywhere(site: Site) -> None:
    stored = site.store.create(Case(title=f"Evil {XSS} plan", summary=f"The plan {XSS} was real.",
                                    disproof=f"No {XSS} evidence.", keywords=[XSS, "Zebra"], countries=["Ukraine"]))
    sign_in(site.client)
    responses = {
        "case": site.client.get(f"/cases/{stored.id}"),
        "search": site.client.get("/", params={"q": "plan real"}),
        "facet": site.client.get("/", params={"keyword": "Zebra"}),
        "edit": site.client.get(f"/cases/{stored.id}/edit"),
    }
    for name, response in responses.items():
        assert response.status_code == 200, name
        assert XSS not in response.text, f"{name} page has the raw <script>"
        assert XSS_ESCAPED in response.text, f"{name} page lost the text instead of escaping it"
    assert parse(responses["case"].text).find("h1").text == f"Disinfo: Evil {XSS} plan"
    assert parse(responses["search"].text).find("title").text == "plan real · disinfodb"


# -- CSRF, sign-in, roles -------------------------------------------------------------------


def test_csrf_token_is_required_on_every_form(site: Site) -> None:
    client = site.client
    sign_in(client)
    case_id = site.case_id(VINNITSA)
    posts: list[tuple[str, dict[str, str]]] = [
        ("/cases/new", {"title": "A claim that must not be saved"}),
        (f"/cases/{case_id}/edit", {"title": "A changed title", "version": "1"}),
        (f"/cases/{case_id}/delete", {"version": "1"}),
        ("/check", {"text": COUP_EN}),
        ("/logout", {}),
    ]
    for token in (None, "wrong-token"):
        for url, data in posts:
            sent = data if token is None else {**data, "csrf": token}
            main = page(client.post(url, data=sent), 403)
            assert "expired or came from another site" in main.find("p", "error").text, url
    response = client.post("/import", data={"csrf": "wrong"}, files={"file": ("x.jsonl", b'{"title": "X"}\n')})
    page(response, 403)
    assert site.store.count() == site.count and site.store.get(case_id).title == VINNITSA
    assert site.store.get(case_id).version == 1
    assert page(client.get("/cases/new")).find("h1").text == "New case"  # still signed in: logout was refused

    anonymous = TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)
    token = csrf(anonymous)
    anonymous.cookies.delete(CSRF)  # the token of the form, without its cookie
    page(anonymous.post("/login", data={"name": EDITOR, "password": EDITOR_PASSWORD, "csrf": token}), 403)
    assert SESSION not in anonymous.cookies


def test_csrf_cookie_is_strict_and_http_only(site: Site) -> None:
    cookie = site.client.get("/").headers["set-cookie"]
    assert cookie.startswith(f"{CSRF}=") and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    token = str(site.client.cookies[CSRF])
    again = site.client.get("/check")
    assert "set-cookie" not in again.headers  # one token per browser, kept
    assert parse(again.text).find("input", name="csrf").get("value") == token


def test_sign_in(site: Site) -> None:
    client = site.client
    token = csrf(client)
    wrong = client.post("/login", data={"name": EDITOR, "password": "not-the-password", "csrf": token})
    main = page(wrong, 401)
    assert main.find("p", "error").text == "Unknown user name or wrong password."
    assert main.find("input", name="name").get("value") == EDITOR and SESSION not in client.cookies
    page(client.post("/login", data={"name": "nobody", "password": "whatever1", "csrf": token}), 401)

    right = sign_in(client, next_url="/import")
    assert right.headers["location"] == "/import"
    cookie = right.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION}=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    account = parse(client.get("/").text).find("div", "account")
    assert account.find("span", "who").text == f"{EDITOR} editor" and account.find("button").text == "Sign out"

    elsewhere = client.post("/login", data={"name": EDITOR, "password": EDITOR_PASSWORD, "csrf": token,
                                            "next": "//evil.example/phish"})
    assert elsewhere.headers["location"] == "/"  # never an open redirect


@pytest.mark.parametrize("url", ["/cases/new", "/import", "/cases/{id}/edit"])
def test_editor_pages_send_anonymous_visitors_to_sign_in(site: Site, url: str) -> None:
    path = url.format(id=site.case_id(VINNITSA))
    response = site.client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + path
    login = page(site.client.get(response.headers["location"]))
    assert login.find("input", name="next").get("value") == path


def test_anonymous_delete_is_refused(site: Site) -> None:
    case_id = site.case_id(VINNITSA)
    response = site.client.post(f"/cases/{case_id}/delete", data={"csrf": csrf(site.client), "version": "1"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert site.store.get(case_id).version == 1


def test_a_reader_cannot_edit(site: Site) -> None:
    client = site.client
    sign_in(client, READER, READER_PASSWORD)
    case_id = site.case_id(VINNITSA)
    for url in ("/cases/new", "/import", f"/cases/{case_id}/edit"):
        main = page(client.get(url), 403)
        assert "role reader" in main.find("p", "error").text
    page(client.post("/cases/new", data={"title": "Reader's claim", "csrf": csrf(client)}), 403)
    page(client.post(f"/cases/{case_id}/delete", data={"version": "1", "csrf": csrf(client)}), 403)
    assert site.store.count() == site.count
    nav = parse(client.get("/").text).find("nav")
    assert "New case" not in nav.links() and "Import" not in nav.links()


# -- editing --------------------------------------------------------------------------------


def test_create_a_case_with_the_form(site: Site) -> None:
    client = site.client
    sign_in(client)
    assert "New case" in parse(client.get("/").text).find("nav").links()
    blank = form_data(page(client.get("/cases/new")), "/cases/new")
    assert blank["csrf"] == csrf(client) and "version" not in blank
    response = client.post("/cases/new", data={
        **blank, "title": "Disinfo: NATO is preparing a coup in Atlantis",
        "summary": "NATO plans to topple the government of Atlantis.\nIt says so itself.",
        "disproof": "There is no such plan.", "published": "2023-03-04", "issue": "271",
        "languages": "English, German", "countries": "Ukraine", "keywords": "Coup, NATO",
        "outlets": "Example Daily | https://daily.example/a1", "links": "https://proof.example/1"})
    assert response.status_code == 303
    case_id = "nato-is-preparing-a-coup-in-atlantis"
    assert response.headers["location"] == f"/cases/{case_id}?saved=1"

    main = page(client.get(response.headers["location"]))
    assert main.find("p", "notice").text == "Saved. This is version 1."
    assert main.find("h1").text == "Disinfo: NATO is preparing a coup in Atlantis"
    assert [p.text for p in main.find("div", "case-body").find("section").find_all("p")] == [
        "NATO plans to topple the government of Atlantis.", "It says so itself."]
    assert main.find("aside", "case-meta").links()["Issue 271"] == "/?issue=271"
    assert "version 1 by ed" in main.find("section", "history").text
    stored = site.store.get(case_id)
    assert (stored.languages, stored.keywords, stored.outlets[0].name) == (["en", "de"], ["Coup", "NATO"],
                                                                            "Example Daily")
    assert site.store.count() == site.count + 1
    assert "NATO is preparing a coup in Atlantis" in hit_titles(page(client.get("/", params={"q": "Atlantis"})))


def test_an_invalid_form_keeps_what_was_typed(site: Site) -> None:
    client = site.client
    sign_in(client)
    typed = {"title": "  ", "issue": "abc", "summary": "A summary <b>with markup</b>", "keywords": "Coup, NATO",
             "published": "2023-02-30", "csrf": csrf(client)}
    main = page(client.post("/cases/new", data=typed), 422)
    assert main.find("p", "error").text.startswith("Please correct the 3 fields")
    errors = {div.find("input").get("name") if div.find_all("input") else div.find("textarea").get("name"):
              div.find("p", "field-error").text for div in main.find_all("div", "has-error")}
    assert set(errors) == {"title", "issue", "published"}
    assert errors["title"] == "a case needs a title" and "integer" in errors["issue"]
    form = form_data(main, "/cases/new")
    assert (form["issue"], form["summary"], form["keywords"], form["published"]) == (
        "abc", "A summary <b>with markup</b>", "Coup, NATO", "2023-02-30")
    assert main.find("input", name="issue").get("aria-invalid") == "true"
    assert site.store.count() == site.count


def test_the_language_hint_examples_are_accepted(site: Site) -> None:
    """The form's hint offers "Russian, English, de": each of them must be understood."""
    client = site.client
    sign_in(client)
    hint = page(client.get("/cases/new")).find("p", id="h-languages").text
    example = hint.split(": ", 1)[1].rstrip(".")
    assert example == "Russian, English, de"
    response = client.post("/cases/new", data={"title": "A claim in three languages", "languages": example,
                                               "csrf": csrf(client)})
    if response.status_code == 422:
        error = parse(response.text).find("p", id="h-languages").text
        pytest.fail(f"the hint's own example {example!r} is refused: {error}")
    assert response.status_code == 303
    assert site.store.get("a-claim-in-three-languages").languages == ["ru", "en", "de"]


def test_edit_then_a_stale_edit_is_refused(site: Site) -> None:
    client = site.client
    sign_in(client)
    case_id = site.case_id(VINNITSA)
    before = site.store.get(case_id)
    form = form_data(page(client.get(f"/cases/{case_id}/edit")), f"/cases/{case_id}/edit")
    assert (form["title"], form["version"], form["issue"]) == (VINNITSA, "1", "82")
    assert form["outlets"].startswith("TV Zvezda | https://tvzvezda.ru/")

    saved = client.post(f"/cases/{case_id}/edit", data={**form, "title": "Explosions in Vinnitsa were staged"})
    assert saved.status_code == 303 and saved.headers["location"] == f"/cases/{case_id}?saved=1"
    main = page(client.get(saved.headers["location"]))
    assert main.find("p", "notice").text == "Saved. This is version 2."
    assert [li.find("strong").text for li in main.find("section", "history").find_all("li")] == ["update", "create"]
    stored = site.store.get(case_id)
    assert (stored.title, stored.version) == ("Explosions in Vinnitsa were staged", 2)
    assert stored.content() == {**before.content(), "title": stored.title}  # nothing else changed

    stale = client.post(f"/cases/{case_id}/edit", data={**form, "title": "A title from an old form"})
    main = page(stale, 409)
    assert main.find("h1").text == "Edit case" and "Someone else saved" in main.find("p", "error").text
    assert site.store.get(case_id).title == "Explosions in Vinnitsa were staged"
    assert site.store.get(case_id).version == 2 and len(site.store.history(case_id)) == 2


def test_a_stale_edit_keeps_what_was_typed(site: Site) -> None:
    """The editor promises "If someone saves first, you will be told and nothing is lost"."""
    client = site.client
    sign_in(client)
    case_id = site.case_id(VINNITSA)
    form = form_data(page(client.get(f"/cases/{case_id}/edit")), f"/cases/{case_id}/edit")
    assert "nothing is lost" in page(client.get(f"/cases/{case_id}/edit")).find("div", "form-actions").text
    assert client.post(f"/cases/{case_id}/edit", data={**form, "summary": "Someone else saved first."}
                       ).status_code == 303
    typed = "A long summary the editor spent ten minutes writing."
    stale = client.post(f"/cases/{case_id}/edit", data={**form, "summary": typed})
    page(stale, 409)
    assert typed in stale.text, "the 409 page drops the editor's unsaved text"


def test_delete_a_case(site: Site) -> None:
    client = site.client
    sign_in(client)
    case_id = site.case_id(VINNITSA)
    stale = client.post(f"/cases/{case_id}/delete", data={"csrf": csrf(client), "version": "7"})
    page(stale, 409)
    response = client.post(f"/cases/{case_id}/delete", data={"csrf": csrf(client), "version": "1"})
    assert response.status_code == 303 and response.headers["location"] == f"/?deleted={case_id}"
    assert page(client.get(response.headers["location"])).find("p", "notice").text == f"Case {case_id} was deleted."
    page(client.get(f"/cases/{case_id}"), 404)
    assert site.store.count() == site.count - 1
    assert [entry.action for entry in site.store.history(case_id)] == ["create", "delete"]


# -- import ---------------------------------------------------------------------------------

NEW_CASES: list[dict[str, object]] = [
    {"title": "Polish troops are already fighting in Donbas", "summary": "Polish soldiers fight in Donbas.",
     "published": "2023-05-01", "languages": ["Polish"], "keywords": ["Poland"]},
    {"title": "The Baltic states plan to close their Russian schools overnight",
     "summary": "All Russian schools in the Baltics will be closed tomorrow.", "published": "2023-05-02"},
]


def jsonl(records: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def test_import_page_reports_counts(site: Site) -> None:
    client = site.client
    sign_in(client)
    main = page(client.get("/import"))
    assert main.find("form", id="import-form").get("enctype") == "multipart/form-data"
    assert main.find("div", "progress").get("hidden") == ""  # shown by app.js while uploading

    def upload(content: bytes, name: str = "new.jsonl", **flags: str) -> httpx.Response:
        response: httpx.Response = client.post("/import", data={"csrf": csrf(client), **flags},
                                               files={"file": (name, content)})
        return response

    dry = page(upload(jsonl(NEW_CASES), dry_run="true"))
    assert "checked (dry run, nothing written)" in dry.find("section", "report").find("h2").text
    assert site.store.count() == site.count

    report = page(upload(jsonl(NEW_CASES))).find("section", "report")
    assert report.find("h2").text == "new.jsonl: imported"
    counts = [li.text for li in report.find("ul", "counts").find_all("li")]
    assert counts[:3] == ["2 created", "0 updated", "0 unchanged"]
    assert site.store.count() == site.count + 2
    again = page(upload(jsonl(NEW_CASES))).find("ul", "counts").find_all("li")
    assert [li.text for li in again][:3] == ["0 created", "0 updated", "2 unchanged"]
    assert "Polish troops are already fighting in Donbas" in hit_titles(page(client.get("/", params={"q": "Donbas"})))


def test_import_of_a_bad_file_names_lines_and_writes_nothing(site: Site) -> None:
    client = site.client
    sign_in(client)
    bad = jsonl([{"title": "A fine new case about Zanzibarland"}, {"summary": "no title here"}])
    bad += b"{not json\n" + jsonl([{"title": "Another case", "issue": "many"}])
    response = client.post("/import", data={"csrf": csrf(client)}, files={"file": ("bad.jsonl", bad)})
    main = page(response, 422)
    assert main.find("h2", "error-title").text == "bad.jsonl: nothing was imported"
    rows = [[td.text for td in tr.find_all("td")] for tr in main.find("table", "problems").find_all("tr")[1:]]
    assert [row[0] for row in rows] == ["2", "3", "4"]
    assert "title" in rows[0][1] + rows[0][2] and "JSON" in rows[1][2] and rows[2][1] == "issue"
    assert site.store.count() == site.count
    assert not page(client.get("/", params={"q": "Zanzibarland"})).find_all("li", "hit")

    unknown = client.post("/import", data={"csrf": csrf(client)}, files={"file": ("cases.bin", b"\x00\x01binary")})
    assert "cannot tell the format" in page(unknown, 422).find("p", "error").text
    assert site.store.count() == site.count


# -- check a text ---------------------------------------------------------------------------


def test_check_a_text(site: Site) -> None:
    client = site.client
    assert page(client.get("/check")).find("textarea", name="text").text == ""
    text = f"{COUP_EN} The weather in Almaty was cold that week."
    main = page(client.post("/check", data={"text": text, "csrf": csrf(client)}))
    best = main.find("ol", "matches").find("li")
    assert best.find("span", "badge").text == "Match"
    assert best.find("h3").text == KAZAKH_COUP
    assert best.find("h3").find("a").get("href") == f"/cases/{site.case_id(KAZAKH_COUP)}"
    pair = best.find("div", "evidence").find_all("mark")
    assert pair[0].text in COUP_EN and pair[1].text
    marked = main.find("div", "marked-text").find_all("mark")
    assert [m.text for m in marked] == [f"{COUP_EN}1"] and marked[0].get("class") == "match"
    assert main.find("h2").text == "1 debunked case found"
    thresholds = main.find("p", "thresholds").text
    shipped = load_calibration(MODEL)  # the page states the thresholds it labels with
    assert shipped is not None and f"Match from {shipped.match_at * 100:.0f}%" in thresholds
    assert f"Related from {shipped.related_at * 100:.0f}%" in thresholds
    titled = page(client.post("/check", data={"text": KAZAKH_COUP, "csrf": csrf(client)}))
    assert titled.find("ol", "matches").find("li").find("span", "badge").text == "Match"

    from_file = page(client.post("/check", data={"csrf": csrf(client)},
                                 files={"file": ("claim.txt", COUP_EN.encode())}))
    assert from_file.find("ol", "matches").find("li").find("h3").text == KAZAKH_COUP

    empty = page(client.post("/check", data={"text": "   ", "csrf": csrf(client)}), 422)
    assert empty.find("p", "error").text == "Paste a text or choose a file to check."


def test_an_upload_shows_where_each_sentence_is_and_what_was_skipped(site: Site) -> None:
    """The fixtures of test_documents: a cue's start and a PDF's page beside the matched
    sentence, an export's message by its id, and the reader's skips, located, in the page's
    language; a file with nothing readable says so and lists why."""
    client = site.client

    def upload(name: str, content: bytes, status: int = 200, lang: str = "en") -> Element:
        return page(client.post(f"/check?lang={lang}", data={"csrf": csrf(client)}, files={"file": (name, content)}),
                    status)

    def best_at(main: Element) -> list[str]:
        """Where the sentences that matched the coup case are (its card, found or not)."""
        [card] = [li for li in main.find_all("li", "match-card") if li.find("h3").text == KAZAKH_COUP]
        return [span.text for span in card.find_all("span", "ev-at")]

    def skipped_rows(main: Element) -> list[list[str]]:
        return [[cell.text for cell in row.find_all("td")]
                for row in main.find("section", "skipped").find("tbody").find_all("tr")]

    talk = upload("interview.srt", (COLLECTED / "interview.srt").read_bytes())
    assert best_at(talk) == ["00:01:02"]
    assert talk.find("section", "skipped").find("h2").text == "1 part of the file was skipped"
    [[where, why]] = skipped_rows(talk)
    assert where == "interview.srt, line 14" and why.startswith("broken cue timing")

    paper = upload("paper.pdf", pdf_bytes(["The weather in Almaty was cold that week.", COUP_EN]))
    assert best_at(paper) == ["page 2"] and not paper.find_all("section", "skipped")

    channel = upload("result.json", (COLLECTED / "channel" / "result.json").read_bytes())
    assert best_at(channel) == ["result.json#1361234567/102"]  # a part without segments: its id
    assert ["result.json, message 5 [text]", "the text must be a string or a list of strings and entities"
            " (message id 105)"] in skipped_rows(channel)

    photo = upload("photo.png", (COLLECTED / "photo.png").read_bytes(), 422)
    assert photo.find("p", "error").text == "Nothing in the file could be read: see below what was skipped."
    [[where, why]] = skipped_rows(photo)
    assert where == "photo.png" and why.startswith("not a format read here (.png)")

    german = upload("interview.srt", (COLLECTED / "interview.srt").read_bytes(), lang="de")
    assert german.find("section", "skipped").find("h2").text == "1 Teil der Datei wurde übersprungen"
    assert skipped_rows(german)[0][0] == "interview.srt, Zeile 14"
    assert german.find("span", "ev-at").get("title") == "Wo es in der Datei steht"


# -- private instances and signing out ------------------------------------------------------


def test_a_private_instance_sends_visitors_to_sign_in(make_site: SiteFactory) -> None:
    site = make_site(Settings(private=True))
    client = site.client
    case_id = site.case_id(VINNITSA)
    for path in ("/", "/check", f"/cases/{case_id}"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login?next=" + path
    assert client.get("/", params={"q": "Ukraine"}).headers["location"].startswith("/login?next=/")
    assert client.get("/static/app.css").status_code == 200  # the sign-in page needs its style
    assert page(client.get("/login", params={"next": f"/cases/{case_id}"})).find("h1").text == "Sign in"
    assert client.get("/api/cases").status_code == 401

    signed_in = sign_in(client, READER, READER_PASSWORD, next_url=f"/cases/{case_id}")
    assert signed_in.headers["location"] == f"/cases/{case_id}"
    assert page(client.get(f"/cases/{case_id}")).find("h1").text == f"Disinfo: {VINNITSA}"
    assert total(page(client.get("/"))) == site.count


def test_sign_out_ends_the_session(site: Site) -> None:
    client = site.client
    sign_in(client)
    session = str(client.cookies[SESSION])
    assert page(client.get("/cases/new")).find("h1").text == "New case"
    response = client.post("/logout", data={"csrf": csrf(client)})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert response.headers["set-cookie"].startswith(f'{SESSION}="";') or "Max-Age=0" in response.headers[
        "set-cookie"]
    assert SESSION not in client.cookies
    assert parse(client.get("/").text).find("div", "account").links() == {"Sign in": "/login?next=%2F"}

    client.cookies.set(SESSION, session)  # a copy of the old cookie no longer signs anyone in
    refused = client.get("/cases/new")
    assert refused.status_code == 303 and refused.headers["location"] == "/login?next=/cases/new"
    assert client.post("/cases/new", data={"title": "After sign-out", "csrf": csrf(client)}).status_code == 303
    assert site.store.count() == site.count


# -- ClaimReview JSON-LD ---------------------------------------------------------------------

PUBLISHED_BY = Settings(publisher_name="Example Desk", rating_label="False", public_url="https://desk.example")
CASE_FIELDS = set(Case.model_fields) - {"version", "created_at", "updated_at"}  # the store's own


def claimreview_of(html: str) -> dict[str, Any]:
    """The one ClaimReview JSON-LD block of a page, as its <script> element holds it."""
    blocks = [e for e in parse(html).find_all("script") if e.get("type") == "application/ld+json"]
    assert len(blocks) == 1
    review: dict[str, Any] = json.loads("".join(c for c in blocks[0].children if isinstance(c, str)))
    return review


def test_every_case_page_carries_its_claimreview(make_site: SiteFactory) -> None:
    """Valid ClaimReview JSON-LD on every case page, which our ClaimReview reader turns back
    into the same case."""
    site = make_site(PUBLISHED_BY)
    cases = list(site.store.iter_cases())
    assert len(cases) == site.count
    for case in cases:
        response = site.client.get(f"/cases/{case.id}")
        assert response.status_code == 200
        review = claimreview_of(response.text)
        assert review["@context"] == "https://schema.org" and review["@type"] == "ClaimReview"
        assert review["claimReviewed"] == case.summary and review["itemReviewed"]["@type"] == "Claim"
        assert len(review["itemReviewed"]["appearance"]) == len(case.outlets)
        assert review["author"] == {"@type": "Organization", "name": "Example Desk", "url": "https://desk.example"}
        assert review["reviewRating"]["alternateName"] == "False"
        assert case.updated_at and review["datePublished"] == case.updated_at.date().isoformat()
        assert review.get("url") == case.url
        record = build_claimreview_record("page", 1, review)
        assert record.problems == [] and record.case is not None
        assert record.case.model_dump(include=CASE_FIELDS) == case.model_dump(include=CASE_FIELDS), case.id


def test_claimreview_json_ld_cannot_end_its_script_element(site: Site) -> None:
    hostile = "Quoted: </script><script>alert(1)</script> <!-- and & <b>bold</b>"
    stored = site.store.create(Case(title=f"Hostile {hostile}", summary=hostile, disproof=hostile,
                                    keywords=["</SCRIPT >"]))
    html = site.client.get(f"/cases/{stored.id}").text
    head = html[:html.index("</head>")]
    assert "</script><script>" not in html and "<!--" not in head
    assert [e.get("src") for e in parse(html).find_all("script")] == ["/static/app.js", ""]
    review = claimreview_of(html)
    assert review["claimReviewed"] == review["reviewBody"] == hostile and review["keywords"] == ["</SCRIPT >"]
    assert build_claimreview_record("page", 1, review).case.title == f"Hostile {hostile}"  # type: ignore[union-attr]
