"""Both stores (SQLite and PostgreSQL): upsert semantics, identity, audit, full-text sync, atomic imports."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from conftest import raw
from pg_cluster import PostgresCluster

from disinfodb.cases import Case, Outlet
from disinfodb.errors import CaseNotFound, DatabaseUnavailable, DisinfoError, ImportRejected
from disinfodb.ingest import read_file
from disinfodb.ingest.base import Record
from disinfodb.ingest.pipeline import import_records
from disinfodb.search import SearchQuery
from disinfodb.store import Outcome, SQLStore, open_store
from disinfodb.store.schema import COLUMNS, DIALECTS, STEPS


def snapshot(store: SQLStore) -> tuple[int, int, list[dict[str, object]]]:
    """Everything a write could change: count, audit rows, every case with its bookkeeping."""
    cases = [case.model_dump(mode="json") for case in store.iter_cases()]
    return store.count(), store.audit_count(), cases


def hits(store: SQLStore, text: str = "", **filters: object) -> list[str]:
    results = store.search(SearchQuery(text=text, per_page=200, **filters))  # type: ignore[arg-type]
    assert results.total == len(results.hits)
    return sorted(hit.id for hit in results.hits)


def facet_keys(store: SQLStore, facet: str) -> dict[str, int]:
    results = store.search(SearchQuery(facet_size=1000))
    return {value.value: value.count for value in results.facets.get(facet, [])}


# -- upsert -------------------------------------------------------------------------------


def test_upsert_created_unchanged_updated(store: SQLStore) -> None:
    outcome, created = store.upsert(Case(title="The EU is collapsing", summary="old"), actor="alice")
    assert outcome is Outcome.CREATED
    assert created.id == "the-eu-is-collapsing"
    assert created.version == 1
    assert created.created_at is not None and created.created_at == created.updated_at
    assert store.get(created.id) == created

    outcome, same = store.upsert(Case(title="The EU is collapsing", summary="old"), actor="bob")
    assert outcome is Outcome.UNCHANGED
    assert same.version == 1
    assert store.audit_count() == 1

    outcome, updated = store.upsert(Case(title="The EU is collapsing", summary="new"), actor="carol")
    assert outcome is Outcome.UPDATED
    assert updated.id == created.id
    assert updated.version == 2
    assert updated.created_at == created.created_at
    assert updated.updated_at is not None and created.updated_at is not None
    assert updated.updated_at >= created.updated_at
    assert store.get(created.id).summary == "new"
    assert store.count() == 1
    assert store.audit_count() == 2


def test_match_by_id(store: SQLStore) -> None:
    _, first = store.upsert(Case(title="First title", url="https://x.example/report/a/"))
    outcome, second = store.upsert(Case(id=first.id, title="Completely different title"))
    assert outcome is Outcome.UPDATED
    assert second.id == first.id
    assert store.count() == 1
    assert store.get(first.id).title == "Completely different title"


def test_explicit_new_id_is_a_new_case_even_with_same_content(store: SQLStore) -> None:
    store.upsert(Case(title="Same content"))
    outcome, other = store.upsert(Case(id="my-own-id", title="Same content"))
    assert outcome is Outcome.CREATED
    assert other.id == "my-own-id"
    assert store.count() == 2


def test_match_by_url_when_no_id(store: SQLStore) -> None:
    _, first = store.upsert(Case(title="Original", url="https://euvsdisinfo.eu/report/original-case/"))
    assert first.id == "original-case"
    outcome, again = store.upsert(Case(title="Retitled", url="https://euvsdisinfo.eu/report/original-case/"))
    assert outcome is Outcome.UPDATED
    assert again.id == "original-case"
    assert store.count() == 1


def test_match_by_content_id_when_no_id_or_url(store: SQLStore) -> None:
    outlets = [Outlet(name="RT", url="https://rt.example/1")]
    _, first = store.upsert(Case(title="Content match", published=date(2020, 1, 1), outlets=outlets))
    outcome, second = store.upsert(Case(title="CONTENT match", published=date(2020, 1, 1), outlets=outlets,
                                        summary="added later"))
    assert outcome is Outcome.UPDATED
    assert second.id == first.id
    # Another date or first outlet URL is another case.
    assert store.upsert(Case(title="Content match", published=date(2020, 1, 2), outlets=outlets))[0] \
        is Outcome.CREATED
    assert store.upsert(Case(title="Content match", published=date(2020, 1, 1)))[0] is Outcome.CREATED
    assert store.count() == 3


def test_different_case_urls_are_different_cases_despite_same_content(store: SQLStore) -> None:
    store.upsert(Case(title="Same", url="https://euvsdisinfo.eu/report/same/"))
    outcome, other = store.upsert(Case(title="Same", url="https://euvsdisinfo.eu/report/same-2/"))
    assert outcome is Outcome.CREATED
    assert other.id == "same-2"
    assert store.count() == 2


def test_same_title_different_cases_get_different_ids(store: SQLStore) -> None:
    ids = []
    for day in (1, 2, 3):
        outcome, case = store.upsert(Case(title="NATO is preparing a war", published=date(2021, 1, day)))
        assert outcome is Outcome.CREATED
        ids.append(case.id)
    assert len(set(ids)) == 3
    assert ids[0] == "nato-is-preparing-a-war"
    assert all(i.startswith("nato-is-preparing-a-war-") for i in ids[1:])
    assert [store.get(i).published for i in ids] == [date(2021, 1, d) for d in (1, 2, 3)]


# -- audit --------------------------------------------------------------------------------


def test_versions_and_audit_history(store: SQLStore) -> None:
    _, v1 = store.upsert(Case(title="Audited", summary="one"), actor="importer")
    _, v2 = store.upsert(Case(id=v1.id, title="Audited", summary="two"), actor="editor")
    _, v3 = store.upsert(Case(id=v1.id, title="Audited", summary="three", keywords=["k"]), actor="editor")
    assert (v1.version, v2.version, v3.version) == (1, 2, 3)
    store.delete(v1.id, actor="admin")

    history = store.history(v1.id)
    assert [(e.action, e.version, e.actor) for e in history] == [
        ("create", 1, "importer"), ("update", 2, "editor"), ("update", 3, "editor"), ("delete", 3, "admin")]
    assert [e.case_id for e in history] == [v1.id] * 4
    assert [e.seq for e in history] == sorted(e.seq for e in history)
    previous = [e.previous for e in history]
    assert previous[0] is None
    assert previous[1] == v1
    assert previous[2] == v2
    assert previous[3] == v3
    assert store.audit_count() == 4
    assert store.history("no-such-case") == []


def test_unchanged_upsert_writes_no_audit(store: SQLStore) -> None:
    store.upsert(Case(title="Once"))
    for _ in range(3):
        assert store.upsert(Case(title="Once"))[0] is Outcome.UNCHANGED
    assert [e.action for e in store.history("once")] == ["create"]


# -- delete and the indexes ---------------------------------------------------------------


def test_delete_removes_from_get_search_and_facets(store: SQLStore) -> None:
    store.upsert(Case(id="keep", title="Kept case about pipelines", keywords=["Energy"],
                      countries=["Germany"], languages=["de"]))
    store.upsert(Case(id="gone", title="Deleted case about zeppelins", keywords=["Airships", "Energy"],
                      countries=["Atlantis"], languages=["fr"], issue=7, published=date(2019, 5, 5)))
    assert hits(store, "zeppelins") == ["gone"]
    assert facet_keys(store, "keyword") == {"energy": 2, "airships": 1}
    distinct_before = store.stats()["distinct"]

    store.delete("gone")
    with pytest.raises(CaseNotFound):
        store.get("gone")
    assert store.count() == 1
    assert hits(store, "zeppelins") == []
    assert hits(store, "case") == ["keep"]
    assert hits(store, keywords=("Airships",)) == []
    assert hits(store, countries=("Atlantis",)) == []
    results = store.search(SearchQuery(facet_size=1000))
    assert {f: {v.value: v.count for v in values} for f, values in results.facets.items() if values} == {
        "keyword": {"energy": 1}, "country": {"germany": 1}, "language": {"de": 1}}
    distinct = store.stats()["distinct"]
    assert distinct["keyword"] == distinct_before["keyword"] - 1
    assert (distinct["issue"], distinct["year"], distinct["language"]) == (0, 0, 1)


def test_delete_unknown_case(store: SQLStore) -> None:
    with pytest.raises(CaseNotFound, match="no-such"):
        store.delete("no-such")
    assert store.audit_count() == 0


def test_fts_follows_updates(store: SQLStore) -> None:
    _, case = store.upsert(Case(title="Bioweapons in Georgia", summary="laboratory mosquitoes",
                                keywords=["Lugar laboratory"]))
    assert hits(store, "mosquitoes") == [case.id]
    assert hits(store, "lugar") == [case.id]
    store.upsert(Case(id=case.id, title="Bioweapons in Armenia", summary="secret bats",
                      keywords=["Pentagon"]))
    assert hits(store, "mosquitoes") == []
    assert hits(store, "georgia") == []
    assert hits(store, "lugar") == []
    assert hits(store, "bats") == [case.id]
    assert hits(store, "armenia") == [case.id]
    assert hits(store, "pentagon") == [case.id]
    assert hits(store, keywords=("Lugar laboratory",)) == []
    assert hits(store, keywords=("pentagon",)) == [case.id]
    store.delete(case.id)
    assert hits(store, "bats") == []
    assert hits(store, "bioweapons") == []


def test_facets_see_writes_of_another_connection(store_location: str) -> None:
    reader, writer = open_store(store_location), open_store(store_location)
    try:
        writer.upsert(Case(id="a", title="A", keywords=["Alpha"]))
        assert facet_keys(reader, "keyword") == {"alpha": 1}
        writer.upsert(Case(id="b", title="B", keywords=["Alpha", "Beta"]))
        assert facet_keys(reader, "keyword") == {"alpha": 2, "beta": 1}
        writer.delete("a")
        assert facet_keys(reader, "keyword") == {"alpha": 1, "beta": 1}
        assert reader.count() == 1
    finally:
        reader.close()
        writer.close()


# -- schema -------------------------------------------------------------------------------


def test_schema_version_recorded(tmp_path: Path) -> None:
    path = tmp_path / "schema.sqlite"
    store = open_store(str(path))
    assert store.schema_version == len(STEPS) >= 1
    assert store.stats()["schema_version"] == len(STEPS)
    store.upsert(Case(title="survives reopening"))
    store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(STEPS)
    reopened = open_store(f"sqlite:///{path}")
    try:
        assert reopened.schema_version == len(STEPS)
        assert reopened.count() == 1
    finally:
        reopened.close()


def test_a_file_from_before_alembic_gets_only_the_later_steps(tmp_path: Path) -> None:
    """A file migrated by the old runner has a user_version and no alembic_version."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        for statement in STEPS[0].statements(DIALECTS["sqlite"]) + STEPS[1].statements(DIALECTS["sqlite"]):
            old.execute(statement)
        old.execute("PRAGMA user_version = 2")
        old.execute("INSERT INTO cases (id, content_id, title, summary, disproof, tags, doc, version, created_at,"
                    " updated_at) VALUES ('kept', 'c', 'Kept', '', '', '', ?, 1, '2020-01-01', '2020-01-01')",
                    (Case(id="kept", title="Kept").model_dump_json(),))
    old.close()
    store = open_store(str(path))
    try:
        assert store.schema_version == len(STEPS)
        assert raw(store).execute("SELECT version_num FROM alembic_version").fetchall() == [(f"{len(STEPS):04d}",)]
        assert store.get("kept").title == "Kept"
        assert raw(store).execute("SELECT count(*) FROM users").fetchone() == (0,)  # step 3 ran
    finally:
        store.close()


