"""Weekly review digests over the real 2015-2017 scrape (issue 82: its last issue): the
library, the Markdown / standalone HTML / Atom renderers, the command and the pages."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from conftest import CSV_2017, raw, require
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt
from typer.testing import CliRunner
from web_support import Element, copy_db, parse

from disinfodb.cases import STORED, Case, Outlet
from disinfodb.cli import app
from disinfodb.errors import CaseNotFound, DisinfoError, ReviewNotFound
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.review import Digest, atom_feed, build_digest, review_issues, to_html, to_markdown
from disinfodb.review.render import md_escape
from disinfodb.search import SearchQuery
from disinfodb.server.app import create_app
from disinfodb.server.service import Service, Settings
from disinfodb.store import SQLStore, open_store
from disinfodb.vocab import fold

ISSUE = 82  # the last issue of the 2015-2017 file
MISSING = 83
BASE = "https://review.example.org"
NS = {"a": "http://www.w3.org/2005/Atom"}
XSS = "<script>alert(1)</script> *not bold* [no](link)"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
runner = CliRunner(env={"COLUMNS": "200", "DISINFODB_DB": None, "DISINFODB_BASE_URL": None})


@pytest.fixture(scope="module")
def review_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole 2015-2017 file (2,769 cases, ~2 s to import), shared read-only by the module."""
    path = tmp_path_factory.mktemp("review") / "review.sqlite"
    store = open_store(str(path))
    try:
        report = import_records(store, read_file(str(require(CSV_2017))))
        assert report.created == store.count() > 2700
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def store(review_db: Path) -> Iterator[SQLStore]:
    opened = open_store(str(review_db))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def digest(store: SQLStore) -> Digest:
    return build_digest(store, ISSUE)


@pytest.fixture
def private_store(review_db: Path, tmp_path: Path) -> Iterator[SQLStore]:
    """A private copy, for tests that write."""
    opened = copy_db(review_db, tmp_path / "copy.sqlite")
    yield opened
    opened.close()


def _add_case(store: SQLStore, title: str, **fields: object) -> Case:
    _outcome, stored = store.upsert(Case.model_validate({"title": title, "issue": ISSUE, **fields}))
    return stored


# -- the digest -------------------------------------------------------------------------------


def test_digest_holds_every_case_of_the_issue(store: SQLStore, digest: Digest) -> None:
    total = store.search(SearchQuery(issues=(ISSUE,))).total
    assert total > 20
    assert len(digest.cases) == total
    assert len({c.id for c in digest.cases}) == total
    assert all(c.issue == ISSUE for c in digest.cases)
    dates = [c.published for c in digest.cases if c.published]
    assert (digest.first, digest.last) == (min(dates), max(dates))
    assert digest.period == "15 Sep – 3 Oct 2017"


def test_counts_and_top_countries_and_languages(digest: Digest) -> None:
    assert sum(n for _, n in digest.countries) == sum(len(c.countries) for c in digest.cases)
    assert sum(n for _, n in digest.languages) == sum(len(c.languages) for c in digest.cases)
    counts = [n for _, n in digest.countries]
    assert counts == sorted(counts, reverse=True)
    russia = sum(1 for c in digest.cases if "Russia" in c.countries)
    assert digest.top_countries[0] == ("Russia", russia)
    russian = sum(1 for c in digest.cases if "ru" in c.languages)
    assert digest.top_languages[0] == ("Russian", russian)  # shown by name, not ISO code
    assert {name for name, _ in digest.top_languages} >= {"Russian", "Czech"}
    assert len(digest.top_countries) == 5
    assert digest.lead.startswith(f"{len(digest.cases)} cases published 15 Sep – 3 Oct 2017, in 4 languages")


