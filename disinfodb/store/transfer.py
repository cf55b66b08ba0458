"""Copy a whole database between stores (SQLite <-> PostgreSQL), verified.

Every table is copied row by row with its keys (case pks, term ids, audit sequence
numbers), so links between tables, narrative memberships and cached embeddings arrive
intact. The target is written in one transaction: a failed copy leaves it as it was.
Afterwards every table's row count and a checksum of every case are compared on both
sides; a difference is an error, not a warning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from disinfodb.errors import DisinfoError
from disinfodb.store.schema import COLUMNS, TABLE_KEYS, TABLES
from disinfodb.store.sql_store import Connection, SQLStore

_BATCH = 1000
_IDENTITIES = {"cases": "pk", "terms": "id", "audit": "seq"}  # PostgreSQL sequences to move past copied keys


class TransferError(DisinfoError):
    """A copy cannot start (the target holds data) or did not arrive whole."""


@dataclass(frozen=True)
class Census:
    """What a database holds: rows per table and a checksum over every case."""

    rows: dict[str, int]
    checksum: str

    @property
    def cases(self) -> int:
        return self.rows["cases"]


def checksum(connection: Connection) -> str:
    """SHA-256 over every case's id, version and stored document, whatever the engine.

    Each case is hashed alone and the sorted digests are hashed together, so the result
    does not depend on how an engine's collation orders the ids."""
    digests = sorted(hashlib.sha256(f"{case_id}\x1f{version}\x1f{doc}".encode()).digest()
                     for case_id, version, doc in connection.execute("SELECT id, version, doc FROM cases"))
    return hashlib.sha256(b"".join(digests)).hexdigest()


def census(store: SQLStore) -> Census:
    with store.snapshot():
        rows = {table: int(store.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in TABLES}
        return Census(rows, checksum(store.connection))


def copy_database(source: SQLStore, target: SQLStore, replace: bool = False,
                  progress: Callable[[str, int], None] | None = None) -> Census:
    """Copy every table of `source` into `target` and verify the copy.

    The target must be empty unless `replace` (then its rows are deleted first, in the
    same transaction as the copy). Returns the census both sides agree on.
    """
    if source.schema_version != target.schema_version:
        raise TransferError(f"schema versions differ ({source.schema_version} -> {target.schema_version}):"
                            " open both with this version of disinfodb first")
    with target.transaction():
        held = target.count() + int(target.connection.execute("SELECT count(*) FROM users").fetchone()[0])
        if held and not replace:
            raise TransferError(f"{target.display_location} is not empty ({target.count():,} cases):"
                                " copy into an empty database, or replace its contents with --force")
        _defer_foreign_keys(target)
        for table in reversed(TABLES):
            target.connection.execute(f"DELETE FROM {table}")
        with source.snapshot():
            for table in TABLES:
                columns = COLUMNS[table]
                insert = (f"INSERT INTO {table} ({', '.join(columns)})"
                          f" VALUES ({', '.join('?' for _ in columns)})")
                copied = 0
                for batch in _batches(source.connection, table, columns):
                    target.connection.executemany(insert, batch)
                    copied += len(batch)
                    if progress:
                        progress(table, copied)
        if target.dialect == "postgresql":
            for table, column in _IDENTITIES.items():
                target.connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                    f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
    expected, arrived = census(source), census(target)
    if expected != arrived:
        differ = [t for t in TABLES if expected.rows[t] != arrived.rows[t]]
        raise TransferError(f"the copy differs from its source (tables {', '.join(differ) or 'none'},"
                            f" checksum {'same' if expected.checksum == arrived.checksum else 'differs'})")
    return arrived


def _defer_foreign_keys(store: SQLStore) -> None:
    """Check foreign keys at commit, so rows may arrive in key order (a merged narrative
    can name one copied after it)."""
    if store.dialect == "postgresql":
        store.connection.execute("SET CONSTRAINTS ALL DEFERRED")
    else:
        store.connection.execute("PRAGMA defer_foreign_keys = ON")


def _batches(connection: Connection, table: str, columns: tuple[str, ...]) -> Iterator[list[tuple[Any, ...]]]:
    """A table's rows in key order, a batch at a time (keyset paging: constant memory)."""
    keys = TABLE_KEYS[table]
    order = ", ".join(keys)
    select = f"SELECT {', '.join(columns)} FROM {table}"
    key_at = [columns.index(k) for k in keys]
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
        yield batch
        last = tuple(batch[-1][i] for i in key_at)
