"""The embedded SQLite store: one file, zero set-up, an FTS5 index for full text.

WAL mode lets searches read while an import writes; BEGIN IMMEDIATE makes writers take
turns, so the checks an edit makes (its version, a duplicate URL) hold until it commits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from disinfodb.errors import DisinfoError, QuerySyntaxError
from disinfodb.search import to_fts
from disinfodb.store.migrate import upgrade_sqlite
from disinfodb.store.schema import MIGRATIONS
from disinfodb.store.sql_store import MARK_CLOSE, MARK_OPEN, SQLStore, best_snippet, sorted_pks
from disinfodb.store.term_index import IntArray

_COLUMN_WEIGHTS = "10.0, 4.0, 1.0, 3.0"  # title, summary, disproof, tags
_SNIPPET_TOKENS = 28
_JULIAN_DAY_OF_ORDINAL_0 = 1721424.5  # julianday('0001-01-01') is date ordinal 1


class SQLiteStore(SQLStore):
    """A Store on one SQLite file (created, and migrated, on open)."""

    dialect = "sqlite"
    date_ordinal_sql = f"CAST(julianday(published) - {_JULIAN_DAY_OF_ORDINAL_0} AS INTEGER)"

    def __init__(self, path: str | Path) -> None:
        self.path = self.location = str(path)
        super().__init__(sqlite3.connect(self.path, isolation_level=None, check_same_thread=False))
        self._db: sqlite3.Connection
        for pragma in ("journal_mode = WAL", "foreign_keys = ON", "busy_timeout = 10000",
                       "synchronous = NORMAL", "temp_store = MEMORY"):
            self._db.execute(f"PRAGMA {pragma}")
        self._migrate()

    def _migrate(self) -> None:
        if self.schema_version > len(MIGRATIONS):
            raise DisinfoError(f"{self.path} has schema version {self.schema_version}, newer than this"
                               f" disinfodb knows ({len(MIGRATIONS)}): upgrade disinfodb")
        upgrade_sqlite(self.path)

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def reopen(self) -> SQLiteStore:
        return SQLiteStore(self.path)

    def _begin_write(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _begin_read(self) -> None:
        self._db.execute("BEGIN")

    def _after_failed_commit(self) -> None:
        if self._db.in_transaction:  # e.g. a deferred foreign key refused the COMMIT
            self._db.execute("ROLLBACK")

    def _change_counter(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def in_list(self, column: str, values: Sequence[int | str]) -> tuple[str, Any]:
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))

    def int_column(self, sql: str, order_by: str, params: Sequence[Any] = ()) -> IntArray:
        # SQLite 3.40 has no ORDER BY inside aggregates; group_concat reads its ordered
        # subquery in order (what SQLite does for a plain aggregate over one subquery).
        text = self._db.execute(f"SELECT group_concat(value) FROM ({sql} ORDER BY {order_by})",
                                params).fetchone()[0]
        if not text:
            return np.zeros(0, dtype=np.int64)
        return np.array(text.split(","), dtype=np.int64)

    # -- full text: FTS5 --------------------------------------------------------------

    def _fts(self, sql: str, params: list[Any]) -> list[Any]:
        """Run an FTS5 query; FTS5's own complaints become a QuerySyntaxError."""
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            raise QuerySyntaxError(f"cannot search for that: {error}") from None

    def _text_pks(self, text: str) -> IntArray | None:
        fts = to_fts(text)
        if fts is None:
            return None
        # FTS5 yields rowids in order; sorting a sorted array is cheap
        return sorted_pks(self._fts("SELECT group_concat(rowid) FROM cases_fts WHERE cases_fts MATCH ?",
                                    [fts])[0][0])

    def _ranked(self, text: str, restrict: IntArray | None, start: int, count: int
                ) -> list[tuple[int, float | None]]:
        """bm25 over the matches; with `restrict`, only those cases are scored."""
        where, params = "cases_fts MATCH ?", [to_fts(text)]
        if restrict is not None:
            # The unary + keeps FTS5 from seeking each rowid (slow); it filters the scan.
            where += " AND +rowid IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(restrict.tolist()))
        rows = self._fts(f"SELECT rowid, bm25(cases_fts, {_COLUMN_WEIGHTS}) AS score FROM cases_fts"
                         f" WHERE {where} ORDER BY score, rowid LIMIT ? OFFSET ?", [*params, count, start])
        return [(pk, -score) for pk, score in rows]

    def _snippets(self, text: str, pks: list[int]) -> dict[int, str | None]:
        columns = ", ".join(
            f"snippet(cases_fts, {column}, '{MARK_OPEN}', '{MARK_CLOSE}', '…', {_SNIPPET_TOKENS})"
            for column in (1, 2))  # summary, disproof
        return {pk: best_snippet(candidates) for pk, *candidates in self._fts(
            f"SELECT rowid, {columns} FROM cases_fts WHERE cases_fts MATCH ?"
            " AND +rowid IN (SELECT value FROM json_each(?))", [to_fts(text), json.dumps(pks)])}
