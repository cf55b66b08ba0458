"""End to end in a real headless Chromium, against the app served by uvicorn over HTTP.

The database is real: the seed cases and the first 300 rows of the 2015-2017 scrape.
Every page visited is saved as a full-page screenshot in artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import CSV_2017, REPO, require
from playwright.sync_api import Browser, BrowserContext, Dialog, FilePayload, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from test_triage import SUMMARY_MATCHED, queue
from web_support import (
    EDITOR,
    EDITOR_PASSWORD,
    KAZAKH_COUP,
    KAZAKH_EEU,
    VINNITSA,
    build_web_db,
    served,
)

from disinfodb.accounts import Accounts
from disinfodb.cases import STORED, Case
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.store import SQLStore, open_store

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "artifacts" / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]
TIMEOUT_MS = 15_000
# A seed claim quoted, then another paraphrased: one match and one related case.
QUOTED = f"{KAZAKH_COUP}."
TWO_CLAIMS = (f"{QUOTED} Under pressure from American spy agencies, Western journalists now claim"
              " that Moscow is about to invade Ukraine.")
US_INTELLIGENCE = "US intelligence agencies pressured Western media into accusing Russia of invading Ukraine"

if not CHROMIUM.exists():
    # .ci/run sets DISINFODB_REQUIRE_BROWSER: there a missing browser fails instead of skipping.
    if os.environ.get("DISINFODB_REQUIRE_BROWSER"):
        raise RuntimeError(f"no Chromium at {CHROMIUM}: install Debian's chromium package (make browser)")
    pytest.skip(f"no Chromium at {CHROMIUM}: the browser tests need Debian's chromium package",
                allow_module_level=True)


@dataclass(frozen=True)
class Server:
    url: str
    count: int  # cases in the database when the module starts
    ids: dict[str, str]  # title -> case id


@pytest.fixture(scope="module")
def server(seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("browser") / "browser.sqlite"
    count = build_web_db(path, seed_path, require(CSV_2017))
    store = open_store(str(path))
    with served(store) as url:
        yield Server(url, count, {case.title: case.id for case in store.iter_cases()})
    store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    opened = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab that fails the test on any JavaScript error."""
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    assert not errors, f"JavaScript errors: {errors}"


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def total(page: Page) -> int:
    return int(page.locator("p.total strong").inner_text().replace(",", ""))


def sign_in(page: Page, screenshot: str | None = None) -> None:
    page.goto("/login")
    expect(page.locator("h1")).to_have_text("Sign in")
    if screenshot:
        shoot(page, screenshot)
    page.fill("#name", EDITOR)
    page.fill("#password", EDITOR_PASSWORD)
    page.click("form.login-form button[type=submit]")
    expect(page.locator(".account .who")).to_contain_text(EDITOR)


# -- the scenarios --------------------------------------------------------------------------


def test_search_with_the_keyboard(page: Page, server: Server) -> None:
    page.goto("/")
    expect(page.locator("p.total strong")).to_have_text(f"{server.count:,}")
    page.keyboard.press("/")  # app.js: "/" focuses the search box
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("colour revolution")
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    shoot(page, "search")  # what the user saw, even if it is wrong
    response = navigation.value
    assert response is not None and response.ok, (
        f"submitting the search form gave HTTP {response and response.status} for {page.url}:"
        f" {page.locator('main').inner_text()!r}")
    assert re.search(r"/\?q=colour\+revolution", page.url)
    hits = page.locator("li.hit h3 a")
    expect(hits.first).to_be_visible()
    assert 1 <= total(page) < server.count
    assert f"Disinfo: {KAZAKH_COUP}" in hits.all_inner_texts()
    expect(page.locator("li.hit .snippet mark").first).to_be_visible()
    expect(page.locator("#q")).to_have_value("colour revolution")


def test_a_facet_filters_and_its_chip_removes_it(page: Page, server: Server) -> None:
    page.goto("/")
    everything = total(page)
    first = page.locator("aside.facets section.facet").first.locator("li a").first
    label = first.locator(".facet-label").inner_text()
    count = int(first.locator(".count").inner_text().replace(",", ""))
    first.click()
    page.wait_for_url(re.compile(r"keyword="))
    assert total(page) == count < everything
    chip = page.locator("ul.chips a.chip")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text(label)
    expect(page.locator("aside.facets a.on")).to_have_count(1)
    shoot(page, "search-facet")
    chip.click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("ul.chips")).to_have_count(0)
    assert total(page) == everything


