"""The embedded SQLite store: one file, zero set-up, an FTS5 index for full text.

WAL mode lets searches read while an import writes; BEGIN IMMEDIATE makes writers take
turns, so the checks an edit makes (its version, a duplicate URL) hold until it commits.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from disinfodb.errors import DisinfoError, QuerySyntaxError, SearchTooSlow
from disinfodb.search import to_fts
from disinfodb.store.fts5_scratch import FTS_COLUMNS, select_over
from disinfodb.store.migrate import upgrade_sqlite
from disinfodb.store.ranking import COLUMN_WEIGHTS, RankIndex
from disinfodb.store.schema import STEPS
from disinfodb.store.sql_store import MARK_CLOSE, MARK_OPEN, SQLStore, best_snippet, sorted_pks
from disinfodb.store.term_index import IntArray, int_array

_COLUMN_WEIGHTS = ", ".join(map(str, COLUMN_WEIGHTS.values()))  # bm25's arguments
_SNIPPET_TOKENS = 28
_JULIAN_DAY_OF_ORDINAL_0 = 1721424.5  # julianday('0001-01-01') is date ordinal 1


class _Watchdog:
    """Interrupts a connection's statements once their deadline has passed, from a thread
    of its own. Not a progress handler: a callback into Python from inside SQLite, while
    another thread holding the GIL waits for the same connection, deadlocks the server."""

    def __init__(self) -> None:
        self._due = threading.Condition()
        self._limits: dict[int, tuple[float, sqlite3.Connection]] = {}
        self._numbers = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def limit(self, connection: sqlite3.Connection, seconds: float) -> Iterator[None]:
        with self._due:
            number = next(self._numbers)
            self._limits[number] = (time.monotonic() + seconds, connection)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="disinfodb-sqlite-watchdog", daemon=True)
                self._thread.start()
            self._due.notify()
        try:
            yield
        finally:
            with self._due:
                self._limits.pop(number, None)

    def _watch(self) -> None:
        with self._due:
            while True:
                now = time.monotonic()
                for number, (deadline, connection) in list(self._limits.items()):
                    if deadline <= now:
                        del self._limits[number]
                        connection.interrupt()  # sets a flag: safe from any thread, takes no lock
                self._due.wait(min((d for d, _ in self._limits.values()), default=now + 60) - now)


_WATCHDOG = _Watchdog()


class SQLiteStore(SQLStore):
    """A Store on one SQLite file (created, and migrated, on open)."""

    dialect = "sqlite"
    date_ordinal_sql = f"CAST(julianday(published) - {_JULIAN_DAY_OF_ORDINAL_0} AS INTEGER)"
    #: Relevance pages of a text matching at least this many cases (before filters) are
    #: ordered by the ranking index (disinfodb.store.ranking) when a current one is there;
    #: FTS5's bm25 is fast on fewer.
    rank_index_from = 2_000

    def __init__(self, path: str | Path) -> None:
        self.path = self.location = str(path)
        super().__init__(sqlite3.connect(self.path, isolation_level=None, check_same_thread=False))
        self._db: sqlite3.Connection
        # busy_timeout first: switching a new file to WAL takes a lock another process opening
        # it at the same moment may hold, and without a timeout that fails at once.
        for pragma in ("busy_timeout = 10000", "journal_mode = WAL", "foreign_keys = ON",
                       "synchronous = NORMAL", "temp_store = MEMORY"):
            self._db.execute(f"PRAGMA {pragma}")
        self._migrate()

    def _migrate(self) -> None:
        if self.schema_version > len(STEPS):
            raise DisinfoError(f"{self.path} has schema version {self.schema_version}, newer than this"
                               f" disinfodb knows ({len(STEPS)}): upgrade disinfodb")
        upgrade_sqlite(self.path)

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

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

    def _reserve_pks(self, count: int) -> list[int]:
        # A rowid key is one more than the largest (no AUTOINCREMENT), and the write lock is held.
        last = int(self._db.execute("SELECT coalesce(max(pk), 0) FROM cases").fetchone()[0])
        return list(range(last + 1, last + 1 + count))

    @contextmanager
    def _time_limit(self, seconds: float) -> Iterator[None]:
        try:
            with _WATCHDOG.limit(self._db, seconds):
                yield
        except sqlite3.OperationalError as error:
            if str(error) != "interrupted":
                raise
            raise SearchTooSlow(f"the search ran longer than {seconds:g} s and was stopped:"
                                " use more specific words") from None

    def in_list(self, column: str, values: Sequence[int | str]) -> tuple[str, Any]:
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))

    def int_column(self, sql: str, order_by: str | None, params: Sequence[Any] = ()) -> IntArray:
        # SQLite 3.40 has no ORDER BY inside aggregates; group_concat reads its ordered
        # subquery in order (what SQLite does for a plain aggregate over one subquery).
        ordered = f"{sql} ORDER BY {order_by}" if order_by else sql
        text = self._db.execute(f"SELECT group_concat(value) FROM ({ordered})", params).fetchone()[0]
        return int_array(text)

    # -- full text: FTS5 --------------------------------------------------------------

    def _fts(self, sql: str, params: list[Any]) -> list[Any]:
        """Run an FTS5 query; FTS5's own complaints become a QuerySyntaxError."""
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            if str(error) == "interrupted":  # the time limit, not the query's syntax
                raise
            raise QuerySyntaxError(f"cannot search for that: {error}") from None

    def _text_pks(self, text: str) -> IntArray | None:
        fts = to_fts(text)
        if fts is None:
            return None
        # FTS5 yields rowids in order; sorting a sorted array is cheap
        return sorted_pks(self._fts("SELECT group_concat(rowid) FROM cases_fts WHERE cases_fts MATCH ?",
                                    [fts])[0][0])

    def _ranked(self, text: str, matches: IntArray, unfiltered: int, start: int, count: int
                ) -> list[tuple[int, float | None]]:
        """bm25 over the matches: from the ranking index when the text matches many cases
        (FTS5 walks them all, filtered or not), else FTS5's; the same scores."""
        if unfiltered >= self.rank_index_from and not self._in_transaction:  # it never holds uncommitted writes
            index = self._current_rank_index()
            page = index.page(text, matches, start, count) if index is not None else None
            if page is not None:
                return list(page)
        where, params = "cases_fts MATCH ?", [to_fts(text)]
        if len(matches) < unfiltered:
            # The unary + keeps FTS5 from seeking each rowid (slow); it filters the scan.
            where += " AND +rowid IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(matches.tolist()))
        rows = self._fts(f"SELECT rowid, bm25(cases_fts, {_COLUMN_WEIGHTS}) AS score FROM cases_fts"
                         f" WHERE {where} ORDER BY score, rowid LIMIT ? OFFSET ?", [*params, count, start])
        return [(pk, -score) for pk, score in rows]

    def _current_rank_index(self) -> RankIndex | None:
        """In a snapshot: the ranking index, caught up from the audit trail on the spot
        when it is behind (a few ms), else None while one is built in the background."""
        changed_before = self._noticed_changes()
        index = self._shared.ranking.current(changed_before)
        if index is None and (last := self._shared.ranking.latest()) is not None:
            index = last.caught_up(self, self.term_index().case_pks)
            if index is not None:
                self._shared.ranking.offer(index, self._snapshot_started)
        return index if index is not None else self._shared.ranking.get(changed_before, self._load_rank_index)

    def rank_index(self, wait_seconds: float = 0.0) -> RankIndex | None:
        """The current ranking index, shared with this connection's siblings; None while
        one is built in the background (started here if need be). With `wait_seconds`,
        waits up to that long for it (tests and benchmarks: a search never waits)."""
        with self.snapshot():
            changed_before = self._noticed_changes()
        return self._shared.ranking.get(changed_before, self._load_rank_index, wait_seconds)

    def _load_rank_index(self) -> tuple[RankIndex, float]:
        """A ranking index read on a connection of its own (this runs on the build's
        thread), and when the snapshot it was read in began."""
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            began = time.monotonic()  # before its BEGIN: the snapshot sees every commit until now
            return RankIndex.load(db), began
        finally:
            db.close()

    def _snippets(self, text: str, pks: list[int]) -> dict[int, str | None]:
        """FTS5's snippets of the page's rows, computed on a copy of them (fts5_scratch: on
        the cases' table FTS5 would walk every match of the query to find these rows)."""
        where, param = self.in_list("pk", pks)
        rows = self._db.execute(f"SELECT pk, {', '.join(FTS_COLUMNS)} FROM cases WHERE {where}", (param,)).fetchall()
        columns = ", ".join(
            f"snippet(scratch, {column}, '{MARK_OPEN}', '{MARK_CLOSE}', '…', {_SNIPPET_TOKENS})"
            for column in (1, 2))  # summary, disproof
        found = select_over(rows, f"SELECT rowid, {columns} FROM scratch WHERE scratch MATCH ?", [to_fts(text)])
        return {pk: best_snippet(candidates) for pk, *candidates in found}