def test_groups_cover_every_case_once_largest_first(digest: Digest) -> None:
    grouped = [c.id for g in digest.groups for c in g.cases]
    assert sorted(grouped) == sorted(c.id for c in digest.cases)  # each case exactly once
    named = [g for g in digest.groups if g.kind != "other"]
    sizes = [len(g.cases) for g in named]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] >= 3
    assert [g.kind for g in digest.groups].count("other") <= 1
    if any(g.kind == "other" for g in digest.groups):
        assert digest.groups[-1].heading == "Other cases"
    for group in named:  # no narratives in this database: keyword groups, each saying so
        assert group.kind == "keyword" and group.heading == f"Keyword: {group.name}"
        assert len(group.cases) >= 2
        assert all(group.key in {fold(k) for k in c.keywords} for c in group.cases)
    daesh = digest.groups[0]
    assert daesh.name == "Daesh" and len(daesh.cases) == 5
    assert len({g.anchor for g in digest.groups}) == len(digest.groups)


def test_narratives_come_first_and_merged_ones_resolve(private_store: SQLStore, digest: Digest) -> None:
    """Cases in a narrative are grouped by it (a merged narrative counts as the one it joined);
    a narrative with one case in the issue makes no group, but the case names it."""
    daesh = [c.id for c in digest.groups[0].cases]
    lone = next(c for c in digest.groups[-1].cases)  # one of the "Other cases"
    db = raw(private_store)
    with private_store.transaction():
        for nid, name, merged in (("n1", "The West breeds terrorists", None), ("n2", None, "n1"),
                                  ("n3", "A lone storyline", None)):
            db.execute("INSERT INTO narratives (id, label, name, terms, keywords, size, merged_into, created_at,"
                       " updated_at) VALUES (?, 'daesh, us', ?, '[]', '[]', 0, ?, 'now', 'now')", (nid, name, merged))
        for case_id, nid in zip([*daesh[:4], lone.id], ("n1", "n1", "n1", "n2", "n3"), strict=True):
            db.execute("INSERT INTO case_narratives (case_pk, narrative_id) VALUES (?, ?)",
                       (private_store.pk_of(case_id), nid))
        db.execute("INSERT INTO themes (id, label, keywords, size, narratives, created_at, updated_at)"
                   " VALUES ('t1', 'Daesh · Terrorism · <US>', '[]', 4, 1, 'now', 'now')")
        db.execute("INSERT INTO narrative_themes (narrative_id, theme_id) VALUES ('n1', 't1')")
    grouped = build_digest(private_store, ISSUE)
    first = grouped.groups[0]
    assert first.kind == "narrative" and first.heading == "Narrative: The West breeds terrorists"
    assert first.theme == "Daesh · Terrorism · <US>"  # the level above, named in the group
    assert "\nTheme: Daesh · Terrorism · \\<US\\>\n" in to_markdown(grouped, BASE)
    assert "Theme: Daesh · Terrorism · &lt;US&gt;</p>" in to_html(grouped, BASE)
    assert sorted(c.id for c in first.cases) == sorted(daesh[:4])
    assert [g.kind for g in grouped.groups].count("narrative") == 1
    rest = [c.id for g in grouped.groups[1:] for c in g.cases]
    assert not set(rest) & set(daesh[:4]) and len(rest) + 4 == len(grouped.cases)
    assert lone.id in rest and grouped.narratives[lone.id] == "A lone storyline"
    text = to_markdown(grouped, BASE)
    assert "## Narrative: The West breeds terrorists (4 cases)" in text
    assert text.count("narrative: A lone storyline") == 1
    assert "narrative: The West" not in text  # its group already says so
    assert "narrative: A lone storyline" in to_html(grouped, BASE)


def test_unknown_or_empty_issue_is_a_clear_error(store: SQLStore) -> None:
    with pytest.raises(ReviewNotFound) as raised:
        build_digest(store, MISSING)
    message = str(raised.value)
    assert f"no cases are reported in review issue {MISSING}" in message
    assert "82 (26 cases)" in message and "81 (21 cases)" in message  # the nearest issues
    assert isinstance(raised.value, DisinfoError) and isinstance(raised.value, CaseNotFound)
    with pytest.raises(ReviewNotFound, match="review issue 0;"):
        build_digest(store, 0)


