"""Batched imports (Store.upsert_many) on both engines: the database a batch writes is the
one upserting its cases one at a time writes, in the same few statements per batch
whatever the batch's size; a bad record or a crash after a batch was written leaves the
database as it was; a real file imported twice is unchanged the second time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CSV_2017, require

from disinfodb.cases import Case
from disinfodb.errors import CaseConflict, ImportRejected
from disinfodb.ingest import pipeline, read_file
from disinfodb.ingest.base import Record, problem_record
from disinfodb.ingest.pipeline import ImportReport, import_records
from disinfodb.store import Outcome, SQLStore, open_store

# Each line tests one of the questions a batch answers from memory, about cases before it
# in the same batch (of 4): ids taken (lines 1-4: four cases of the same content and slug,
# the fourth id counted in the database), and a case matching (by content) one created
# two lines before and updating it (its URL removed).
FIRST: list[dict[str, Any]] = [
    {"title": "Same title", "url": "https://x.example/a/same"},
    {"title": "Same title", "url": "https://x.example/b/same"},
    {"title": "Same title", "url": "https://x.example/c/same"},
    {"title": "Same title", "url": "https://x.example/d/same"},
    {"title": "Has a URL", "url": "https://x.example/has-a-url", "keywords": ["Alpha", "Beta"]},
    {"id": "explicit", "title": "Explicit id", "url": "https://x.example/explicit", "keywords": ["Beta", "Gamma"]},
    {"title": "Has a URL", "keywords": ["Alpha", "Beta"]},
]
# Updates, bad records and a case naming two stored ones (its problem reported in file
# order, though its batch is written after line 4 was found bad), a case with the title
# line 1 changed (no longer that case's content: a new one), a keyword the updates
# before it leave unused (deleted) that a new case brings back, and a new case with the
# URL the first file's line 7 removed (its slug taken).
SECOND: list[dict[str, Any]] = [
    {"id": "explicit", "title": "Explicit id, revised", "url": "https://x.example/explicit",
     "keywords": ["Gamma", "Delta"]},
    {"title": ""},
    {"id": "same", "title": "Same title", "url": "https://x.example/b/same"},
    {"title": "Bad date", "published": "2021-02-30"},
    {"title": "Has a URL", "keywords": ["Alpha", "Epsilon"]},
    {"title": "Explicit id"},
    {"title": "New with beta", "keywords": ["beta"]},
    {"title": "Same title", "url": "https://x.example/a/same"},
    {"title": "Other", "url": "https://x.example/has-a-url"},
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def outcome(report: ImportReport) -> tuple[int, int, int, list[tuple[int | None, str | None]]]:
    return (report.created, report.updated, report.unchanged,
            [(p.location.line, p.location.field) for p in report.problems])


def contents(store: SQLStore) -> dict[str, list[Any]]:
    """Every row an import writes, the timestamps left out (they say when it ran), the
    facet rows by what they name (PostgreSQL's sequences skip the ids of refused inserts)."""
    def fetch(sql: str) -> list[Any]:
        return [list(row) for row in store.fetch_all(sql)]

    cases = fetch("SELECT pk, id, url, content_id, title, summary, disproof, tags, published, issue, doc, version"
                  " FROM cases ORDER BY pk")
    for row in cases:
        doc = json.loads(row[10])
        row[10] = {k: v for k, v in doc.items() if k not in {"created_at", "updated_at"}}
    audit = fetch("SELECT seq, case_id, action, version, actor, previous FROM audit ORDER BY seq")
    for row in audit:
        row[5] = row[5] and {k: v for k, v in json.loads(row[5]).items() if k not in {"created_at", "updated_at"}}
    return {
        "cases": cases, "audit": audit,
        "terms": fetch("SELECT facet, key, label FROM terms ORDER BY facet, key"),
        "case_terms": fetch("SELECT c.id, t.facet, t.key FROM case_terms ct JOIN cases c ON c.pk = ct.case_pk"
                            " JOIN terms t ON t.id = ct.term_id ORDER BY c.id, t.facet, t.key"),
    }


def imported(store: SQLStore, paths: list[str], batch: int, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setattr(pipeline, "BATCH", batch)
    return [outcome(import_records(store, read_file(path), skip_invalid=True)) for path in paths]


def test_batches_write_what_one_case_at_a_time_writes(store: SQLStore, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 4 on this engine against batches of 1 on SQLite (each case matched by
    the database's own statements): the same outcomes, problems, rows and audit trail."""
    paths = [write_jsonl(tmp_path / "first.jsonl", FIRST), write_jsonl(tmp_path / "second.jsonl", SECOND)]
    paths.append(paths[1])  # the second file again: what changed is now unchanged
    reference = open_store(str(tmp_path / "one-at-a-time.sqlite"))
    try:
        expected = imported(reference, paths, 1, monkeypatch)
        expected_rows = contents(reference)
    finally:
        reference.close()
    problems = [(2, "title"), (3, None), (4, "published")]
    assert imported(store, paths, 4, monkeypatch) == expected == [
        (6, 1, 0, []), (3, 2, 1, problems), (0, 0, 6, problems)]
    rows = contents(store)
    assert rows == expected_rows
    same, other = rows["cases"][0][3], rows["cases"][8][3]  # content ids
    assert [row[1] for row in rows["cases"]] == [
        "same", f"same-{same[:6]}", f"same-{same}", "same-3", "has-a-url", "explicit", "explicit-id",
        "new-with-beta", f"has-a-url-{other[:6]}"]
    assert rows["cases"][4][2] is None and rows["cases"][8][2] == "https://x.example/has-a-url"
    assert ["keyword", "beta", "beta"] in rows["terms"]  # deleted when unused, then created with the new label
    assert [row[2] for row in rows["audit"]] == ["create"] * 6 + ["update"] + ["update", "update"] + ["create"] * 3


def test_upsert_many_is_upsert_case_by_case(store: SQLStore, tmp_path: Path) -> None:
    """What an import cannot send in one file (it reports the second use of a URL as a
    conflict): a URL an update removed, taken by a later case of the same batch."""
    url = "https://x.example/moving"
    cases = [Case(title="Has a URL", url=url, keywords=["Alpha"]), Case(title="Has a URL", keywords=["Alpha"]),
             Case(title="Other", url=url), Case(id="moving", title="Has a URL", url=url)]
    reference = open_store(str(tmp_path / "one-at-a-time.sqlite"))
    try:
        expected: list[Outcome | str] = []
        for case in cases:
            try:
                expected.append(reference.upsert(case)[0])
            except CaseConflict as conflict:
                expected.append(str(conflict))
        expected_rows = contents(reference)
    finally:
        reference.close()
    results = store.upsert_many(cases)
    assert [str(r) if isinstance(r, CaseConflict) else r[0] for r in results] == expected == [
        Outcome.CREATED, Outcome.UPDATED, Outcome.CREATED,
        f"id 'moving' and URL {url} belong to two different cases"]
    assert contents(store) == expected_rows


class Counting:
    """A store's connection, counting the statements sent through it."""

    def __init__(self, connection: Any) -> None:
        self.connection, self.statements = connection, 0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.connection, name)
        if name in {"execute", "executemany", "copy_rows"}:
            def counted(*args: Any) -> Any:
                self.statements += 1
                return value(*args)
            return counted
        return value


def test_a_batch_costs_the_same_statements_whatever_its_size(store: SQLStore,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """What made PostgreSQL imports slow was a few statements per case: a batch of 4 cases
    and a batch of 400, each case with a new keyword, send the same few."""
    counting = Counting(store._db)
    monkeypatch.setattr(store, "_db", counting)
    sent = []
    for first, size in ((0, 4), (4, 400)):
        cases = [Case(title=f"Generated claim {n}", keywords=[f"Word {n}"]) for n in range(first, first + size)]
        report = import_records(store, (Record("gen", n, case=case) for n, case in enumerate(cases, start=1)))
        assert report.created == size
        sent.append(counting.statements)
        counting.statements = 0
    assert sent[0] == sent[1] < 20
    assert store.count() == 404


def test_a_bad_record_after_a_written_batch_writes_nothing(seed_store: SQLStore) -> None:
    """Record 1,500 of the real 2015-2017 file is bad: the first 1,000 cases were written,
    inside the import's transaction, and are rolled back with it."""
    path = str(require(CSV_2017))
    before = contents(seed_store)
    bad_line = []

    def one_bad() -> Iterator[Record]:
        for number, record in enumerate(read_file(path), start=1):
            if number == 1500:
                bad_line.append(record.line)
                yield problem_record(path, record.line, "a bad record", "title")
            else:
                yield record

    with pytest.raises(ImportRejected) as caught:
        import_records(seed_store, one_bad())
    assert [(p.location.source, p.location.line, p.location.field) for p in caught.value.problems] == [
        (path, bad_line[0], "title")]
    assert contents(seed_store) == before and seed_store.count() == 4


def test_a_crash_after_a_written_batch_writes_nothing(seed_store: SQLStore) -> None:
    path = require(CSV_2017)
    before = contents(seed_store)

    def crashing() -> Iterator[Record]:
        for number, record in enumerate(read_file(str(path)), start=1):
            if number == 2500:
                raise RuntimeError("disk on fire")
            yield record

    with pytest.raises(RuntimeError, match="disk on fire"):
        import_records(seed_store, crashing())
    assert contents(seed_store) == before


def test_a_real_file_imported_twice_is_unchanged(store: SQLStore) -> None:
    path = str(require(CSV_2017))
    first = import_records(store, read_file(path))
    assert (first.created, first.updated, first.unchanged, len(first.conflicts)) == (2769, 0, 0, 3)
    rows = contents(store)
    second = import_records(store, read_file(path))
    assert (second.created, second.updated, second.unchanged, len(second.conflicts)) == (0, 0, 2769, 3)
    assert contents(store) == rows