def test_open_a_case(page: Page, server: Server) -> None:
    page.goto("/?q=Silk+Road")
    page.locator("li.hit h3 a", has_text=KAZAKH_EEU).click()
    page.wait_for_url(f"**/cases/{server.ids[KAZAKH_EEU]}")
    expect(page.locator("h1")).to_have_text(f"Disinfo: {KAZAKH_EEU}")
    expect(page.locator(".case-body h2")).to_have_text(["Summary", "Disproof"])
    expect(page.locator(".case-meta a", has_text="Issue 270")).to_have_attribute("href", "/?issue=270")
    expect(page.locator("section.related li").first).to_be_visible()
    expect(page.locator("section.history li")).to_have_count(1)
    shoot(page, "case")
    page.locator(".case-meta a.tag", has_text="Colour revolutions").click()  # a keyword is a search
    page.wait_for_url(re.compile(r"keyword=Colour\+revolutions"))
    expect(page.locator("li.hit h3 a", has_text=KAZAKH_EEU)).to_be_visible()


def test_check_a_text(page: Page, server: Server) -> None:
    page.goto("/check")
    page.fill("#text", TWO_CLAIMS)
    page.click("form.check-form button[type=submit]")
    cards = page.locator("ol.matches > li")
    expect(cards.first).to_be_visible()
    best = cards.first
    expect(best.locator(".badge")).to_have_text("Match")
    expect(best.locator("h3 a")).to_have_text(KAZAKH_COUP)
    pair = best.locator(".evidence mark")
    expect(pair).to_have_count(2)
    assert pair.nth(0).inner_text() == QUOTED and pair.nth(1).inner_text()
    related = page.locator("ol.matches > li", has=page.locator(".badge", has_text="Related"))
    expect(related.first.locator("h3 a")).to_have_text(US_INTELLIGENCE)
    expect(page.locator(".marked-text mark")).to_have_count(2)  # both sentences marked in the text
    expect(page.locator("#text")).to_have_value(TWO_CLAIMS)
    shoot(page, "check")


def test_sign_in_and_edit_a_case(page: Page, server: Server) -> None:
    sign_in(page, screenshot="login")
    case_id = server.ids[VINNITSA]
    page.goto(f"/cases/{case_id}")
    page.click("a.button:has-text('Edit')")
    page.wait_for_url(f"**/cases/{case_id}/edit")
    expect(page.locator("#f-title")).to_have_value(VINNITSA)
    shoot(page, "editor")
    page.fill("#f-title", "Explosions in Vinnitsa were staged by the army itself")
    page.press("#f-title", "Enter")  # the form's default button saves (the suggest button does not)
    page.wait_for_url(f"**/cases/{case_id}?saved=1")
    expect(page.locator("p.notice")).to_have_text("Saved. This is version 2.")
    expect(page.locator("h1")).to_have_text("Disinfo: Explosions in Vinnitsa were staged by the army itself")
    history = page.locator("section.history li")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text(f"update → version 2 by {EDITOR}")


def test_import_a_file_with_the_progress_script(page: Page, server: Server) -> None:
    sign_in(page)
    page.goto("/import")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.resource_type}"))
    records = [{"title": "Lithuania plans to ban the Russian language in all schools", "published": "2023-06-01",
                "summary": "Vilnius will forbid Russian in every school from September."},
               {"title": "Finland hides NATO bases in its national parks", "published": "2023-06-02",
                "summary": "The national parks of Finland are covers for secret NATO bases."}]
    content = "".join(json.dumps(r) + "\n" for r in records).encode()
    upload: FilePayload = {"name": "new-cases.jsonl", "mimeType": "application/x-ndjson", "buffer": content}
    page.set_input_files("#file", files=[upload])
    page.click("#import-form button[type=submit]")
    report = page.locator("section.report")
    expect(report.locator("h2")).to_have_text("new-cases.jsonl: imported")
    expect(report.locator("ul.counts li").first).to_have_text("2 created")
    assert "POST xhr" in requests, requests  # uploaded by app.js, not by a plain form post
    assert page.url.endswith("/import")
    shoot(page, "import")
    page.click("a:has-text('See the newest cases')")
    expect(page.locator("li.hit h3 a").first).to_have_text("Disinfo: Finland hides NATO bases in its national parks")