def test_review_issues_newest_first(store: SQLStore) -> None:
    issues = review_issues(store)
    numbers = [i.issue for i in issues]
    assert numbers == sorted(numbers, reverse=True) and numbers[0] == ISSUE
    assert issues[0].cases == store.search(SearchQuery(issues=(ISSUE,))).total
    assert sum(i.cases for i in issues) == sum(1 for c in store.iter_cases() if c.issue is not None)


# -- Markdown and HTML ----------------------------------------------------------------------


def test_markdown_has_every_case_and_renders(digest: Digest) -> None:
    text = to_markdown(digest, BASE)
    assert text.startswith(f"# Disinformation Review {ISSUE}\n")
    for case in digest.cases:
        assert f"### {md_escape(case.title)}\n" in text
        assert f"(<{BASE}/cases/{case.id}>)" in text
    assert text.count("\n### ") == len(digest.cases)
    assert text.count("**Disproof:**") == sum(1 for c in digest.cases if c.disproof)
    for group in digest.groups:
        assert f"\n## {group.heading} ({len(group.cases)} cases)\n" in text
    assert "EUvsDisinfo" in text
    html = MarkdownIt("commonmark").render(text)
    rendered = parse(html)
    assert [h.text for h in rendered.find_all("h3")] == [c.title for g in digest.groups for c in g.cases]
    assert "disinfo_issue=&amp;date=" in html  # URLs in disproofs stay intact, as links


def test_markdown_escapes_what_data_could_inject(private_store: SQLStore) -> None:
    _add_case(private_store, XSS, summary="1. not a list\n# not a heading", published="2017-10-01")
    text = to_markdown(build_digest(private_store, ISSUE), BASE)
    assert "\\<script\\>alert(1)\\</script\\> \\*not bold\\* \\[no\\](link)" in text
    html = MarkdownIt("commonmark").render(text)
    assert "<script>" not in html and "<em>not bold" not in html and '<a href="link"' not in html
    assert XSS_ESCAPED in html
    assert "<ol" not in html and "<h1>not" not in html


def test_standalone_html_has_every_case_and_nothing_external(digest: Digest) -> None:
    page = to_html(digest, BASE)
    root = parse(page)
    assert root.find("title").text == f"Disinformation Review {ISSUE} · 15 Sep – 3 Oct 2017"
    assert root.find("style").text  # its own CSS
    lowered = page.lower()
    for external in ("<script", "<link", "src=", "@import", "url("):
        assert external not in lowered
    titles = [h.text for h in root.find_all("h3")]
    assert titles == [c.title for g in digest.groups for c in g.cases]
    links = {a.text: a.get("href") for a in root.find_all("h3") for a in a.find_all("a")}
    assert all(href.startswith(f"{BASE}/cases/") for href in links.values())
    headings = [h.text for h in root.find_all("section", cls="review-group")[0].find_all("h2")]
    assert headings == [f"Keyword Daesh {len(digest.groups[0].cases)} cases"]
    anchors = {a.get("href") for a in root.find("nav", cls="review-toc").find_all("a")}
    assert anchors == {f"#{g.anchor}" for g in digest.groups}


def test_standalone_html_escapes_everything(private_store: SQLStore) -> None:
    # A javascript: URL is refused when a case is written now; one stored by an older release must not become a link.
    legacy = Outlet.model_validate({"name": "<b>Outlet</b>", "url": "javascript:alert(3)"}, context=STORED)
    _add_case(private_store, XSS, summary='<img src=x onerror="alert(2)"> see https://example.org/a?b=1&c=2',
              outlets=[legacy], published="2017-10-01")
    page = to_html(build_digest(private_store, ISSUE), BASE)
    assert XSS_ESCAPED in page and "<script>" not in page
    assert "&lt;img src=x" in page and "<img" not in page
    assert "&lt;b&gt;Outlet&lt;/b&gt;" in page and "javascript:" not in page
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">' in page