def _schema_version_of(path: str) -> int:
    store = open_store(path)
    try:
        return store.schema_version
    finally:
        store.close()


def test_processes_opening_a_new_file_at_once_build_it_once(tmp_path: Path) -> None:
    path = str(tmp_path / "raced.sqlite")
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        assert pool.map(_schema_version_of, [path] * 3) == [len(STEPS)] * 3


def test_open_store_errors(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    with pytest.raises(DisinfoError, match="does not exist"):
        open_store(str(tmp_path / "missing" / "db.sqlite"))
    with pytest.raises(DatabaseUnavailable, match=r"cannot open postgresql://postgres:\*\*\*@.*no_such_db"):
        open_store(postgres_cluster.url("no_such_db").replace("postgres@", "postgres:secret@"))


def test_postgres_schema_is_migrated_by_alembic(postgres_url: str, tmp_path: Path) -> None:
    """Alembic's revisions are SQLite's migrations, step for step, with the same columns."""
    store = open_store(postgres_url)
    try:
        assert store.schema_version == len(STEPS)
        assert store.stats()["schema_version"] == len(STEPS)
        assert raw(store).execute("SELECT version_num FROM alembic_version").fetchone() == (f"{len(STEPS):04d}",)
        pg_columns = {(table, column) for table, column in raw(store).execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name != 'alembic_version' AND table_name != 'change_counter' AND column_name != 'fts'")}
    finally:
        store.close()
    sqlite_store = open_store(str(tmp_path / "columns.sqlite"))
    try:
        sqlite_columns = {(table, row[1]) for table in COLUMNS
                          for row in raw(sqlite_store).execute(f"PRAGMA table_info({table})")}
    finally:
        sqlite_store.close()
    declared = {(table, column) for table, columns in COLUMNS.items() for column in columns}
    assert pg_columns == sqlite_columns == declared


def test_open_store_uses_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISINFODB_DB", str(tmp_path / "from-env.sqlite"))
    store = open_store()
    try:
        assert store.location == str(tmp_path / "from-env.sqlite")
    finally:
        store.close()
    assert (tmp_path / "from-env.sqlite").is_file()


# -- atomic imports -----------------------------------------------------------------------


def records(*cases: Case, source: str = "gen") -> list[Record]:
    return [Record(source, number, case=case) for number, case in enumerate(cases, start=1)]


def test_crash_mid_import_leaves_database_as_it_was(seed_store: SQLStore) -> None:
    existing = next(iter(seed_store.iter_cases()))
    before = snapshot(seed_store)
    facets_before = seed_store.search(SearchQuery(facet_size=1000)).facets

    def crashing() -> Iterator[Record]:
        yield from records(
            Case(title="Crash case one", summary="zanzibar", keywords=["Crashword"]),
            Case(id=existing.id, title=existing.title, summary="overwritten summary"),
            Case(title="Crash case two", countries=["Atlantis"]),
        )
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        import_records(seed_store, crashing())
    assert snapshot(seed_store) == before
    assert hits(seed_store, "zanzibar") == []
    assert hits(seed_store, "overwritten") == []
    assert hits(seed_store, keywords=("Crashword",)) == []
    assert seed_store.search(SearchQuery(facet_size=1000)).facets == facets_before

    # The store is usable afterwards, and the same records then import normally.
    report = import_records(seed_store, records(Case(title="Crash case one", keywords=["Crashword"])))
    assert report.created == 1
    assert hits(seed_store, keywords=("Crashword",)) == ["crash-case-one"]
    assert facet_keys(seed_store, "keyword")["crashword"] == 1


def jsonl(*lines: object) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


MIXED = jsonl(
    {"title": "Good one", "languages": ["Russian"]},        # 1
    {"title": "", "summary": "no title"},                   # 2
    {"title": "Good two", "published": "2021-02-30"},       # 3: bad date
    "{not json",                                            # 4
    {"title": "Good three", "languages": ["Elvish Sindarin"], "issue": 0},  # 5: two problems
    [1, 2],                                                 # 6
    {"title": "Good four"},                                 # 7
)


def test_bad_records_reject_whole_import(seed_store: SQLStore, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(MIXED, encoding="utf-8")
    before = snapshot(seed_store)
    with pytest.raises(ImportRejected) as caught:
        import_records(seed_store, read_file(str(path)))
    located = [(p.location.source, p.location.line, p.location.field) for p in caught.value.problems]
    assert located == [(str(path), 2, "title"), (str(path), 3, "published"), (str(path), 4, None),
                       (str(path), 5, "issue"), (str(path), 5, "languages"), (str(path), 6, None)]
    assert "6 bad record(s); nothing was imported" in str(caught.value)
    assert snapshot(seed_store) == before


def test_dry_run_reports_but_writes_nothing(seed_store: SQLStore) -> None:
    first, second, *_ = seed_store.iter_cases()
    before = snapshot(seed_store)
    batch = records(Case(title="Quokka one"), Case(title="Quokka two"), Case(title="Quokka one"),
                    Case(id=first.id, title=first.title, summary="changed"),
                    second.model_copy(update={"version": 0, "created_at": None, "updated_at": None}))
    report = import_records(seed_store, batch, dry_run=True)
    assert report.dry_run
    assert (report.created, report.updated, report.unchanged, len(report.duplicates)) == (2, 1, 1, 1)
    assert snapshot(seed_store) == before
    assert hits(seed_store, "quokka") == []
    real = import_records(seed_store, batch)
    assert (real.created, real.updated, real.unchanged, len(real.duplicates)) == (2, 1, 1, 1)
    assert seed_store.count() == 6


def test_skip_invalid_imports_the_good_records(store: SQLStore, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(MIXED, encoding="utf-8")
    report = import_records(store, read_file(str(path)), skip_invalid=True)
    assert report.created == 2
    assert [(p.location.line, p.location.field) for p in report.problems] == [
        (2, "title"), (3, "published"), (4, None), (5, "issue"), (5, "languages"), (6, None)]
    assert sorted(c.title for c in store.iter_cases()) == ["Good four", "Good one"]
    assert store.get("good-one").languages == ["ru"]


def test_duplicates_and_conflicts_within_one_import(store: SQLStore) -> None:
    report = import_records(store, records(
        Case(id="a", title="A"), Case(id="a", title="A"), Case(id="a", title="A changed"),
        Case(title="B", url="https://x.example/b"), Case(title="B other", url="https://x.example/b"),
    ))
    assert report.created == 2
    assert [(p.location.line, "line 1" in p.message) for p in report.duplicates] == [(2, True)]
    assert [p.location.line for p in report.conflicts] == [3, 5]
    assert store.get("a").title == "A"  # the first wins
    assert report.records == 5


def test_iter_cases_with_filters(seed_store: SQLStore) -> None:
    spanish = list(seed_store.iter_cases(SearchQuery(languages=("Spanish",))))
    assert [c.issue for c in spanish] == [270]
    assert len(list(seed_store.iter_cases(SearchQuery(since=date(2023, 1, 1))))) == 0
    assert len(list(seed_store.iter_cases())) == 4


def test_id_and_url_naming_two_different_cases(store: SQLStore) -> None:
    """A record whose id is one case and whose URL is another's is a user error, not a crash."""
    store.upsert(Case(id="a", title="A", url="https://x.example/a"))
    store.upsert(Case(id="b", title="B", url="https://x.example/b"))
    before = snapshot(store)
    with pytest.raises(DisinfoError):
        import_records(store, records(Case(title="New", url="https://x.example/new"),
                                      Case(id="a", title="A", url="https://x.example/b")))
    assert snapshot(store) == before


def test_search_inside_a_transaction_sees_its_own_writes(store: SQLStore) -> None:
    store.upsert(Case(id="old", title="Existing case", keywords=["Old"]))
    assert store.search(SearchQuery()).total == 1  # the store now holds a cached index

    with pytest.raises(RuntimeError), store.transaction():
        store.upsert(Case(id="zebra", title="Zebra case", keywords=["Stripes"]))
        assert store.count() == 2
        assert hits(store, "zebra") == ["zebra"]
        assert hits(store, keywords=("Stripes",)) == ["zebra"]
        raise RuntimeError("roll back")

    assert hits(store) == ["old"]
    assert hits(store, "zebra") == []
    assert facet_keys(store, "keyword") == {"old": 1}


def test_search_after_a_rolled_back_transaction(store_location: str) -> None:
    """An index loaded inside a transaction must not outlive its rollback."""
    path = store_location
    first = open_store(path)
    first.upsert(Case(id="old", title="Existing case", keywords=["Old"]))
    first.close()
    store = open_store(path)
    try:
        with pytest.raises(RuntimeError), store.transaction():
            store.upsert(Case(id="zebra", title="Zebra case", keywords=["Stripes"]))
            store.search(SearchQuery())
            raise RuntimeError("roll back")
        assert store.count() == 1
        assert hits(store) == ["old"]
        assert hits(store, keywords=("Stripes",)) == []
        assert facet_keys(store, "keyword") == {"old": 1}
    finally:
        store.close()