def test_a_bad_search_says_why_above_the_search_box(page: Page) -> None:
    page.goto('/?q="unclosed')
    expect(page.locator("main p.error")).to_contain_text("unclosed quote")
    expect(page.locator("#q")).to_have_value('"unclosed')  # kept, to be fixed in place
    shoot(page, "search-error")
    page.goto("/cases/no-such-case")
    expect(page.locator("main h1")).to_have_text("Not found")
    shoot(page, "error")


# -- layout defects a user sees -------------------------------------------------------------


def test_the_upload_progress_is_hidden_until_an_upload_starts(page: Page) -> None:
    sign_in(page)
    page.goto("/import")
    expect(page.locator("#import-form .progress")).to_be_hidden()


def test_matched_sentence_pairs_do_not_overlap(page: Page) -> None:
    page.goto("/check")
    page.fill("#text", TWO_CLAIMS)
    page.click("form.check-form button[type=submit]")
    pair = page.locator("ol.matches > li").first.locator(".evidence mark")
    expect(pair).to_have_count(2)
    yours, theirs = pair.nth(0).bounding_box(), pair.nth(1).bounding_box()
    assert yours and theirs
    assert yours["y"] + yours["height"] <= theirs["y"] + 1, f"'your text' {yours} overlaps 'the case' {theirs}"
    none_card = page.locator("ol.matches > li", has=page.locator(".badge", has_text="Not a match")).first
    match_card = page.locator("ol.matches > li", has=page.locator(".badge", has_text="Match")).first
    colour = "getComputedStyle(el).borderLeftColor"
    assert none_card.evaluate(f"el => {colour}") != match_card.evaluate(f"el => {colour}"), \
        "a 'Not a match' card has the red edge of a match"


def test_narratives_trends_and_the_review(page: Page) -> None:
    page.goto("/narratives")
    rows = page.locator("main table tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 3
    shoot(page, "narratives")
    page.locator("main table tbody tr a").first.click()
    expect(page.locator("main h1")).to_be_visible()
    expect(page.locator("main svg").first).to_be_visible()  # the line chart, drawn as SVG
    shoot(page, "narrative")
    page.goto("/trends?keyword=War+in+Ukraine")
    expect(page.locator("main svg").first).to_be_visible()
    shoot(page, "trends")
    page.goto("/cooccurrence")
    expect(page.locator("main svg").first).to_be_visible()
    shoot(page, "cooccurrence")
    page.goto("/review")
    page.locator("main a[href^='/review/']").first.click()
    expect(page.locator("main h1")).to_contain_text("Review")
    shoot(page, "review")


def test_a_journey_in_ukrainian(browser: Browser, server: Server) -> None:
    """A reader whose browser asks for Ukrainian: the pages answer in it, the case stays as
    recorded, and the switcher changes the language without losing the search."""
    ukrainian = browser.new_context(base_url=server.url, locale="uk-UA", viewport={"width": 1280, "height": 900},
                                    extra_http_headers={"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"})
    ukrainian.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    try:
        tab = ukrainian.new_page()
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto("/")
        expect(tab.locator("html")).to_have_attribute("lang", "uk")
        expect(tab.locator("form.searchbar > button[type=submit]")).to_have_text("Пошук")
        expect(tab.locator("aside.facets h2").nth(1)).to_have_text("Країни та регіони")
        tab.fill("#q", "Silk Road")
        with tab.expect_navigation():
            tab.keyboard.press("Enter")
        expect(tab.locator("p.total")).to_contain_text("за запитом «Silk Road»")
        hit = tab.locator("li.hit h3 a", has_text=KAZAKH_EEU)
        expect(hit).to_have_text(f"Дезінформація: {KAZAKH_EEU}")  # the title as recorded
        expect(tab.locator("aside.facets .facet-label", has_text="Казахстан").first).to_be_visible()
        shoot(tab, "search-uk")
        hit.click()
        tab.wait_for_url(f"**/cases/{server.ids[KAZAKH_EEU]}")
        expect(tab.locator(".case-body h2")).to_have_text(["Резюме", "Спростування"])
        expect(tab.locator(".case-meta time")).to_have_text(re.compile(r"8 січ\. 2022\s*р\."))
        expect(tab.locator(".case-meta a", has_text="Казахстан")).to_have_attribute("href", "/?country=Kazakhstan")
        shoot(tab, "case-uk")
        tab.go_back()
        current = tab.locator("nav.langs a[aria-current=true]")
        expect(current).to_have_text("Українська")
        tab.locator("nav.langs a", has_text="Deutsch").click()
        tab.wait_for_url(re.compile(r"q=Silk\+Road.*lang=de"))
        expect(tab.locator("html")).to_have_attribute("lang", "de")
        expect(tab.locator("#q")).to_have_value("Silk Road")  # the state is in the URL, so it is kept
        expect(tab.locator("nav.langs a[aria-current=true]")).to_have_text("Deutsch")
        tab.locator("aside.facets section.facet").first.locator("li a").first.click()
        tab.wait_for_url(re.compile(r"keyword=.*lang=de"))  # the choice stays while browsing
        expect(tab.locator("form.searchbar > button[type=submit]")).to_have_text("Suche")
        shoot(tab, "search-de")
    finally:
        ukrainian.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.mark.parametrize("url", ["/?q=Ukraine&since=2017-01-01&sort=date", "/cases/{vinnitsa}", "/check",
                                 "/narratives", "/trends", "/cooccurrence", "/review/82"])
def test_pages_fit_a_phone_screen(browser: Browser, server: Server, url: str) -> None:
    phone = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 844})
    try:
        tab = phone.new_page()
        tab.goto(url.format(vinnitsa=server.ids[VINNITSA]))
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{url} is {width}px wide on a 390px phone: it scrolls sideways"
    finally:
        phone.close()