# -- Atom -----------------------------------------------------------------------------------


def _entries(feed: str) -> list[ET.Element]:
    root = ET.fromstring(feed)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    for tag in ("id", "title", "updated", "author/a:name"):
        assert (root.findtext(f"a:{tag}", namespaces=NS) or "").strip(), tag
    return root.findall("a:entry", NS)


def test_atom_feed_entries_newest_first(store: SQLStore) -> None:
    feed = atom_feed(store, 10, BASE)
    assert feed.startswith("<?xml version='1.0' encoding='utf-8'?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    entries = _entries(feed)
    ids = [e.findtext("a:id", namespaces=NS) for e in entries]
    assert ids == [f"{BASE}/review/{n}" for n in range(ISSUE, ISSUE - 10, -1)]
    published = [datetime.fromisoformat(e.findtext("a:published", namespaces=NS) or "") for e in entries]
    assert published == sorted(published, reverse=True)
    for entry in entries:
        datetime.fromisoformat(entry.findtext("a:updated", namespaces=NS) or "")  # RFC 3339
        assert entry.find("a:link[@rel='alternate'][@type='text/html']", NS) is not None
    first = entries[0]
    assert (first.findtext("a:title", namespaces=NS) or "").startswith(f"Disinformation Review {ISSUE}: 26 cases")
    content = first.find("a:content", NS)
    assert content is not None and content.get("type") == "html"
    assert "Keyword: Daesh" in (content.text or "") and "<li>" in (content.text or "")
    assert "Most discussed: Russia" in (first.findtext("a:summary", namespaces=NS) or "")


def test_atom_feed_up_to_an_issue(store: SQLStore) -> None:
    entries = _entries(atom_feed(store, 3, BASE, up_to=80))
    assert [e.findtext("a:id", namespaces=NS) for e in entries] == [f"{BASE}/review/{n}" for n in (80, 79, 78)]
    with pytest.raises(ReviewNotFound):
        atom_feed(store, 3, BASE, up_to=MISSING)


# -- the command ----------------------------------------------------------------------------


def test_cli_review_markdown_html_and_atom(review_db: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["review", str(ISSUE), "--db", str(review_db)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# Disinformation Review {ISSUE}\n")
    assert "(<http://127.0.0.1:8000/cases/" in result.stdout
    target = tmp_path / "review.html"
    result = runner.invoke(app, ["review", str(ISSUE), "--db", str(review_db), "--format", "html",
                                 "--out", str(target), "--base-url", BASE + "/"])
    assert result.exit_code == 0, result.output
    assert "26 cases" in result.stderr and str(target) in result.stderr
    assert f'href="{BASE}/cases/' in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["review.html"]  # no partial file left
    result = runner.invoke(app, ["review", "80", "-f", "atom", "--entries", "2", "--db", str(review_db)])
    assert result.exit_code == 0, result.output
    assert len(_entries(result.stdout)) == 2


def test_cli_unknown_issue_exits_1_with_the_reason(review_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    result = runner.invoke(app, ["review", str(MISSING), "--db", str(review_db), "--out", str(target)])
    assert result.exit_code == 1
    assert f"no cases are reported in review issue {MISSING}" in " ".join(result.stderr.split())
    assert not target.exists()
    result = runner.invoke(app, ["review", str(ISSUE), "--db", str(review_db), "--base-url", "ftp://x"])
    assert result.exit_code == 1 and "must start with http" in result.stderr
    result = runner.invoke(app, ["review", str(ISSUE), "--db", str(review_db), "--format", "pdf"])
    assert result.exit_code == 2


# -- the pages ------------------------------------------------------------------------------


@pytest.fixture
def client(private_store: SQLStore) -> Iterator[TestClient]:
    site = create_app(private_store, "use-m", Settings(public_url=BASE))
    service: Service = site.state.service
    with TestClient(site, raise_server_exceptions=False, follow_redirects=False) as test_client:
        yield test_client
    service.close()


def _main(response: httpx.Response, status: int = 200) -> Element:
    assert response.status_code == status, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("text/html")
    return parse(response.text).find("main")


def test_review_index_page(client: TestClient, store: SQLStore) -> None:
    main = _main(client.get("/review"))
    rows = main.find("tbody").find_all("tr")
    issues = review_issues(store)
    assert len(rows) == len(issues)
    assert [r.find("a").text for r in rows[:3]] == ["Issue 82", "Issue 81", "Issue 80"]
    assert rows[0].find("td", cls="num").text == "26"
    assert main.links()["Atom feed"] == "/feed.xml"


def test_review_page(client: TestClient, digest: Digest) -> None:
    main = _main(client.get(f"/review/{ISSUE}"))
    assert main.find("h1").text == f"Disinformation Review {ISSUE}"
    assert [h.text for h in main.find_all("h3")] == [c.title for g in digest.groups for c in g.cases]
    links = main.links()
    assert links["Download Markdown (.md)"] == f"/review/{ISSUE}.md"
    assert links["Download standalone page (.html)"] == f"/review/{ISSUE}.html"
    assert links["← Issue 81"] == "/review/81"
    first_case = digest.groups[0].cases[0]
    assert links[first_case.title] == f"/cases/{first_case.id}"
    assert _main(client.get(links[first_case.title])).find("h1").text.endswith(first_case.title)

    markdown = client.get(f"/review/{ISSUE}.md")
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith(f"# Disinformation Review {ISSUE}")
    assert f"(<{BASE}/cases/" in markdown.text
    standalone = client.get(f"/review/{ISSUE}.html")
    assert standalone.status_code == 200 and standalone.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in standalone.headers["content-security-policy"]
    assert parse(standalone.text).find("style").text and "<link" not in standalone.text


def test_review_page_escapes_titles(client: TestClient, private_store: SQLStore) -> None:
    _add_case(private_store, XSS, published="2017-10-01")
    response = client.get(f"/review/{ISSUE}")
    assert XSS_ESCAPED in response.text and "<script>alert" not in response.text
    assert XSS in [h.text for h in _main(response).find_all("h3")]


def test_unknown_issue_pages_are_404(client: TestClient) -> None:
    main = _main(client.get(f"/review/{MISSING}"), 404)
    assert f"no cases are reported in review issue {MISSING}" in main.text
    assert client.get(f"/review/{MISSING}.md").status_code == 404
    assert client.get(f"/review/{MISSING}.html").status_code == 404
    assert client.get("/review/latest").status_code == 404


def test_feed_xml(client: TestClient) -> None:
    response = client.get("/feed.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    entries = _entries(response.text)
    assert [e.findtext("a:id", namespaces=NS) for e in entries][:2] == [f"{BASE}/review/82", f"{BASE}/review/81"]


def test_absolute_links_never_come_from_the_host_header(client: TestClient) -> None:
    """A client's Host header must not become the links a feed reader or a cache keeps."""
    hostile = {"Host": "evil.example"}
    for path in ("/feed.xml", f"/review/{ISSUE}.md", f"/review/{ISSUE}.html"):
        response = client.get(path, headers=hostile)
        assert response.status_code == 200, path
        assert "evil.example" not in response.text, path
        assert BASE in response.text, path


def test_private_instance_needs_sign_in_for_reviews(private_store: SQLStore) -> None:
    site = create_app(private_store, "use-m", Settings(private=True))
    with TestClient(site, raise_server_exceptions=False, follow_redirects=False) as test_client:
        for path in ("/review", f"/review/{ISSUE}", f"/review/{ISSUE}.md", "/feed.xml"):
            response = test_client.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    site.state.service.close()
