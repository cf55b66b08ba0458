"""Hostile and careless input against the server and the library: what an attacker of a
disinformation database would try (script through a link, a query that starves others, a
page made to weigh 100 MB, a spoofed address, a blind overwrite) and what a careless user
sends (an id from another fact-checker's data, a date typo, a spreadsheet formula).

Each test here failed on the code before the hostile-traffic issue was fixed.
"""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import assert_search_stops, raw
from fastapi.testclient import TestClient
from pydantic import ValidationError
from web_support import parse

from disinfodb.accounts import Accounts, Role
from disinfodb.cases import STORED, Case, plausible_dates
from disinfodb.errors import ImportRejected, QuerySyntaxError
from disinfodb.export import export_cases
from disinfodb.ingest import FORMATS, read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.search import MAX_PREFIXES, MAX_TERMS, MIN_PREFIX_CHARS, SearchQuery, parse_query
from disinfodb.server.app import create_app
from disinfodb.server.headers import CONTENT_SECURITY_POLICY
from disinfodb.server.service import Service, Settings
from disinfodb.store import SQLStore, open_store

EVIL = "javascript:fetch('/cases/new').then(r=>r.text()).then(t=>alert(t))"
SCHEMES = [EVIL, "JavaScript:alert(1)", " javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
           "vbscript:msgbox(1)", "file:///etc/passwd", "//evil.example/x", "https:no-host"]


# -- script through a link ---------------------------------------------------------------


@pytest.mark.parametrize("url", SCHEMES)
def test_only_web_addresses_are_accepted_in_url_fields(url: str) -> None:
    """Every URL field refuses other schemes, naming the field and the rule."""
    attempts: dict[str, dict[str, Any]] = {
        "url": {"url": url},
        "outlets.0.url": {"outlets": [{"name": "x", "url": url}]},
        "outlets.0.archive_url": {"outlets": [{"name": "x", "archive_url": url}]},
        "links": {"links": ["https://ok.example/a", url]},
    }
    for field, values in attempts.items():
        with pytest.raises(ValidationError) as caught:
            Case(title="t", **values)
        [error] = caught.value.errors()
        assert ".".join(str(p) for p in error["loc"]) == field
        assert "only http:// and https:// URLs with a host are accepted" in error["msg"]


def _files(folder: Path) -> dict[str, Path]:
    """One file per reader format, each carrying a javascript: URL where that format has URLs."""
    files = {
        "listing": f"Disinfo: A claim\n\nSummary\n\nS.\n\nDisproof\n\nD.\n\npublication/media\n\n  • Outlet: {EVIL}\n",
        "jsonl": json.dumps({"title": "A claim", "outlets": [{"name": "o", "url": EVIL}]}) + "\n",
        "json": json.dumps([{"title": "A claim", "links": [EVIL]}]),
        "csv": "title,url\nA claim," + EVIL.replace(",", "") + "\n",
        "euvsdisinfo-2017": ("issue,date,outlet,language,origin,reported by,keywords,source,title,summary,disproof\n"
                             f"1,01/02/17,o,Russian,Russia,x,k,{EVIL.replace(',', '')},A claim,S,D\n"),
        "euvsdisinfo-2021": ("date,id,title,countries,keywords,languages,outlets\n"
                             f"2021-01-02,{EVIL.replace(',', '')},A claim,Russia,k,Russian,o\n"),
        "claimreview": json.dumps({"@context": "https://schema.org", "@type": "ClaimReview", "name": "A claim",
                                   "claimReviewed": "S", "itemReviewed": {"@type": "Claim", "appearance": [
                                       {"@type": "CreativeWork", "url": EVIL}]}}),
    }
    assert set(files) == set(FORMATS)
    suffix = {"listing": ".txt", "jsonl": ".jsonl", "json": ".json", "claimreview": ".jsonld"}
    paths = {}
    for fmt, text in files.items():
        paths[fmt] = folder / f"{fmt}{suffix.get(fmt, '.csv')}"
        paths[fmt].write_text(text, encoding="utf-8")
    return paths


