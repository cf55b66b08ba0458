"""Backups of the SQLite store: a consistent copy while the database is in use, and a
restore that replaces a database whole or not at all.

Both use SQLite's online backup API: the copy is a snapshot of one moment even while an
import writes (WAL), and a restore copies every page in one step under a write lock, so
readers see the old database or the new one, never a mix. A checksum over every case's
stored document lets a copy be verified against its source.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from disinfodb.errors import DisinfoError
from disinfodb.store import SQLiteStore
from disinfodb.store.schema import MIGRATIONS


class BackupError(DisinfoError):
    """A backup cannot be written, or a file is not a disinfodb backup."""


@dataclass(frozen=True)
class Snapshot:
    path: str
    cases: int
    audit_entries: int
    checksum: str


def checksum(connection: sqlite3.Connection) -> str:
    """SHA-256 over every case's id, version and stored document, in id order."""
    digest = hashlib.sha256()
    for case_id, version, doc in connection.execute("SELECT id, version, doc FROM cases ORDER BY id"):
        digest.update(f"{case_id}\x1f{version}\x1f{doc}\x1e".encode())
    return digest.hexdigest()


def _snapshot(path: str, connection: sqlite3.Connection) -> Snapshot:
    cases = connection.execute("SELECT count(*) FROM cases").fetchone()[0]
    audit = connection.execute("SELECT count(*) FROM audit").fetchone()[0]
    return Snapshot(path, int(cases), int(audit), checksum(connection))


def backup(store: SQLiteStore, target: str | Path) -> Snapshot:
    """Copy the database to `target` (written beside it, then renamed into place)."""
    target = Path(target)
    if not target.parent.is_dir():
        raise BackupError(f"cannot write {target}: folder {target.parent} does not exist")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        copy = sqlite3.connect(partial)
        try:
            store.connection.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            result = _snapshot(str(target), copy)
        finally:
            copy.close()
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
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
            if not 1 <= version <= len(MIGRATIONS):
                raise BackupError(f"{source} is not a disinfodb database this version can read"
                                  f" (schema {version}, this version knows 1..{len(MIGRATIONS)})")
            return _snapshot(str(source), connection)
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{source} is not a disinfodb database: {error}") from None


def restore(source: str | Path, target: str | Path, force: bool = False) -> Snapshot:
    """Replace the database at `target` with the backup at `source` (checked first); a
    database with cases is only replaced with `force`. An older backup is migrated."""
    found = inspect(source)
    store = SQLiteStore(target)
    try:
        if store.count() and not force:
            raise BackupError(f"{store.path} holds {store.count():,} cases; restore over it with --force")
        origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            origin.backup(store.connection)  # all pages in one step, under a write lock
        finally:
            origin.close()
    finally:
        store.close()
    reopened = SQLiteStore(target)  # applies the migrations a backup from an older version lacks
    try:
        restored = _snapshot(reopened.path, reopened.connection)
    finally:
        reopened.close()
    if restored.checksum != found.checksum:
        raise BackupError("the restored database differs from the backup: restore again")
    return restored
