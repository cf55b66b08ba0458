"""The PostgreSQL store: the same cases, searches and caches on a shared server.

A team shares one database: each process holds one psycopg 3 connection per store (a
server opens a reader and a writer), migrations run through Alembic, and full text is a
generated `tsvector` column with a GIN index. Writers take turns on a transaction-level
advisory lock, which gives an edit's version check the same guarantee SQLite's BEGIN
IMMEDIATE gives it: nothing commits between the check and the write.

When the server restarts, the statement in flight fails with `DatabaseUnavailable` (an
API answers 503 and the client retries); the next call opens a new connection.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from disinfodb.errors import BadValue, DatabaseUnavailable, QuerySyntaxError, SearchTooSlow
from disinfodb.search import to_tsquery
from disinfodb.store.migrate import upgrade_postgres
from disinfodb.store.sql_store import MARK_CLOSE, MARK_OPEN, SQLStore, best_snippet, redact_password, sorted_pks
from disinfodb.store.term_index import IntArray, int_array

WRITE_LOCK = 0x64697366  # pg_advisory_xact_lock key ("disf"): one writer at a time, per database
_RANK_WEIGHTS = "{0.1, 0.3, 0.4, 1.0}"  # D disproof, C tags, B summary, A title (as SQLite's bm25 weights)
# Cover density with 1 + log(length) normalisation: on the real cases its top hits are
# bm25's (a case titled with the words outranks one that repeats them in a long text).
_HEADLINE = (f"StartSel={MARK_OPEN}, StopSel={MARK_CLOSE}, MaxWords=35, MinWords=15, MaxFragments=1,"
             " FragmentDelimiter=…")
_CONNECT_TIMEOUT_S = 10


@functools.lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    """`?` placeholders (what every shared statement uses) -> psycopg's `%s`."""
    return sql.replace("%", "%%").replace("?", "%s")


def conninfo(url: str) -> str:
    """Any spelling of a PostgreSQL URL (`postgres://`, `postgresql+psycopg://`, upper
    case) as libpq takes it."""
    return "postgresql://" + url.split("://", 1)[1]


@contextmanager
def _library_errors() -> Iterator[None]:
    """psycopg's errors that mean "try again later" or "bad input" as the library's own."""
    try:
        yield
    except psycopg.errors.QueryCanceled as error:  # statement_timeout (see PostgresStore._time_limit)
        raise SearchTooSlow(f"the search ran too long and was stopped: use more specific words ({error})".strip()
                            ) from error
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(f"the database is unavailable: {error}".strip()) from error
    except psycopg.DataError as error:  # e.g. a NUL in a text value, from a URL or a form
        raise BadValue(f"the database refuses a value: {error}".strip()) from error


