"""The pages in their readers' languages: complete catalogues, the language a request
gets (Accept-Language, ?lang=, fallbacks), links and forms that keep it, and pages in
Ukrainian with their dates, country names and plural forms, over the real test database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from conftest import CSV_2017, REPO, require
from fastapi.testclient import TestClient
from web_support import EDITOR, EDITOR_PASSWORD, KAZAKH_EEU, MODEL, Element, build_web_db, parse

from disinfodb.server.app import create_app
from disinfodb.server.service import Service
from disinfodb.server.web import i18n
from disinfodb.store import SQLStore, open_store

WEB = REPO / "disinfodb" / "server" / "web"
LOCALE = WEB / "locale"
SHIPPED = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]
# The same word in some of the languages (a cognate or a name), so a translation may equal its source.
COGNATES = {"API", "JSON API", "Import", "Lift", "lift", "lift %(lift)s", "message %(number)s", "Name",
            "page %(number)s", "Pages", "Problem", "Reviews", "Trends", "trend", "Version %(version)s"}
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> set[str | tuple[str, str]]:
    """The msgids of the current templates and Python sources (babel.cfg's mapping)."""
    found = extract_from_dir(str(WEB), method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
                             options_map={"templates/**.html": {"trimmed": "true"}})
    return {messages if isinstance(messages, str) else tuple(messages)  # type: ignore[misc]
            for _file, _line, messages, _comments, _context in found}


def catalogue(lang: str) -> Catalog:
    path = LOCALE / lang / "LC_MESSAGES" / "messages.po" if lang else LOCALE / "messages.pot"
    with open(path, "rb") as stream:
        return read_po(stream, locale=lang or None)


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


# -- the catalogues ----------------------------------------------------------------------------


def test_the_template_lists_every_message_of_the_sources() -> None:
    """messages.pot is re-extracted whenever a page's words change (README: pybabel extract)."""
    ids = extracted()
    assert len(ids) > 300
    assert ids == {m.id for m in catalogue("") if m.id}


@pytest.mark.parametrize("lang", SHIPPED)
def test_every_message_is_translated_in_every_shipped_language(lang: str) -> None:
    found = catalogue(lang)
    by_id = {m.id: m for m in found if m.id}
    missing = extracted() - set(by_id)
    assert not missing, f"{lang}: not in the catalogue: {sorted(map(str, missing))[:5]}"
    problems = []
    for msgid, message in by_id.items():
        assert not message.fuzzy, f"{lang}: fuzzy {msgid!r}"
        if isinstance(msgid, tuple):
            forms = message.string
            assert isinstance(forms, tuple) and len(forms) == found.num_plurals, (lang, msgid, forms)
            assert all(form.strip() for form in forms), f"{lang}: an empty plural form of {msgid!r}"
            # every form names only the source's placeholders; the general form names them all
            assert all(placeholders(form) <= placeholders(msgid[1]) for form in forms), (lang, msgid)
            assert placeholders(forms[-1]) == placeholders(msgid[1]), (lang, msgid)
            same = forms[-1] == msgid[1]
        else:
            text = message.string
            assert isinstance(msgid, str) and isinstance(text, str) and text.strip(), f"{lang}: untranslated {msgid!r}"
            assert placeholders(text) == placeholders(msgid), (lang, msgid, text)
            same = text == msgid
        if same and msgid not in COGNATES:
            problems.append(msgid)
    assert not problems, f"{lang}: English left in the catalogue: {problems[:5]}"
    assert list(found.check()) == []  # babel's checkers: python-format, number of plural forms


def test_catalogues_are_read_from_the_po_files_and_no_mo_is_shipped() -> None:
    assert not list(LOCALE.rglob("*.mo"))
    for lang in SHIPPED:
        assert i18n.CATALOGUES[lang].gettext("Search") == catalogue(lang)["Search"].string != "Search"


@pytest.mark.parametrize(("lang", "forms"), [
    ("uk", ["1 випадок", "3 випадки", "5 випадків", "21 випадок", "12 випадків"]),
    ("ru", ["1 случай", "3 случая", "5 случаев", "21 случай", "12 случаев"]),
    ("pl", ["1 przypadek", "3 przypadki", "5 przypadków", "21 przypadków", "12 przypadków"]),
    ("de", ["1 Fall", "3 Fälle", "5 Fälle", "21 Fälle", "12 Fälle"]),
])
def test_plural_forms(lang: str, forms: list[str]) -> None:
    tr = i18n.CATALOGUES[lang]
    assert [tr.ngettext("%(num)s case", "%(num)s cases", n) % {"num": n} for n in (1, 3, 5, 21, 12)] == forms


# -- choosing the language -----------------------------------------------------------------------


@pytest.mark.parametrize(("header", "lang"), [
    ("uk", "uk"), ("uk-UA,uk;q=0.9,en;q=0.8", "uk"), ("UK-ua", "uk"), ("de-DE", "de"),
    ("fr;q=0.2, pl;q=0.8", "pl"),  # by q-value, not by order
    ("ru;q=0, uk;q=0.5", "uk"),  # q=0: not this one
    ("en-US,en;q=0.9,uk;q=0.8", "en"), ("ja, zh-CN;q=0.9", "en"), ("*", "en"), ("", "en"),
    ("de;q=abc, es", "es"), ("pt-BR, es-MX;q=0.7, de;q=0.6", "es"), ("ru;q=0.5, uk;q=0.5", "ru"),
])
def test_accept_language_negotiation(header: str, lang: str) -> None:
    assert i18n.negotiated(header) == lang


@pytest.fixture(scope="module")
def client(seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app over the web tests' database (only read here)."""
    path = tmp_path_factory.mktemp("i18n") / "web.sqlite"
    build_web_db(path, seed_path, require(CSV_2017))
    store: SQLStore = open_store(str(path))
    app = create_app(store, MODEL)
    service: Service = app.state.service
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as opened:
        yield opened
    service.close()
    store.close()


def get(client: TestClient, url: str, accept: str | None = None, **params: str) -> tuple[httpx.Response, Element]:
    response = client.get(url, params=params or None, headers={"Accept-Language": accept} if accept else {})
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return response, parse(response.text)


def html_lang(root: Element) -> str:
    return root.find("html").get("lang")


def local_links(root: Element) -> list[str]:
    """The hrefs of the page's own links (not the switcher's, not the API's or static files')."""
    langs = root.find("nav", "langs")
    switcher = {a.get("href") for a in langs.find_all("a")}
    return [a.get("href") for a in root.find_all("a") if a.get("href").startswith("/") and a.get("href") not in switcher
            and not a.get("href").startswith(("/api", "/docs", "/static", "/feed.xml", "/review/8"))]


def test_accept_language_chooses_the_page_language(client: TestClient) -> None:
    response, root = get(client, "/", "uk-UA,uk;q=0.9,en;q=0.5")
    assert html_lang(root) == "uk" and response.headers["content-language"] == "uk"
    assert "Accept-Language" in response.headers["vary"]
    assert root.find("form", "searchbar").find("button", type="submit").text == "Пошук"
    assert not any("lang=" in href for href in local_links(root))  # the browser chose: URLs stay clean
    response, root = get(client, "/")
    assert html_lang(root) == "en" and response.headers["content-language"] == "en"
    assert root.find("main").find("section", "facet").find("h2").text == "Keywords"


def test_lang_in_the_url_wins_and_every_link_and_form_keeps_it(client: TestClient) -> None:
    response, root = get(client, "/", "uk", q="Ukraine", lang="de")
    assert html_lang(root) == "de" and response.headers["content-language"] == "de"
    links = local_links(root)
    assert len(links) > 30 and all(("lang", "de") in parse_qsl(urlsplit(h).query) for h in links), \
        [h for h in links if "lang=de" not in h][:5]
    searchbar = root.find("form", "searchbar")
    assert searchbar.find("input", type="hidden", name="lang").get("value") == "de"
    pager = root.find("nav", "pager").links()
    assert pager["Weiter →"] == "/?q=Ukraine&page=2&lang=de"
    _, case = get(client, root.find("li", "hit").find("a").get("href"))
    assert html_lang(case) == "de" and case.find("aside", "case-meta").find("dt").text
    _, trends = get(client, "/trends", lang="pl", keyword="NATO")
    assert trends.find("form", "trend-form").find("input", name="lang").get("value") == "pl"
    assert all("lang=pl" in h for h in local_links(trends))


def test_an_unknown_lang_falls_back_cleanly(client: TestClient) -> None:
    for value in ("xx", "", "../../etc", "uk" * 40, "%00"):
        response, root = get(client, "/", "fr;q=0.9", lang=value)
        assert html_lang(root) == "fr" and response.headers["content-language"] == "fr"
        assert not any("lang=" in href for href in local_links(root))
    _, root = get(client, "/", lang="UK-ua")  # a tag that names a shipped language is understood
    assert html_lang(root) == "uk"


def test_the_switcher_names_each_language_in_itself_and_keeps_the_state(client: TestClient) -> None:
    _, root = get(client, "/", q="Kazakhstan", country="Russia", lang="uk")
    switcher = root.find("nav", "langs")
    names = {a.get("lang"): a.text for a in switcher.find_all("a")}
    assert names == {"en": "English", "ru": "Русский", "uk": "Українська", "de": "Deutsch", "fr": "Français",
                     "es": "Español", "pl": "Polski"}
    current = [a.get("lang") for a in switcher.find_all("a") if a.get("aria-current")]
    assert current == ["uk"]
    german = next(a.get("href") for a in switcher.find_all("a") if a.get("lang") == "de")
    assert parse_qsl(urlsplit(german).query) == [("q", "Kazakhstan"), ("country", "Russia"), ("lang", "de")]
    _, root = get(client, german)
    assert html_lang(root) == "de" and root.find("input", id="q").get("value") == "Kazakhstan"


def test_a_form_post_and_its_redirect_keep_the_language(client: TestClient) -> None:
    _, login = get(client, "/login", lang="uk")
    form = login.find("form", "login-form")
    assert form.get("action") == "/login?lang=uk"
    response = client.post(form.get("action"), data={"name": EDITOR, "password": EDITOR_PASSWORD, "next": "/",
                                                      "csrf": client.cookies["disinfodb_csrf"]})
    assert response.status_code == 303 and response.headers["location"] == "/?lang=uk"
    refused = client.post("/login?lang=uk", data={"name": EDITOR, "password": "wrong",
                                                   "csrf": client.cookies["disinfodb_csrf"]})
    assert refused.status_code == 401 and "хибний пароль" in refused.text
    client.cookies.delete("disinfodb_session")


# -- a page in Ukrainian -----------------------------------------------------------------------


def test_a_ukrainian_search_page(client: TestClient) -> None:
    _, root = get(client, "/", "uk")
    main = root.find("main")
    headings = [s.find("h2").text for s in main.find_all("section", "facet")]
    assert headings[:2] == ["Ключові слова", "Країни та регіони"] and "Роки" in headings
    countries = next(s for s in main.find_all("section", "facet") if s.find("h2").text == "Країни та регіони")
    labels = [a.find("span", "facet-label").text for a in countries.find_all("a")]
    assert "Україна" in labels and "Росія" in labels and "Ukraine" not in labels
    hrefs = [a.get("href") for a in countries.find_all("a")]
    assert "/?country=Ukraine" in hrefs  # the filter is the value as stored
    assert root.find("a", "skip").text == "Перейти до змісту"
    assert root.find("nav", **{"aria-label": "Головне меню"}).links()["Перевірити текст"] == "/check"


def test_a_ukrainian_case_page_keeps_the_case_as_recorded(client: TestClient) -> None:
    _, search = get(client, "/", "uk", q="Silk Road")
    hit = next(h for h in search.find_all("li", "hit") if KAZAKH_EEU in h.find("a").text)
    assert hit.find("a").text == f"Дезінформація: {KAZAKH_EEU}"  # the title as recorded, the label translated
    assert format_date(date(2022, 1, 8), "medium", locale="uk") == "8 січ. 2022\u202fр."  # CLDR's spacing
    ukrainian_date = "8 січ. 2022 р."  # as Element.text reads it: whitespace collapsed
    assert hit.find("time").text == ukrainian_date
    _, case = get(client, hit.find("a").get("href"), "uk")
    main = case.find("main")
    assert main.find("h1").text == f"Дезінформація: {KAZAKH_EEU}"
    sections = [s.find("h2").text for s in main.find("div", "case-body").find_all("section")]
    assert sections[:2] == ["Резюме", "Спростування"]
    meta = main.find("aside", "case-meta")
    assert [dt.text for dt in meta.find_all("dt")][:3] == ["Повідомлено в", "Дата публікації", "Мова (мови) статті"]
    assert meta.find("time").text == ukrainian_date
    links = meta.links()
    assert links["Казахстан"] == "/?country=Kazakhstan" and links["Іспанська"] == "/?language=es"
    assert "Colour revolutions" in links  # keywords are case content: as recorded
    history = main.find("section", "history").find("li")
    assert history.find("strong").text == "створено" and "UTC" in history.text


NOUNS = {"uk": ("випадок", "випадки", "випадків"), "ru": ("случай", "случая", "случаев"),
         "pl": ("przypadek", "przypadki", "przypadków")}


@pytest.mark.parametrize("lang", sorted(NOUNS))
def test_counts_on_pages_take_the_right_plural_form(client: TestClient, lang: str) -> None:
    """The search total on a page: its noun in the form the count takes (1 and 21, 3, 5 and 12 differ)."""
    one, few, many = NOUNS[lang]
    for n, noun in ((1, one), (3, few), (5, many), (12, many), (21, one if lang != "pl" else many), (22, few)):
        text = i18n.CATALOGUES[lang].ngettext("<strong>%(num)s</strong> case", "<strong>%(num)s</strong> cases", n)
        assert text % {"num": n} == f"<strong>{n}</strong> {noun}", (lang, n)
    for query in ("Kazakhstan", "Silk Road", "Vinnitsa", "NATO"):
        _, root = get(client, "/", lang=lang, q=query)
        total = root.find("p", "total")
        count = int(total.find("strong").text.replace("\xa0", "").replace(" ", ""))
        noun = i18n.CATALOGUES[lang].ngettext("%(num)s case", "%(num)s cases", count).split(" ", 1)[1]
        assert total.text.startswith(f"{total.find('strong').text} {noun} "), (query, total.text)


def test_every_page_renders_in_every_language(client: TestClient) -> None:
    """No page fails in any language, and each says which it is in."""
    _, search = get(client, "/", q="Kazakhstan")
    case_url = search.find("li", "hit").find("a").get("href")
    for lang in i18n.LANGUAGES:
        for url in ("/", case_url, "/check", "/narratives", "/trends", "/cooccurrence", "/review", "/review/82",
                    "/login"):
            response, root = get(client, url, lang=lang)
            assert html_lang(root) == lang and response.headers["content-language"] == lang, url
    response = client.get("/cases/no-such-case", params={"lang": "uk"})
    assert response.status_code == 404 and parse(response.text).find("h1").text == "Не знайдено"
