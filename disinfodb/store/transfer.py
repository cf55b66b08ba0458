"""Copy a whole database between stores (SQLite <-> PostgreSQL), verified.

Every table is copied row by row with its keys (case pks, term ids, audit sequence
numbers), so links between tables, narrative memberships and cached embeddings arrive
intact. The source is read in one snapshot; the target is written in one transaction,
and checked inside it before it commits: row counts and a checksum of every table must
equal the source's, or the copy rolls back and the target is as it was.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from disinfodb.errors import TransferError
from disinfodb.store.protocol import Store
from disinfodb.store.schema import COLUMNS, TABLE_KEYS, TABLES
from disinfodb.store.sql_store import Connection, SQLStore, sql_store

_BATCH = 1000
_IDENTITIES = {"cases": "pk", "terms": "id", "audit": "seq"}  # PostgreSQL sequences to move past copied keys


@dataclass(frozen=True)
class Census:
    """What a database holds: rows and a checksum per table (`checksum`: the cases')."""

    rows: dict[str, int]
    digests: dict[str, str]

    @property
    def cases(self) -> int:
        return self.rows["cases"]

    @property
    def checksum(self) -> str:
        return self.digests["cases"]


def checksum(connection: Connection, table: str = "cases") -> str:
    """SHA-256 over every row of a table, whatever the engine: each row is hashed alone
    and the sorted digests hashed together, so neither the order rows are read in nor an
    engine's collation changes it. For `cases`: id, version and the stored document."""
    columns = ("id", "version", "doc") if table == "cases" else COLUMNS[table]
    digests = sorted(hashlib.sha256(repr(row).encode()).digest()
                     for batch in _batches(connection, table, columns) for row in batch)
    return hashlib.sha256(b"".join(digests)).hexdigest()


def census(given: Store) -> Census:
    """Rows and checksums of every table, in one snapshot (or the open write transaction)."""
    store = sql_store(given)
    with store.snapshot():
        rows = {table: int(store._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in TABLES}
        return Census(rows, {table: checksum(store._db, table) for table in TABLES})


def copy_database(given_source: Store, given_target: Store, replace: bool = False,
                  progress: Callable[[str, int], None] | None = None) -> Census:
    """Copy every table of `source` into `target` and verify the copy before it commits.

    The target must be empty unless `replace` (then its rows are deleted first, in the
    same transaction as the copy). Returns the census both sides agree on.
    """
    source, target = sql_store(given_source), sql_store(given_target)
    if source.schema_version != target.schema_version:
        raise TransferError(f"schema versions differ ({source.schema_version} -> {target.schema_version}):"
                            " open both with this version of disinfodb first")
    try:
        with target.transaction():
            _refuse_unless_empty(target, replace)
            _defer_foreign_keys(target)
            for table in reversed(TABLES):
                target._db.execute(f"DELETE FROM {table}")
            with source.snapshot():
                expected = census(source)
                for table in TABLES:
                    _copy_table(source, target, table, progress)
            if target.dialect == "postgresql":
                for table, column in _IDENTITIES.items():
                    target._db.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                        f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
            arrived = census(target)
            if arrived != expected:
                differ = [t for t in TABLES if (expected.rows[t], expected.digests[t])
                          != (arrived.rows[t], arrived.digests[t])]
                raise TransferError(f"the copy differs from its source in {', '.join(differ)}:"
                                    " nothing was written")
    except (sqlite3.IntegrityError, psycopg.IntegrityError) as error:
        raise TransferError(f"the source does not hold together ({error}): nothing was written") from None
    return arrived


def _refuse_unless_empty(target: SQLStore, replace: bool) -> None:
    held = target.count() + int(target._db.execute("SELECT count(*) FROM users").fetchone()[0])
    if held and not replace:
        raise TransferError(f"{target.display_location} is not empty ({target.count():,} cases):"
                            " copy into an empty database, or replace its contents with `replace`")


def _copy_table(source: SQLStore, target: SQLStore, table: str, progress: Callable[[str, int], None] | None
                ) -> None:
    columns = COLUMNS[table]
    copied = 0
    for batch in _batches(source._db, table, columns):
        target.insert_rows(table, columns, batch)
        copied += len(batch)
        if progress:
            progress(table, copied)


def _defer_foreign_keys(store: SQLStore) -> None:
    """Check foreign keys at commit, so rows may arrive in key order (a merged narrative
    can name one copied after it)."""
    if store.dialect == "postgresql":
        store._db.execute("SET CONSTRAINTS ALL DEFERRED")
    else:
        store._db.execute("PRAGMA defer_foreign_keys = ON")


def _batches(connection: Connection, table: str, columns: tuple[str, ...]) -> Iterator[list[tuple[Any, ...]]]:
    """A table's rows (with its key columns) in key order, a batch at a time (keyset
    paging: constant memory, and the same on both engines)."""
    keys = TABLE_KEYS[table]
    selected = [*columns, *(k for k in keys if k not in columns)]
    order = ", ".join(keys)
    select = f"SELECT {', '.join(selected)} FROM {table}"
    key_at = [selected.index(k) for k in keys]
    last: tuple[Any, ...] | None = None
    while True:
        if last is None:
            rows = connection.execute(f"{select} ORDER BY {order} LIMIT ?", (_BATCH,)).fetchall()
        else:
            after = f"({order}) > ({', '.join('?' for _ in keys)})"
            rows = connection.execute(f"{select} WHERE {after} ORDER BY {order} LIMIT ?",
                                      (*last, _BATCH)).fetchall()
        if not rows:
            return
        batch = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]
        last = tuple(batch[-1][i] for i in key_at)
        yield [row[:len(columns)] for row in batch]