# -- hostile input -----------------------------------------------------------------------------

PWNED = "document.documentElement.setAttribute('data-pwned', 'yes')"
HOSTILE = {
    "id": "hostile-links", "title": "Hostile links <img src=x onerror=alert(1)>",
    "url": f"javascript:{PWNED}",
    "summary": "Read javascript:alert(2) and <a href=javascript:alert(3)>this</a> and https://ok.example/a.",
    "disproof": "A disproof <script>alert(4)</script> citing https://ok.example/b.",
    "links": [f"javascript:{PWNED}", "data:text/html,<script>alert(5)</script>", "https://ok.example/c"],
    "outlets": [{"name": "Outlet <b>x</b>", "url": f"javascript:fetch('/cases/new').then(() => {PWNED})",
                 "archive_url": f"JaVaScRiPt:{PWNED}"}, {"url": "vbscript:msgbox(1)"},
                {"name": "Fine outlet", "url": "https://ok.example/d"}],
    "keywords": ["<script>alert(6)</script>"], "countries": ["Russia"], "published": "0001-01-01",
}
WATCH = """
    window.__violations = [];
    document.addEventListener("securitypolicyviolation",
        (event) => window.__violations.push(event.violatedDirective + " " + event.blockedURI));
"""


@pytest.fixture(scope="module")
def hostile_url(seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose database holds a case with hostile links, stored as an older release
    (before URL fields were checked) may have stored it, and a signed-in editor's account."""
    path = tmp_path_factory.mktemp("hostile") / "hostile.sqlite"
    store = open_store(str(path))
    import_records(store, read_file(str(seed_path)))
    store.upsert(Case.model_validate(HOSTILE, context=STORED))
    Accounts(store).add_user(EDITOR, "editor", EDITOR_PASSWORD)
    with served(store) as url:
        yield url
    store.close()


def settled_evaluate(tab: Page, expression: str) -> object:
    """Evaluate on the page a click led to, once it has loaded: a link to a slow page (on a
    busy machine) may still be navigating after the click's wait, and a navigation that
    commits during the evaluation destroys its context; then wait and evaluate again."""
    for _ in range(5):
        try:
            tab.wait_for_load_state("load")
            return tab.evaluate(expression)
        except PlaywrightError as error:
            if "Execution context was destroyed" not in str(error):
                raise
    raise AssertionError(f"the page kept navigating: {tab.url}")


def test_clicking_every_link_of_a_hostile_case_runs_nothing(browser: Browser, hostile_url: str) -> None:
    """Signed in as an editor (a CSRF token on every form), click every link of the case
    page: no script runs, no dialog opens, no case is deleted, the policy blocks nothing
    (there is nothing inline to block), and only http(s) or site links exist."""
    context = browser.new_context(base_url=hostile_url)
    context.set_default_timeout(TIMEOUT_MS)
    context.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort())  # stay offline
    context.add_init_script(WATCH)
    tab = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []

    def dismissed(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", dismissed)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(tab)
        case_url = f"{hostile_url}/cases/hostile-links"
        tab.goto(case_url)
        expect(tab.locator("main h1")).to_contain_text("Hostile links <img")  # shown as text
        hrefs = tab.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
        assert hrefs and all(h.startswith(("/", "#", "http://", "https://", "?")) for h in hrefs), hrefs
        for number in range(len(hrefs)):
            tab.goto(case_url)
            link = tab.locator("a[href]").nth(number)
            if not link.is_visible():
                continue
            try:
                with tab.expect_navigation(timeout=3000):
                    link.click(timeout=3000)
            except Exception:
                pass
            assert settled_evaluate(tab, "document.documentElement.getAttribute('data-pwned')") is None, hrefs[number]
            assert settled_evaluate(tab, "window.__violations || []") == [], hrefs[number]
        tab.goto(case_url)
        assert tab.evaluate("document.documentElement.getAttribute('data-pwned')") is None
        # the ClaimReview JSON-LD is one data block, whole, as the browser reads it
        review = tab.evaluate("[...document.querySelectorAll('script[type=\"application/ld+json\"]')]"
                              ".map(block => JSON.parse(block.textContent))")
        assert [(r["reviewBody"], r["keywords"]) for r in review] == [(HOSTILE["disproof"], HOSTILE["keywords"])]
        for path in ("/", "/check", "/narratives", "/trends", "/docs"):
            tab.goto(path)
            assert tab.evaluate("window.__violations") == [], path
        expect(tab.locator(".swagger-ui .opblock").first).to_be_visible()  # the API docs run under the policy
        assert tab.request.get(f"{hostile_url}/api/cases/hostile-links").status == 200  # not deleted
        assert not dialogs and not errors, (dialogs, errors)
    finally:
        context.close()


@pytest.fixture(scope="module")
def triage_site(seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SQLStore, list[int]]]:
    """A server whose queue holds three hits (newest first on the page), and an editor."""
    store = open_store(str(tmp_path_factory.mktemp("triage") / "triage.sqlite"))
    import_records(store, read_file(str(seed_path)))
    Accounts(store).add_user(EDITOR, "editor", EDITOR_PASSWORD)
    items = [item for number, hit in (("1", (KAZAKH_COUP, "match")), ("2", (KAZAKH_EEU, "related")),
                                      ("3", (KAZAKH_EEU, "related"))) for item in queue(store, "feeds", number, [hit])]
    with served(store) as url:
        yield url, store, items
    store.close()


def test_triage_with_the_keyboard(browser: Browser, triage_site: tuple[str, SQLStore, list[int]]) -> None:
    """j moves down, d dismisses, c confirms, n opens the new-case editor prefilled."""
    url, store, (first, second, third) = triage_site
    context = browser.new_context(base_url=url)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(tab)
    tab.goto("/triage")
    cards = tab.locator("[data-triage]")
    expect(cards).to_have_count(3)
    expect(cards.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    shoot(tab, "triage")
    tab.keyboard.press("j")
    expect(cards.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    tab.keyboard.press("d")  # the second card from the top: item `second`
    expect(cards).to_have_count(2)
    assert store.triage.get(second).status.value == "dismissed"
    tab.keyboard.press("c")  # the page reloaded: the first card, item `third`
    expect(cards).to_have_count(1)
    assert store.triage.get(third).status.value == "confirmed"
    tab.keyboard.press("n")
    expect(tab.locator("main h1")).to_have_text("New case")
    expect(tab.locator("#f-summary")).to_have_value(SUMMARY_MATCHED)
    assert store.triage.get(first).status.value == "open" and not errors
    context.close()
