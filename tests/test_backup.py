"""Backup and restore of the SQLite store: consistent copies, whole-or-nothing restores."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from conftest import Claims2017, raw
from typer.testing import CliRunner

from disinfodb.cases import Case
from disinfodb.cli import app
from disinfodb.errors import BackupError
from disinfodb.search import SearchQuery
from disinfodb.store import SQLiteStore
from disinfodb.store.backup import backup, inspect, restore
from disinfodb.store.transfer import checksum


def test_backup_then_restore_gives_the_same_cases(claims_2017: Claims2017, tmp_path: Path) -> None:
    snapshot = backup(claims_2017.store, tmp_path / "backup.sqlite")
    assert snapshot.cases == claims_2017.store.count() and snapshot.checksum == checksum(raw(claims_2017.store))
    assert inspect(tmp_path / "backup.sqlite") == snapshot
    restored = restore(tmp_path / "backup.sqlite", str(tmp_path / "restored.sqlite"))
    assert (restored.cases, restored.checksum) == (snapshot.cases, snapshot.checksum)
    copy = SQLiteStore(tmp_path / "restored.sqlite")
    assert copy.search(SearchQuery(keywords=("MH17",))).total == claims_2017.store.search(
        SearchQuery(keywords=("MH17",))).total
    assert len(copy.history(claims_2017.cases[0].id)) == 1
    copy.close()


def test_a_backup_during_writes_is_one_consistent_moment(claims_2017: Claims2017, tmp_path: Path) -> None:
    store = claims_2017.copy_to(tmp_path / "busy.sqlite")
    before = store.count()
    writer = store.reopen()
    done = threading.Event()

    def write() -> None:
        with writer.transaction():
            for number in range(300):
                writer.upsert(Case(title=f"Claim number {number} written during the backup"), actor="test")
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    snapshot = backup(store, tmp_path / "during.sqlite")
    thread.join()
    assert done.is_set() and snapshot.cases in (before, before + 300)  # all of the batch or none of it
    copy = sqlite3.connect(tmp_path / "during.sqlite")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copy.close()
    writer.close()
    store.close()


def test_restore_refuses_what_would_lose_data(claims_2017: Claims2017, tmp_path: Path) -> None:
    backup(claims_2017.store, tmp_path / "backup.sqlite")
    target = claims_2017.copy_to(tmp_path / "target.sqlite")
    target.delete(claims_2017.cases[0].id)
    count = target.count()
    target.close()
    with pytest.raises(BackupError, match="`force`"):
        restore(tmp_path / "backup.sqlite", str(tmp_path / "target.sqlite"))
    assert SQLiteStore(tmp_path / "target.sqlite").count() == count  # untouched
    (tmp_path / "garbage.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackupError, match="not a disinfodb database"):
        restore(tmp_path / "garbage.sqlite", str(tmp_path / "target.sqlite"), force=True)
    with pytest.raises(BackupError, match="no backup file"):
        inspect(tmp_path / "missing.sqlite")
    assert restore(tmp_path / "backup.sqlite", str(tmp_path / "target.sqlite"), force=True).cases == count + 1


def test_an_open_connection_writes_correctly_after_a_restore(claims_2017: Claims2017, tmp_path: Path) -> None:
    """A restore renumbers facet terms: a connection that cached the old numbers must not
    attach its next case to the wrong keyword."""
    small = SQLiteStore(tmp_path / "small.sqlite")
    small.upsert(Case(title="Only case", keywords=["Zebra"], countries=["Chile"]))
    small.close()
    backup(claims_2017.store, tmp_path / "big.sqlite")
    open_store = SQLiteStore(tmp_path / "small.sqlite")
    open_store.upsert(Case(title="Cached terms", keywords=["Zebra"]))  # caches the term ids
    restore(tmp_path / "big.sqlite", str(tmp_path / "small.sqlite"), force=True)
    open_store.upsert(Case(title="After the restore", keywords=["Zebra", "MH17"]))
    zebra = open_store.search(SearchQuery(keywords=("Zebra",)))
    assert [hit.title for hit in zebra.hits] == ["After the restore"]
    assert open_store.search(SearchQuery(keywords=("MH17",))).total == claims_2017.store.search(
        SearchQuery(keywords=("MH17",))).total + 1
    open_store.close()


def test_cli_backup_and_restore(claims_2017: Claims2017, tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["backup", str(tmp_path / "b.sqlite"), "--db", str(claims_2017.path), "--json"])
    assert made.exit_code == 0, made.output
    restored = runner.invoke(app, ["restore", str(tmp_path / "b.sqlite"), "--db", str(tmp_path / "new.sqlite")])
    assert restored.exit_code == 0 and "matches the backup" in restored.stdout
    again = runner.invoke(app, ["restore", str(tmp_path / "b.sqlite"), "--db", str(tmp_path / "new.sqlite")])
    assert again.exit_code == 1 and "--force" in again.stderr