class PgConnection:
    """A psycopg connection that runs the stores' `?`-placeholder SQL, and reconnects
    after the server went away — but never in the middle of a transaction, whose earlier
    statements died with the old connection (that transaction fails as a whole)."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]]) -> None:
        self._connect = connect
        self._raw = connect()
        self._in_transaction = False  # a BEGIN was sent and no COMMIT/ROLLBACK yet

    def _live(self) -> psycopg.Connection[Any]:
        if self._raw.closed or self._raw.broken:
            if self._in_transaction:
                raise DatabaseUnavailable("the connection to the database was lost during a transaction")
            self._raw.close()
            self._raw = self._connect()
        return self._raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        """Run one statement; its cursor (None for the ROLLBACK of a connection already lost)."""
        ends = sql.startswith(("COMMIT", "ROLLBACK"))
        if sql == "ROLLBACK" and not self.alive:  # the server rolled it back when the connection died
            self._in_transaction = False
            return None
        try:
            with _library_errors():
                cursor = self._live().execute(_pg_sql(sql), parameters)
        finally:
            if ends:
                self._in_transaction = False
        if sql.startswith("BEGIN"):
            self._in_transaction = True
        return cursor

    def executemany(self, sql: str, rows: Any, /) -> None:
        with _library_errors(), self._live().cursor() as cursor:
            cursor.executemany(_pg_sql(sql), list(rows))

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """COPY rows into a table: one stream, where an INSERT per row costs a statement each."""
        with _library_errors(), self._live().cursor() as cursor, \
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def scalar(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        """The first column of the first row (None when there is no row)."""
        row = self.execute(sql, parameters).fetchone()
        return None if row is None else row[0]

    @property
    def backend_pid(self) -> int:
        """The server process serving this connection (what pg_stat_activity and pg_locks name)."""
        return int(self._raw.info.backend_pid)

    @property
    def alive(self) -> bool:
        return not (self._raw.closed or self._raw.broken)

    def close(self) -> None:
        self._raw.close()


class PostgresStore(SQLStore):
    """A Store on a PostgreSQL database (migrated to the current schema on open)."""

    dialect = "postgresql"
    date_ordinal_sql = "(published::date - DATE '0001-01-01' + 1)"

    def __init__(self, url: str) -> None:
        self.location = url
        info = conninfo(url)
        try:
            upgrade_postgres(info)
            connection = PgConnection(functools.partial(_connect, info))
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(f"cannot open {redact_password(url)}: {error}".strip()) from None
        super().__init__(connection)
        self._db: PgConnection

    @property
    def schema_version(self) -> int:
        return int(self._db.scalar("SELECT version_num FROM alembic_version"))

    def reopen(self) -> PostgresStore:
        return PostgresStore(self.location)

    def _begin_write(self) -> None:
        self._db.execute("BEGIN")
        try:
            self._db.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
        except BaseException:  # the wait was cancelled, or the server went away
            self._db.execute("ROLLBACK")
            raise

    def _begin_read(self) -> None:
        self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    row_lock = " FOR UPDATE"

    def _begin_row_write(self) -> None:
        self._db.execute("BEGIN")

    def _change_counter(self) -> int:
        return int(self._db.scalar("SELECT value FROM change_counter WHERE id = 1"))

    def _reserve_pks(self, count: int) -> list[int]:
        return sorted(int(pk) for (pk,) in self._db.execute(
            "SELECT nextval(pg_get_serial_sequence('cases', 'pk')) FROM generate_series(1, ?)", (count,)))

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._db.copy_rows(table, columns, rows)

    @contextmanager
    def _time_limit(self, seconds: float) -> Iterator[None]:
        """statement_timeout for this transaction's statements, then back to what it was (a
        search may run inside a longer transaction; one that fails ends it, and the setting)."""
        previous = self._db.scalar("SELECT current_setting('statement_timeout')")
        self._db.execute("SELECT set_config('statement_timeout', ?, true)", (f"{int(seconds * 1000)}ms",))
        yield
        self._db.execute("SELECT set_config('statement_timeout', ?, true)", (previous,))

    def in_list(self, column: str, values: Sequence[int | str]) -> tuple[str, Any]:
        return f"{column} = ANY(?)", list(values)

    def int_column(self, sql: str, order_by: str | None, params: Sequence[Any] = ()) -> IntArray:
        ordered = f" ORDER BY {order_by}" if order_by else ""
        text = self._db.scalar(f"SELECT string_agg(value::text, ','{ordered}) FROM ({sql}) AS q", params)
        return int_array(text)

    # -- full text: tsvector ----------------------------------------------------------

    @contextmanager
    def _fts_errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.SyntaxError as error:  # to_tsquery refused the expression
            raise QuerySyntaxError(f"cannot search for that: {error}") from None

    def _text_pks(self, text: str) -> IntArray | None:
        query = to_tsquery(text)
        if query is None:
            return None
        with self._fts_errors():
            return sorted_pks(self._db.scalar(
                "SELECT string_agg(pk::text, ',') FROM cases WHERE fts @@ to_tsquery('disinfodb', ?)", (query,)))

    def _ranked(self, text: str, matches: IntArray, unfiltered: int, start: int, count: int
                ) -> list[tuple[int, float | None]]:
        where, params = "fts @@ q", [_RANK_WEIGHTS, to_tsquery(text)]
        if len(matches) < unfiltered:
            where += " AND pk = ANY(?)"
            params.append(matches.tolist())
        with self._fts_errors():
            rows = self._db.execute(
                "SELECT pk, ts_rank_cd(?::float4[], fts, q, 1) AS score FROM cases, to_tsquery('disinfodb', ?) AS q"
                f" WHERE {where} ORDER BY score DESC, pk LIMIT ? OFFSET ?", (*params, count, start)).fetchall()
        return [(int(pk), float(score)) for pk, score in rows]

    def _snippets(self, text: str, pks: list[int]) -> dict[int, str | None]:
        with self._fts_errors():
            rows = self._db.execute(
                "SELECT pk, ts_headline('disinfodb', summary, q, ?), ts_headline('disinfodb', disproof, q, ?)"
                " FROM cases, to_tsquery('disinfodb', ?) AS q WHERE pk = ANY(?)",
                (_HEADLINE, _HEADLINE, to_tsquery(text), pks)).fetchall()
        return {int(pk): best_snippet(candidates) for pk, *candidates in rows}


def _connect(info: str) -> psycopg.Connection[Any]:
    return psycopg.connect(info, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