def _clickable(html: str) -> list[str]:
    """Every href or src of a page that is not a web address of this or another site."""
    root = parse(html)
    targets = [e.get("href") for e in root.find_all("a")] + [e.get("src") for e in root.find_all()]
    return [t for t in targets if t and not t.startswith(("/", "#", "http://", "https://", "?"))]


def test_a_javascript_url_through_any_reader_is_never_clickable(tmp_path: Path) -> None:
    """Through every reader: refused with the record's line and field, or kept as text
    (the listing's outlet bullet becomes a name); no page of the case ever links it."""
    store = open_store(str(tmp_path / "cases.sqlite"))
    app = create_app(store, "use-m")
    client = TestClient(app)
    try:
        for fmt, path in _files(tmp_path).items():
            try:
                import_records(store, read_file(str(path), fmt))
            except ImportRejected as rejected:
                assert any(p.location.field and ("url" in p.location.field or "links" in p.location.field)
                           for p in rejected.problems), (fmt, [str(p) for p in rejected.problems])
                assert "only http:// and https://" in str(rejected), fmt
        cases = list(store.iter_cases())
        assert [c.title for c in cases] == ["A claim"]  # only the listing's, with the address as an outlet name
        for case in cases:
            assert _clickable(client.get(f"/cases/{case.id}").text) == []
    finally:
        app.state.service.close()
        store.close()


def _legacy_case() -> Case:
    """A case as an older release may have stored it: every URL field hostile."""
    return Case.model_validate({
        "id": "legacy-hostile", "title": "Hostile <script>alert(1)</script>", "url": EVIL,
        "summary": "See javascript:alert(2) and https://ok.example/a", "links": [EVIL, "https://ok.example/b"],
        "outlets": [{"name": "Outlet", "url": EVIL, "archive_url": "data:text/html,x"}, {"url": "vbscript:x"}],
        "published": "0001-01-01", "keywords": ["k"]}, context=STORED)


@pytest.fixture
def hostile_site(tmp_path: Path, seed_path: Path) -> Iterator[tuple[TestClient, SQLStore]]:
    store = open_store(str(tmp_path / "site.sqlite"))
    import_records(store, read_file(str(seed_path)))
    store.upsert(_legacy_case())
    app = create_app(store, "use-m", Settings(public_url="https://disinfo.example.org"))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client, store
    app.state.service.close()
    store.close()


def test_stored_hostile_urls_render_as_text(hostile_site: tuple[TestClient, SQLStore]) -> None:
    client, store = hostile_site
    assert store.get("legacy-hostile").url == EVIL  # still readable: old rows must not break reads
    response = client.get("/cases/legacy-hostile")
    assert response.status_code == 200
    assert _clickable(response.text) == []
    assert "javascript:fetch" in parse(response.text).text  # shown, as text
    assert 'href="https://ok.example/b"' in response.text


def test_exports_pass_no_hostile_url_on(hostile_site: tuple[TestClient, SQLStore]) -> None:
    client, _ = hostile_site
    claimreview = client.get("/api/export", params={"format": "claimreview"}).json()
    [review] = [r for r in claimreview if r["identifier"] == "legacy-hostile"]
    assert review["citation"] == ["https://ok.example/b"] and "url" not in review
    appearances = review["itemReviewed"]["appearance"]
    assert [(a.get("url"), a.get("archivedAt")) for a in appearances] == [(None, None), (None, None)]
    assert [a["name"] for a in appearances] == ["Outlet", "vbscript:x"]  # an address kept as text only


