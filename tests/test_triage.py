"""The triage queue: listing and filters, confirm (the document becomes an outlet of the
case: a new version and an audit entry), dismiss, draft, who may do what, the problems
(404, 409, 422), the Atom feed, and the page with its forms (no JavaScript) over a real
SQLite file; the keyboard flow in Chromium."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from conftest import Claims2017, seed_case
from fastapi.testclient import TestClient
from test_web import csrf, page, sign_in
from web_support import EDITOR, EDITOR_PASSWORD, KAZAKH_COUP, KAZAKH_EEU

from disinfodb.accounts import Accounts
from disinfodb.cases import Outlet
from disinfodb.embed import load_embedders
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import Matcher
from disinfodb.server.app import create_app
from disinfodb.store import SQLStore, open_store
from disinfodb.store.triage import QueuedHit, SeenDocument, Status, TriageFilter
from disinfodb.triage import confirm, draft
from disinfodb.watch.fingerprint import simhash, text_hash

ARTICLE = ("Western media say nothing of it. A coup in Kazakhstan was meant to divert Russia’s attention before "
           "the negotiations. The markets were calm.")
SUMMARY_MATCHED = "A coup in Kazakhstan was meant to divert Russia’s attention before the negotiations."


def _pair(sentence: str, case_sentence: str) -> dict[str, object]:
    return {"input_sentence": sentence, "case_sentence": case_sentence, "score": 0.91, "at": None}


def queue(store: SQLStore, source: str, doc_id: str, hits: list[tuple[str, str]], text: str = ARTICLE,
          published: str = "2022-01-06T10:00:00", lang: str | None = "en") -> list[int]:
    """Record a document as watch does, with hits (case title, label)."""
    ids = {c.title: c.id for c in store.iter_cases()}
    seen = SeenDocument(source, doc_id, text_hash(text + doc_id), simhash(text + doc_id), title=f"Article {doc_id}",
                        outlet="news.example", url=f"https://news.example/{doc_id}", published=published, lang=lang,
                        text=text)
    return store.triage.record(seen, [QueuedHit(ids[title], 0.9 if label == "match" else 0.4, label,
                                                [_pair(SUMMARY_MATCHED, title)]) for title, label in hits])[1]


def test_confirm_adds_the_outlet_once_with_an_audit_entry(seed_store: SQLStore) -> None:
    """On SQLite and PostgreSQL: one versioned edit, then 409 for a second decision."""
    [item_id] = queue(seed_store, "feeds", "1", [(KAZAKH_COUP, "match")])
    case_id = seed_store.triage.get(item_id).case_id
    before = seed_store.get(case_id)
    item, case = confirm(seed_store, item_id, "ed")
    assert item.status is Status.CONFIRMED and item.decided_by == "ed"
    assert case.version == before.version + 1
    assert case.outlets == [*before.outlets, Outlet(name="news.example", url="https://news.example/1",
                                                    published=date(2022, 1, 6))]
    last = seed_store.history(case_id)[-1]
    assert (last.action, last.actor, last.previous) == ("update", "ed", before)
    with pytest.raises(Exception, match="confirmed already"):
        confirm(seed_store, item_id, "ed")
    assert seed_store.get(case_id).version == case.version
    assert seed_store.triage.items(TriageFilter())[1] == 0
    assert seed_store.triage.items(TriageFilter(status=Status.CONFIRMED))[1] == 1


def test_a_draft_summarises_what_matched_else_the_leading_sentences(seed_store: SQLStore) -> None:
    matcher = Matcher(seed_store, load_embedders("use-m"))
    matched, _ = queue(seed_store, "feeds", "1", [(KAZAKH_COUP, "match"), (KAZAKH_EEU, "related")])
    prefilled = draft(seed_store, matched, lambda: matcher)
    assert prefilled.summary == SUMMARY_MATCHED and prefilled.languages == ["en"]
    assert prefilled.published == date(2022, 1, 6) and prefilled.outlets[0].url == "https://news.example/1"
    # Only the EEU case has countries and keywords: they are all the seed store can suggest.
    eeu = seed_case(seed_store, KAZAKH_EEU)
    assert {s.value for s in prefilled.suggested.countries} == set(eeu.countries)
    assert {s.value for s in prefilled.suggested.keywords} == set(eeu.keywords[:5])
    assert prefilled.suggested.languages == []  # the document says it is English
    [related] = queue(seed_store, "feeds", "2", [(KAZAKH_EEU, "related")])
    assert draft(seed_store, related, lambda: matcher).summary == ARTICLE  # its three leading sentences


@dataclass
class Site:
    client: TestClient
    store: SQLStore
    tokens: dict[str, str]
    items: list[int]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def site(tmp_path: Path, seed_path: Path) -> Iterator[Site]:
    store = open_store(str(tmp_path / "triage.sqlite"))
    assert import_records(store, read_file(str(seed_path))).created == 4
    accounts = Accounts(store)
    accounts.add_user(EDITOR, "editor", EDITOR_PASSWORD)
    accounts.add_user("rita", "reader")
    tokens = {"editor": accounts.create_token(EDITOR), "reader": accounts.create_token("rita")}
    items = [*queue(store, "feeds", "1", [(KAZAKH_COUP, "match"), (KAZAKH_EEU, "related")]),
             *queue(store, "telegram", "2", [(KAZAKH_EEU, "related")], published="2021-03-01")]
    with TestClient(create_app(store, "use-m"), raise_server_exceptions=False, follow_redirects=False) as client:
        yield Site(client, store, tokens, items)
    store.close()


def test_the_api_lists_filters_and_pages(site: Site) -> None:
    listed = site.client.get("/api/triage").json()
    assert listed["total"] == 3 and [r["id"] for r in listed["results"]] == sorted(site.items, reverse=True)
    first = listed["results"][-1]
    assert first["case"]["title"] == KAZAKH_COUP and first["document"]["url"] == "https://news.example/1"
    assert first["evidence"][0]["input_sentence"] == SUMMARY_MATCHED
    count = {q: site.client.get(f"/api/triage?{q}").json()["total"]
             for q in ("source=telegram", "label=match", "label=related&source=feeds", "since=2022-01-01",
                       "until=2021-12-31", "status=dismissed", "status=all", "per_page=1&page=3")}
    assert count == {"source=telegram": 1, "label=match": 1, "label=related&source=feeds": 1, "since=2022-01-01": 2,
                     "until=2021-12-31": 1, "status=dismissed": 0, "status=all": 3, "per_page=1&page=3": 3}
    assert len(site.client.get("/api/triage?per_page=1&page=3").json()["results"]) == 1
    bad = site.client.get("/api/triage?label=maybe")
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert site.client.get("/api/triage?narrative=n999").status_code == 404


def test_decisions_need_an_editor_and_are_made_once(site: Site) -> None:
    match_id, related_id, other_id = site.items
    for path in (f"/api/triage/{match_id}/confirm", f"/api/triage/{related_id}/dismiss",
                 f"/api/triage/{match_id}/draft"):
        assert site.client.post(path).status_code == 401
        assert site.client.post(path, headers=site.auth("reader")).status_code == 403
    confirmed = site.client.post(f"/api/triage/{match_id}/confirm", headers=site.auth("editor"))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["case"]["outlets"][-1] == {"name": "news.example", "url": "https://news.example/1",
                                                       "archive_url": None, "published": "2022-01-06"}
    again = site.client.post(f"/api/triage/{match_id}/dismiss", headers=site.auth("editor"))
    assert again.status_code == 409 and again.json()["errors"][0]["status"] == "confirmed"
    assert site.client.post(f"/api/triage/{other_id}/dismiss", headers=site.auth("editor")).json()["status"] == (
        "dismissed")
    assert [r["id"] for r in site.client.get("/api/triage").json()["results"]] == [related_id]
    assert site.client.post("/api/triage/999/confirm", headers=site.auth("editor")).status_code == 404
    drafted = site.client.post(f"/api/triage/{related_id}/draft", headers=site.auth("editor")).json()
    assert drafted["summary"] == SUMMARY_MATCHED and drafted["from_item"] == related_id
    history = site.client.get(f"/api/cases/{confirmed.json()['case']['id']}/history").json()
    assert history[-1]["actor"] == EDITOR and history[-1]["action"] == "update"


def test_the_atom_feed_lists_the_open_hits(site: Site) -> None:
    response = site.client.get("/api/triage.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    atom = "{http://www.w3.org/2005/Atom}"
    entries = ET.fromstring(response.text).findall(f"{atom}entry")
    assert len(entries) == 3
    titles = [e.findtext(f"{atom}title") for e in entries]
    assert titles[-1] == f"match: Article 1 -> {KAZAKH_COUP}"
    assert entries[-1].find(f"{atom}link[@rel='alternate']").get("href") == "https://news.example/1"  # type: ignore[union-attr]


def test_the_page_filters_confirms_dismisses_and_drafts_without_javascript(site: Site) -> None:
    client = site.client
    assert client.get("/triage").status_code == 303  # editors only: sign in first
    sign_in(client, next_url="/triage")
    main = page(client.get("/triage?label=related"))
    cards = main.find_all("li", cls="triage-item")
    assert [c.get("data-triage") for c in cards] == [str(i) for i in site.items[:0:-1]]
    assert page(client.get("/triage?source=telegram")).find_all("li", cls="triage-item")[0].get("data-triage") == (
        str(site.items[2]))
    token = csrf(client)
    assert client.post(f"/triage/{site.items[0]}/confirm", data={"csrf": "wrong"}).status_code == 403
    done = client.post(f"/triage/{site.items[0]}/confirm", data={"csrf": token, "back": "/triage?label=match"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/triage?label=match"
    assert site.store.get(site.store.triage.get(site.items[0]).case_id).outlets[-1].url == "https://news.example/1"
    assert client.post(f"/triage/{site.items[1]}/dismiss", data={"csrf": token, "back": "https://evil.example/"},
                       follow_redirects=False).headers["location"] == "/"
    assert client.post(f"/triage/{site.items[1]}/dismiss", data={"csrf": token}).status_code == 409
    assert [c.get("data-triage") for c in page(client.get("/triage")).find_all("li", cls="triage-item")] == [
        str(site.items[2])]
    editor = page(client.get(f"/triage/{site.items[2]}/draft"))
    assert editor.find("form", cls="case-form").get("action") == "/cases/new"
    assert editor.find("textarea", name="summary").text == ARTICLE  # it repeats no case: its leading sentences
    assert editor.find("textarea", name="outlets").text == "news.example | https://news.example/2 | | 2021-03-01"
    assert editor.find("input", name="published").get("value") == "2021-03-01"
    de = page(client.get("/triage?lang=de&status=all"))
    assert de.find("h1").text == "Sichtung" and "Zustand" in de.text


# Written for these tests: the claim of the 2015-2017 file's first row, in other words.
VINNITSA = ("The blasts at the ammunition depot near Vinnitsa were staged by Ukrainian troops themselves. "
            "They wanted to hide that they had stolen weapons.")


def test_a_draft_carries_suggested_metadata_marked_as_such(claims_2017: Claims2017, tmp_path: Path) -> None:
    """Over the 2015-2017 cases: the API keeps the suggestions apart from the draft's fields,
    each with its score; the editor fills in the likely ones and marks every suggestion.
    (Their vectors are cached, so the server's index is complete from the first request:
    suggestions from a half-built index would differ from the page's a moment later.)"""
    store = claims_2017.copy_to(tmp_path / "2017.sqlite")
    Accounts(store).add_user(EDITOR, "editor", EDITOR_PASSWORD)
    token = Accounts(store).create_token(EDITOR)
    some_case = next(store.iter_cases()).title
    [unknown] = queue(store, "feeds", "1", [(some_case, "related")], text=VINNITSA, lang=None)
    [english] = queue(store, "feeds", "2", [(some_case, "related")], text=VINNITSA)
    with TestClient(create_app(store, "use-m"), follow_redirects=False) as client:
        answer = client.post(f"/api/triage/{unknown}/draft", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        drafted = answer.json()
        assert "keywords" not in drafted and "countries" not in drafted and drafted["languages"] == []
        suggested = drafted["suggested"]
        assert suggested["countries"][0] == {"value": "Ukraine", "score": suggested["countries"][0]["score"],
                                             "likely": True}
        assert "ru" in [s["value"] for s in suggested["languages"]]  # its language unknown: suggested
        for facet in ("keywords", "countries", "languages"):
            scores = [s["score"] for s in suggested[facet]]
            assert len(scores) == 5 and scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
        assert client.post(f"/api/triage/{english}/draft",
                           headers={"Authorization": f"Bearer {token}"}).json()["suggested"]["languages"] == []

        sign_in(client)
        editor = page(client.get(f"/triage/{unknown}/draft"))
        likely = {facet: [s["value"] for s in suggested[facet] if s["likely"]] for facet in suggested}
        assert editor.find("input", name="countries").get("value").split(", ") == likely["countries"]
        assert editor.find("input", name="keywords").get("value") == ", ".join(likely["keywords"])
        marked = editor.find("p", id="s-countries")
        assert marked.find("span", cls="badge").text == "Suggested"
        values = marked.find_all("span", cls="suggested-value")
        assert [v.get("data-value") for v in values] == [s["value"] for s in suggested["countries"]]
        assert [v.has_class("is-likely") for v in values] == [s["likely"] for s in suggested["countries"]]
        assert editor.find("input", name="countries").get("aria-describedby") == "h-countries s-countries"
        assert editor.find_all("p", id="s-languages")
        own = page(client.get(f"/triage/{english}/draft"))
        assert own.find("input", name="languages").get("value") == "English"
        assert not own.find_all("p", id="s-languages") and own.find_all("p", id="s-keywords")
    store.close()
