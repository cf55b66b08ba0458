"""The real 2015-2017 cases copied into PostgreSQL give the same answers as on SQLite:
search, matching, narratives, trends, the weekly review and the API. Also the copy
itself (`disinfodb migrate`), and backups and restores of a PostgreSQL database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import Claims2017, assert_search_stops
from fastapi.testclient import TestClient
from pg_cluster import PostgresCluster
from typer.testing import CliRunner

from disinfodb.accounts import Accounts
from disinfodb.cases import Case
from disinfodb.cli import app
from disinfodb.embed import load_embedders
from disinfodb.errors import BackupError, DatabaseUnavailable, DisinfoError, TransferError
from disinfodb.matching import Matcher
from disinfodb.narratives import NarrativeBook, build_narratives
from disinfodb.rebuttals import rebuttal_index
from disinfodb.review import build_digest, to_markdown
from disinfodb.search import SearchQuery
from disinfodb.server.app import create_app
from disinfodb.store import SQLStore, open_store
from disinfodb.store.backup import backup, restore
from disinfodb.store.postgres import WRITE_LOCK, PostgresStore
from disinfodb.store.transfer import census, copy_database
from disinfodb.trends import cooccurrence, series

QUERIES = [
    SearchQuery(text="MH17"), SearchQuery(text='"biological weapons"'), SearchQuery(text="nato -ukraine"),
    SearchQuery(keywords=("Crimea",)), SearchQuery(countries=("Ukraine",), text="Poroshenko"),
    SearchQuery(languages=("ru",), per_page=50), SearchQuery(issues=(82,)),
]


@pytest.fixture(scope="module")
def both(claims_2017: Claims2017, postgres_cluster: PostgresCluster, postgres_template: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SQLStore, SQLStore]]:
    """The 2015-2017 cases (use-m vectors cached) in SQLite, and copied into PostgreSQL,
    each with narratives built from the same vectors."""
    sqlite_store = claims_2017.copy_to(tmp_path_factory.mktemp("pg") / "cases.sqlite")
    with postgres_cluster.temporary_database("real", template=postgres_template) as url:
        postgres = open_store(url)
        copy_database(sqlite_store, postgres)
        for store in (sqlite_store, postgres):
            build_narratives(store, "use-m")
        yield sqlite_store, postgres
        postgres.close()
    sqlite_store.close()


def test_a_search_past_its_time_limit_is_stopped(both: tuple[SQLStore, SQLStore],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """statement_timeout stops it; the transaction ends and the connection goes on."""
    assert_search_stops(both[1], monkeypatch)


def test_the_copy_is_whole_and_verified(both: tuple[SQLStore, SQLStore]) -> None:
    sqlite_store, postgres = both
    here, there = census(sqlite_store), census(postgres)
    assert here.rows == there.rows and there.rows["embeddings"] == 2 * postgres.count() > 5400  # use-m and e5
    # every table holds the same rows, but the narratives and themes each engine built since
    # (their timestamps differ; their memberships, in case_narratives and narrative_themes, do not)
    assert {t: d for t, d in here.digests.items() if t not in {"narratives", "themes"}} == \
        {t: d for t, d in there.digests.items() if t not in {"narratives", "themes"}}


def test_searches_agree(both: tuple[SQLStore, SQLStore]) -> None:
    """Filters and facets agree exactly; text matches may differ by a few cases where the
    engines tokenise differently, and ranking differs (bm25 vs cover density). Words the
    two stemmers treat differently are left out: FTS5's porter makes "fascists" and
    "fascism" one stem (734 matches in the real data), PostgreSQL's snowball two (127)."""
    sqlite_store, postgres = both
    for query in QUERIES:
        here, there = sqlite_store.search(query), postgres.search(query)
        if not query.text:
            assert (there.total, there.facets) == (here.total, here.facets), query
            assert [h.id for h in there.hits] == [h.id for h in here.hits], query
        else:
            assert abs(there.total - here.total) <= max(2, here.total // 20), (query, here.total, there.total)
            overlap = {h.id for h in there.hits} & {h.id for h in here.hits}
            assert here.hits and there.hits and len(overlap) >= min(len(here.hits), len(there.hits)) / 2, query


def test_snippets_mark_the_words_and_escape_the_rest(both: tuple[SQLStore, SQLStore]) -> None:
    _, postgres = both
    hits = postgres.search(SearchQuery(text="MH17 Buk")).hits
    assert hits and all("<mark>" in h.snippet.html() for h in hits[:5])
    postgres.upsert(Case(id="escaped", title="Escaping check",
                         summary="Fish & chips, 5 < 6, <script>alert(1)</script> in zanzibar tonight"))
    (hit,) = postgres.search(SearchQuery(text="zanzibar")).hits
    shown = hit.snippet.html()
    assert "&amp;" in shown and "&lt; 6" in shown and "<mark>zanzibar</mark>" in shown
    assert "<script" not in shown
    postgres.delete("escaped")


def test_matching_narratives_trends_and_review_agree(both: tuple[SQLStore, SQLStore]) -> None:
    sqlite_store, postgres = both
    embedders = load_embedders("use-m")
    text = "The downing of flight MH17 over Donbas was staged by the Ukrainian army."
    answers = [Matcher(store, embedders).match(text, limit=5)
               for store in (sqlite_store, postgres)]
    assert [(m.case_id, round(m.score, 4)) for m in answers[0]] == [(m.case_id, round(m.score, 4)) for m in answers[1]]
    books = [NarrativeBook(store) for store in both]
    assert [(n.id, n.size, n.label) for n in books[0].all()] == [(n.id, n.size, n.label) for n in books[1].all()]
    mh17 = series(postgres, "keyword", "MH17", period="year")
    assert mh17.points == series(sqlite_store, "keyword", "MH17", period="year").points and mh17.count > 0
    assert cooccurrence(postgres) == cooccurrence(sqlite_store)
    assert to_markdown(build_digest(postgres, 82)) == to_markdown(build_digest(sqlite_store, 82))
    assert rebuttal_index(postgres).shared() == rebuttal_index(sqlite_store).shared()


def test_narrative_edits_on_postgres(both: tuple[SQLStore, SQLStore]) -> None:
    _, postgres = both
    book = NarrativeBook(postgres)
    first, second = book.all()[:2]
    book.rename(first.id, "Renamed on PostgreSQL")
    book.pin(first.id)
    merged = book.merge(second.id, first.id)
    assert merged.size == first.size + second.size and book.get(second.id).id == first.id
    build_narratives(postgres, "use-m")
    assert book.get(first.id).title == "Renamed on PostgreSQL" and book.get(first.id).pinned


def test_the_api_serves_a_postgres_database(both: tuple[SQLStore, SQLStore]) -> None:
    _, postgres = both
    accounts = Accounts(postgres)
    accounts.add_user("pg-editor", "editor")
    token = accounts.create_token("pg-editor")
    with TestClient(create_app(postgres.reopen(), "use-m")) as client:
        found = client.get("/api/cases", params={"q": "MH17", "keyword": "MH17"}).json()
        assert found["total"] > 10
        case = client.get(f"/api/cases/{found['results'][0]['id']}").json()
        headers = {"Authorization": f"Bearer {token}"}
        edited = client.put(f"/api/cases/{case['id']}", json={**case, "title": case["title"] + " (edited)"},
                            headers=headers)
        assert edited.status_code == 200 and edited.json()["version"] == case["version"] + 1
        stale = client.put(f"/api/cases/{case['id']}", json=case, headers=headers)
        assert stale.status_code == 409 and stale.json()["errors"][0]["current_version"] == case["version"] + 1
        matched = client.post("/api/match", json={"text": "MH17 was shot down by a Ukrainian jet."}).json()
        assert matched["matches"] and "MH17" in matched["matches"][0]["title"]
        pages = {path: client.get(path) for path in ("/?q=MH17&keyword=MH17", f"/cases/{case['id']}",
                                                       "/narratives", "/narratives/n1", "/trends?keyword=MH17",
                                                       "/cooccurrence", "/review/82", "/feed.xml")}
        assert {path: page.status_code for path, page in pages.items()} == dict.fromkeys(pages, 200)
        assert "<mark>MH17</mark>" in pages["/?q=MH17&keyword=MH17"].text
        assert "(edited)" in pages[f"/cases/{case['id']}"].text
        nul = client.get("/api/cases/abc%00")  # PostgreSQL refuses NUL in text: a clear 400, not a 500
        assert nul.status_code == 400 and "refuses a value" in nul.json()["detail"]


def test_cli_migrate_both_ways_and_refuses_a_full_target(claims_2017: Claims2017, postgres_url: str,
                                                         tmp_path: Path) -> None:
    runner = CliRunner()
    there = runner.invoke(app, ["migrate", "--from", str(claims_2017.path), "--to", postgres_url, "--json"])
    assert there.exit_code == 0, there.output
    back = runner.invoke(app, ["migrate", "--from", postgres_url, "--to", f"sqlite:///{tmp_path / 'back.sqlite'}"])
    assert back.exit_code == 0, back.output
    assert "matches the source" in back.output
    again = runner.invoke(app, ["migrate", "--from", str(claims_2017.path), "--to", postgres_url])
    assert again.exit_code == 1 and "not empty" in again.output
    origin, copy = open_store(str(claims_2017.path)), open_store(str(tmp_path / "back.sqlite"))
    try:
        assert census(origin) == census(copy)
    finally:
        origin.close()
        copy.close()


def test_a_copy_into_a_full_target_is_refused(claims_2017: Claims2017, postgres_url: str) -> None:
    target = open_store(postgres_url)
    try:
        target.upsert(Case(id="already-here", title="A case in the target"))
        with pytest.raises(TransferError, match="not empty"):
            copy_database(claims_2017.store, target)
        assert target.count() == 1 and target.get("already-here")
    finally:
        target.close()


def test_a_copy_that_fails_midway_leaves_the_target_as_it_was(claims_2017: Claims2017, store: SQLStore) -> None:
    """On both engines: replacing a database whose copy breaks off (here: after the first
    batch of audit rows) keeps what it held."""
    store.upsert(Case(id="already-here", title="A case in the target", keywords=["Kept"]))
    before = census(store)

    def interrupt(table: str, copied: int) -> None:
        if table == "audit":
            raise RuntimeError("the network went away")

    with pytest.raises(RuntimeError, match="network"):
        copy_database(claims_2017.store, store, replace=True, progress=interrupt)
    assert census(store) == before and store.search(SearchQuery(keywords=("Kept",))).total == 1
    copy_database(claims_2017.store, store, replace=True)  # and the same copy then goes through
    assert census(store) == census(claims_2017.store)


def test_a_writer_that_loses_its_connection_while_waiting_for_the_lock_recovers(postgres_url: str) -> None:
    """A writer queued behind another writer's transaction loses its server session (an
    administrator, a restart): that write fails as unavailable, and the next one works."""
    store = open_store(postgres_url)
    holder = psycopg.connect(postgres_url, autocommit=True)
    observer = psycopg.connect(postgres_url, autocommit=True)
    try:
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        failures: list[BaseException] = []

        def write() -> None:
            try:
                store.upsert(Case(id="queued", title="A write that waits for the lock"))
            except DisinfoError as error:
                failures.append(error)

        assert isinstance(store, PostgresStore)
        pid = store._db.backend_pid
        writer = threading.Thread(target=write)
        writer.start()
        queued = False
        for _ in range(400):
            queued = bool(observer.execute("SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted",
                                           (pid,)).fetchall())
            if queued or not writer.is_alive():
                break
            time.sleep(0.05)
        assert queued, f"the writer never queued for the lock (alive: {writer.is_alive()}, failures: {failures})"
        observer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        writer.join(timeout=10)
        assert len(failures) == 1 and isinstance(failures[0], DatabaseUnavailable)
        holder.execute("COMMIT")
        store.upsert(Case(id="after", title="A write after the lost one"))
        assert store.count() == 1 and store.get("after")
    finally:
        observer.close()
        holder.close()
        store.close()


def test_backup_and_restore_a_postgres_database(claims_2017: Claims2017, postgres_cluster: PostgresCluster,
                                                 postgres_template: str, tmp_path: Path) -> None:
    with postgres_cluster.temporary_database("source", template=postgres_template) as url, \
            postgres_cluster.temporary_database("target", template=postgres_template) as target_url:
        source = open_store(url)
        copy_database(claims_2017.store, source)
        source.upsert(Case(id="only-in-postgres", title="Written on the server before the backup"))
        snapshot = backup(source, tmp_path / "pg.backup")
        assert snapshot.cases == source.count() and snapshot.checksum == census(source).checksum
        restored = restore(tmp_path / "pg.backup", target_url)
        assert (restored.cases, restored.checksum) == (snapshot.cases, snapshot.checksum)
        target = open_store(target_url)
        try:
            assert target.get("only-in-postgres").title == "Written on the server before the backup"
            assert census(target) == census(source)
            target.upsert(Case(id="written-after", title="A case written after the restore"))  # keys move on
        finally:
            target.close()
        with pytest.raises(BackupError, match="`force`"):
            restore(tmp_path / "pg.backup", target_url)
        assert restore(tmp_path / "pg.backup", target_url, force=True).cases == snapshot.cases
        source.close()