def test_every_html_page_carries_the_security_headers(hostile_site: tuple[TestClient, SQLStore]) -> None:
    client, _ = hostile_site
    for path in ("/", "/?q=nato", "/cases/legacy-hostile", "/check", "/login", "/narratives", "/trends",
                 "/cooccurrence", "/review", "/docs", "/no-such-page"):
        response = client.get(path)
        assert response.headers["content-type"].startswith("text/html"), path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert response.headers["x-frame-options"] == "DENY", path
        root = parse(response.text)
        # no inline JS; a JSON-LD data block (the case page's ClaimReview) is data, never run
        assert not [s for s in root.find_all("script") if s.get("type") != "application/ld+json"
                    and (not s.get("src") or s.text.strip())], path
        assert not [e for e in root.find_all() if e.get("style") or any(k.startswith("on") for k in e.attrs)], path
        assert not root.find_all("style"), path
    api = client.get("/api/cases")
    assert api.headers["x-content-type-options"] == "nosniff" and "content-security-policy" not in api.headers


def test_no_page_takes_links_from_the_host_header(hostile_site: tuple[TestClient, SQLStore]) -> None:
    """Stylesheets, scripts and links are site-relative or the configured public URL: a
    Host header (which any client sets and a cache may keep) never becomes a link."""
    client, _ = hostile_site
    for path in ("/", "/cases/legacy-hostile", "/check", "/docs", "/review", "/feed.xml", "/narratives"):
        response = client.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 200, path
        assert "evil.example" not in response.text, path


