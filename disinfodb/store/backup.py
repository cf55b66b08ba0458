"""Backups of either store as one SQLite file, and restores that replace a database whole
or not at all.

A backup is always a self-contained SQLite file: it can be inspected, copied and restored
anywhere, into SQLite or PostgreSQL. From SQLite, SQLite's online backup API copies every
page of one moment even while an import writes (WAL); from PostgreSQL, every table is
copied inside one repeatable-read snapshot (`disinfodb.store.transfer`). A restore into
SQLite copies every page in one step under a write lock, so readers see the old database
or the new one, never a mix; into PostgreSQL, every table is replaced in one transaction.
Both sides are compared afterwards (rows per table, a checksum of every case).
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from disinfodb.errors import BackupError, TransferError
from disinfodb.files import write_atomic
from disinfodb.store import SQLiteStore, SQLStore, is_postgres_url, open_store
from disinfodb.store.protocol import Store
from disinfodb.store.schema import STEPS
from disinfodb.store.sql_store import Connection, sql_store
from disinfodb.store.transfer import checksum, copy_database


@dataclass(frozen=True)
class Snapshot:
    path: str
    cases: int
    audit_entries: int
    checksum: str


def _snapshot(path: str, connection: Connection) -> Snapshot:
    cases = connection.execute("SELECT count(*) FROM cases").fetchone()[0]
    audit = connection.execute("SELECT count(*) FROM audit").fetchone()[0]
    return Snapshot(path, int(cases), int(audit), checksum(connection))


def backup(given: Store, target: str | Path) -> Snapshot:
    """Copy the database to the SQLite file `target` (written beside it, then renamed)."""
    store = sql_store(given)
    target = Path(target)
    if not target.parent.is_dir():
        raise BackupError(f"cannot write {target}: folder {target.parent} does not exist")
    with write_atomic(target) as partial:
        if isinstance(store, SQLiteStore):
            copy = sqlite3.connect(partial)
            try:
                store._db.backup(copy)
            finally:
                copy.close()
        else:
            written = SQLiteStore(partial)
            try:
                copy_database(store, written)
            finally:
                written.close()
        copy = sqlite3.connect(partial)
        try:
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            result = _snapshot(str(target), copy)
        finally:
            copy.close()
    return result


def inspect(source: str | Path) -> Snapshot:
    """Check that a file is a sound disinfodb database this version can read."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    try:
        connection = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            problems = connection.execute("PRAGMA integrity_check").fetchall()
            if problems != [("ok",)]:
                raise BackupError(f"{source} is damaged: {problems[0][0]}")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if not 1 <= version <= len(STEPS):
                raise BackupError(f"{source} is not a disinfodb database this version can read"
                                  f" (schema {version}, this version knows 1..{len(STEPS)})")
            return _snapshot(str(source), connection)
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{source} is not a disinfodb database: {error}") from None


def restore(source: str | Path, target: str, force: bool = False) -> Snapshot:
    """Replace the database at `target` (a path or URL) with the backup at `source`
    (checked first); a database with cases is only replaced with `force`. An older
    backup is migrated on the way."""
    found = inspect(source)
    if is_postgres_url(str(target)):
        restored = _restore_into_postgres(Path(source), str(target), force)
    else:
        restored = _restore_into_sqlite(Path(source), str(target), force)
    if restored.checksum != found.checksum or restored.cases != found.cases:
        raise BackupError("the restored database differs from the backup: restore again")
    return restored


def _refuse_unless_forced(store: SQLStore, force: bool) -> None:
    if store.count() and not force:
        raise BackupError(f"{store.display_location} holds {store.count():,} cases; restoring over it replaces"
                          " them, which needs `force`")


def _restore_into_sqlite(source: Path, target: str, force: bool) -> Snapshot:
    store = SQLiteStore(target.removeprefix("sqlite:///"))
    try:
        _refuse_unless_forced(store, force)
        origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            origin.backup(store._db)  # all pages in one step, under a write lock
        finally:
            origin.close()
    finally:
        store.close()
    reopened = SQLiteStore(store.path)  # applies the migrations a backup from an older version lacks
    try:
        return _snapshot(reopened.path, reopened._db)
    finally:
        reopened.close()


def _restore_into_postgres(source: Path, target: str, force: bool) -> Snapshot:
    store = open_store(target)
    try:
        _refuse_unless_forced(store, force)
        with tempfile.TemporaryDirectory() as folder:
            # A private copy: opening the backup itself would migrate (write to) it.
            staged_path = Path(folder) / "staged.sqlite"
            origin, staged = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(staged_path)
            try:
                origin.backup(staged)
            finally:
                origin.close()
                staged.close()
            backup_store = SQLiteStore(staged_path)
            try:
                census = copy_database(backup_store, store, replace=True)
            except TransferError as error:
                raise BackupError(str(error)) from None
            finally:
                backup_store.close()
        audit = census.rows["audit"]
        return Snapshot(store.display_location, census.cases, audit, census.checksum)
    finally:
        store.close()