def test_the_api_docs_load_nothing_from_elsewhere(hostile_site: tuple[TestClient, SQLStore]) -> None:
    client, _ = hostile_site
    docs = parse(client.get("/docs").text)
    sources = [s.get("src") for s in docs.find_all("script")] + [s.get("href") for s in docs.find_all("link")]
    assert sources and all(s.startswith("/static/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source


# -- a query that starves others -------------------------------------------------------------


def test_repeated_terms_are_dropped_before_the_limits() -> None:
    parsed = parse_query(" OR ".join(["nato*"] * 64) + " Russia russia RUSSIA -ukraine -Ukraine")
    assert parsed is not None
    assert parsed.groups == [[("nato", True)], [("Russia", False)]] and parsed.excluded == [("ukraine", False)]


@pytest.mark.parametrize(("query", "message"), [
    (" OR ".join(["t*"] * 64), f"the prefix t* is too short: a prefix needs at least {MIN_PREFIX_CHARS}"),
    ("nat* rus* ukr* wes* eur*", f"5 prefix* terms: at most {MAX_PREFIXES} are allowed"),
    (" OR ".join(f"word{i}" for i in range(MAX_TERMS + 1)), f"at most {MAX_TERMS} are allowed"),
])
def test_costly_queries_are_refused_naming_the_limit(query: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=message.replace("*", r"\*")):
        parse_query(query)


def test_the_api_refuses_the_probe_query_with_a_400(hostile_site: tuple[TestClient, SQLStore]) -> None:
    client, _ = hostile_site
    response = client.get("/api/cases", params={"q": " OR ".join(["t*"] * 64)})
    assert response.status_code == 400 and "too short" in response.json()["detail"]


def test_a_search_past_its_time_limit_is_stopped(real_store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite interrupts the statement (a watchdog thread, not a callback into Python);
    the connection stays usable. (PostgreSQL's statement_timeout: test_postgres.py.) FTS5
    ranks here: once the session's ranking index is current, NumPy ranks this query in
    milliseconds outside any statement, and the limit has nothing to stop."""
    monkeypatch.setattr(real_store, "rank_index_from", 10**9)
    assert_search_stops(real_store, monkeypatch)


def test_anonymous_search_time_is_budgeted_per_address(tmp_path: Path, seed_path: Path) -> None:
    """An address that spends its search time gets 429 + Retry-After; a signed-in
    user and other addresses go on."""
    store = open_store(str(tmp_path / "budget.sqlite"))
    import_records(store, read_file(str(seed_path)))
    Accounts(store).add_user("rita", Role.READER)
    token = Accounts(store).create_token("rita")
    app = create_app(store, "use-m", Settings(search_seconds_per_minute=0.001))
    service: Service = app.state.service
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            first = client.get("/api/cases", params={"q": "Kazakhstan"})
            assert first.status_code == 200  # the budget starts full; this search spends more than it
            refused = client.get("/api/cases", params={"q": "Kazakhstan"})
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert "anonymous search time" in refused.json()["detail"]
            assert client.get("/", params={"q": "Kazakhstan"}).status_code == 429  # the pages share the budget
            signed_in = client.get("/api/cases", params={"q": "Kazakhstan"},
                                   headers={"Authorization": f"Bearer {token}"})
            assert signed_in.status_code == 200
            assert client.get(f"/api/cases/{next(store.iter_cases()).id}").status_code == 200  # other reads go on
            service.search_budget.charge("ip:testclient", -1.0)  # a refund stands in for the minute passing
            assert client.get("/api/cases", params={"q": "Kazakhstan"}).status_code == 200
    finally:
        service.close()
        store.close()


# -- implausible dates --------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "9999-12-31"])
def test_implausible_dates_are_refused(day: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Case.model_validate({"title": "t", "published": day})
    earliest, latest = plausible_dates()
    assert f"{day} is outside the plausible publication dates {earliest}..{latest}" in str(caught.value)


def test_the_plausible_range_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISINFODB_EARLIEST_DATE", "2000-01-01")
    monkeypatch.setenv("DISINFODB_FUTURE_DAYS", "0")
    assert plausible_dates() == (date(2000, 1, 1), date.today())
    with pytest.raises(ValidationError, match="outside the plausible"):
        Case.model_validate({"title": "t", "published": "1999-12-31"})


def test_stored_implausible_dates_do_not_amplify_pages(hostile_site: tuple[TestClient, SQLStore]) -> None:
    """Two cases dated 0001-01-01 and 9999-12-31 (stored by an older release) made
    /narratives weigh 100 MB; charts are clipped to plausible dates and a bounded span."""
    client, store = hostile_site
    store.upsert(Case.model_validate({"id": "far-future", "title": "Far future", "published": "9999-12-31"},
                                     context=STORED))
    for path, params in (("/narratives", {}), ("/trends", {"period": "week"}), ("/api/trends", {"period": "week"})):
        response = client.get(path, params=params)
        assert response.status_code == 200, path
        assert len(response.content) < 1_000_000, (path, len(response.content))
    points = client.get("/api/trends", params={"period": "year"}).json()["points"]
    assert {p["start"][:4] for p in points} == {"2022"}  # the seed cases' year only


# -- reads never wait for the writer -------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_token_and_session_reads_never_wait_for_the_writer(backend: str, request: pytest.FixtureRequest,
                                                           tmp_path: Path) -> None:
    """While another request holds the writer (an import, for minutes), a token's request
    and a signed-in page are answered: last use is recorded off the request path."""
    location = str(tmp_path / "w.sqlite") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    store = open_store(location)
    accounts = Accounts(store)
    accounts.add_user("ed", Role.EDITOR, "a-password")
    token = accounts.create_token("ed")
    session = accounts.start_session("ed")
    app = create_app(store, "use-m")
    service: Service = app.state.service
    holding, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:
        with service.writer.transaction():
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_writer)
    holder.start()
    try:
        assert holding.wait(10)
        with TestClient(app) as client:
            answers: list[httpx.Response] = []
            client.cookies.set("disinfodb_session", session)
            asker = threading.Thread(target=lambda: answers.extend([
                client.get("/api/me", headers={"Authorization": f"Bearer {token}"}), client.get("/check")]))
            asker.start()
            asker.join(10)
            assert not asker.is_alive(), "a read waited for the writer"
            assert answers[0].status_code == 200 and answers[0].json()["name"] == "ed"
            assert answers[1].status_code == 200 and "Sign out" in answers[1].text
    finally:
        release.set()
        holder.join()
    assert service.accounts.flush_uses() == 1  # the use is written once the writer is free
    assert Accounts(store).tokens()[0].last_used_at is not None
    service.close()
    store.close()


# -- spreadsheet formulas --------------------------------------------------------------------------


FORMULAS = ["=HYPERLINK(\"https://evil.example\",\"click\")", "+1+1", "-2+3", "@SUM(A1:A9)", "'=already quoted"]


def test_csv_export_neutralises_formulas_and_import_restores_them(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "f.sqlite"))
    for n, text in enumerate(FORMULAS):
        store.upsert(Case(id=f"f{n}", title=text, summary=text, keywords=[text.replace(";", "")]))
    out = io.StringIO()
    export_cases("csv", store.iter_cases(), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    for row in rows:
        for column in ("title", "summary", "keywords"):
            assert not row[column].startswith(("=", "+", "-", "@")), (column, row[column])
    raw = io.StringIO()
    export_cases("csv", store.iter_cases(), raw, raw_csv=True)
    assert {r["title"] for r in csv.DictReader(io.StringIO(raw.getvalue()))} == set(FORMULAS)
    path = tmp_path / "export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    copy = open_store(str(tmp_path / "copy.sqlite"))
    import_records(copy, read_file(str(path)))
    assert sorted(c.title for c in copy.iter_cases()) == sorted(FORMULAS)  # the round trip restores the text
    assert {c.summary for c in copy.iter_cases()} == set(FORMULAS)
    store.close()
    copy.close()


def test_the_api_export_neutralises_by_default(hostile_site: tuple[TestClient, SQLStore]) -> None:
    client, store = hostile_site
    store.upsert(Case(id="formula", title="=cmd|' /C calc'!A0"))
    neutral = client.get("/api/export", params={"format": "csv"}).text
    assert "formula,,'=cmd|" in neutral and "formula,,=cmd|" not in neutral
    raw = client.get("/api/export", params={"format": "csv", "raw_csv": "true"}).text
    assert "formula,,=cmd|" in raw


# -- unbounded lists ------------------------------------------------------------------------------


def test_oversized_lists_are_refused_by_every_reader_that_has_them(tmp_path: Path) -> None:
    keywords = [f"k{i}" for i in range(300_000)]
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text(json.dumps({"title": "Many keywords", "keywords": keywords}) + "\n")
    own_csv = tmp_path / "big.csv"
    own_csv.write_text("title,keywords\nMany keywords," + ";".join(keywords) + "\n")
    scrape = tmp_path / "scrape.csv"
    scrape.write_text("date,id,title,countries,keywords,languages,outlets\n"
                      "2021-01-02,https://euvsdisinfo.eu/report/x/,Many keywords,Russia," + "+".join(keywords)
                      + ",Russian,o\n")
    claimreview = tmp_path / "big.jsonld"
    claimreview.write_text(json.dumps({"@type": "ClaimReview", "name": "Many keywords", "keywords": keywords}))
    store = open_store(str(tmp_path / "lists.sqlite"))
    for path in (jsonl, own_csv, scrape, claimreview):
        with pytest.raises(ImportRejected) as caught:
            import_records(store, read_file(str(path)))
        [problem] = caught.value.problems
        assert problem.location.field == "keywords" and problem.location.line in (1, 2), str(problem)
        assert "300,000 keywords given: at most 100 are allowed" in problem.message
    assert store.count() == 0
    store.close()


def test_deleting_or_editing_a_case_removes_terms_no_case_carries(seed_store: SQLStore) -> None:
    def terms() -> int:
        return int(raw(seed_store).execute("SELECT count(*) FROM terms").fetchone()[0])

    before = terms()
    stored = seed_store.create(Case(title="Tagged", keywords=[f"unique keyword {i}" for i in range(100)]))
    assert terms() == before + 100
    seed_store.replace(stored.id, stored.model_copy(update={"keywords": ["Colour revolutions"]}))  # a seed keyword
    assert terms() == before
    seed_store.delete(stored.id)
    assert terms() == before
    assert seed_store.search(SearchQuery(keywords=("unique keyword 1",))).total == 0


# -- misleading refusals ---------------------------------------------------------------------------


def test_every_id_refusal_names_the_rule_that_failed() -> None:
    snopes = "vclaim-sno-" + "x" * 120
    messages = {
        snopes: "id is 131 characters long: at most 100 are allowed",
        "Snopes_123": "may only hold lowercase ascii letters, digits and -, not 'S' '_'",
        "a--b": "must not start or end with - nor hold --",
    }
    for value, message in messages.items():
        with pytest.raises(ValidationError, match=message):
            Case(title="t", id=value)


# -- /api/match reads no more than a text -----------------------------------------------------------


def test_match_bodies_over_the_text_limit_are_refused_before_reading(hostile_site: tuple[TestClient, SQLStore]
                                                                     ) -> None:
    client, _ = hostile_site
    limit = Settings().max_match_body_bytes
    declared = client.post("/api/match", content=b"{}", headers={"Content-Length": str(limit + 1),
                                                                  "Content-Type": "application/json"})
    assert declared.status_code == 413 and f"{limit:,} bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(limit // 65_536 + 2):
            yield b"a" * 65_536
        yield b'"}'

    chunked = client.post("/api/match", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert client.post("/api/import", content=b"x" * (limit + 1)).status_code != 413  # others keep the upload limit


# -- blind overwrites from the editor ----------------------------------------------------------------


def test_an_edit_form_without_its_version_saves_nothing(tmp_path: Path, seed_path: Path) -> None:
    store = open_store(str(tmp_path / "e.sqlite"))
    import_records(store, read_file(str(seed_path)))
    Accounts(store).add_user("ed", Role.EDITOR, "a-password")
    case = next(store.iter_cases())
    app = create_app(store, "use-m")
    with TestClient(app, follow_redirects=False) as client:
        client.get("/login")
        csrf = client.cookies["disinfodb_csrf"]
        assert client.post("/login", data={"name": "ed", "password": "a-password", "csrf": csrf}).status_code == 303
        form = {"title": case.title, "summary": "Overwritten blindly", "csrf": csrf}
        response = client.post(f"/cases/{case.id}/edit", data=form)
        assert response.status_code == 428
        assert f"version {case.version} now" in response.text and "nothing was saved" in response.text
        assert store.get(case.id).summary == case.summary
        deleted = client.post(f"/cases/{case.id}/delete", data={"csrf": csrf})
        assert deleted.status_code == 428 and store.get(case.id).version == case.version
    app.state.service.close()
    store.close()


# -- proxy headers and Retry-After, on a real server -------------------------------------------------


def _serve(db: str, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "disinfodb", "serve", "--db", db, "--port", str(port),
                               "--model", "use-m", *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/login", timeout=5)
            return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError("the server did not start")


def _sign_in_statuses(base: str, spoof: bool) -> list[httpx.Response]:
    answers = []
    with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as client:
        client.get("/login")
        csrf = client.cookies["disinfodb_csrf"]
        for n in range(14):
            headers = {"X-Forwarded-For": f"203.0.113.{n + 1}"} if spoof else {}
            answers.append(client.post("/login", data={"name": "ed", "password": f"guess-{n}", "csrf": csrf},
                                       headers=headers))
    return answers


def test_forwarded_addresses_are_trusted_only_from_configured_proxies(tmp_path: Path) -> None:
    """By default X-Forwarded-For is ignored (it bypassed the sign-in limit); the sign-in
    429 has Retry-After. With --forwarded-allow-ips the proxy's addresses count."""
    db = str(tmp_path / "proxy.sqlite")
    store = open_store(db)
    Accounts(store).add_user("ed", Role.EDITOR, "a-password")
    store.close()
    server, base = _serve(db)
    try:
        answers = _sign_in_statuses(base, spoof=True)
        assert [a.status_code for a in answers].count(401) == Settings().login_per_minute
        limited = [a for a in answers if a.status_code == 429]
        assert limited and all(int(a.headers["retry-after"]) >= 1 for a in limited)
    finally:
        server.terminate()
        server.wait(10)
    server, base = _serve(db, "--forwarded-allow-ips", "127.0.0.1")
    try:
        assert {a.status_code for a in _sign_in_statuses(base, spoof=True)} == {401}  # each address its own limit
    finally:
        server.terminate()
        server.wait(10)

