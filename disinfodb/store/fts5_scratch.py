"""A scratch FTS5 table on an in-memory database: FTS5's own tokenizer and snippets for a
few rows, without touching the cases' index.

Two things a search needs of FTS5 cost far more on the 100k-case table than on a copy of
the few rows they are about:
- a query word's terms as the index holds them (stemmed, folded): the ranking index
  looks its postings up by them (disinfodb.store.ranking);
- the snippets of one page of hits: on the cases' table FTS5 computes them inside the
  query, which walks every match of a broad query (10-30 ms for `Russ*`'s 84k matches;
  seeking the page's rowids instead merges a prefix's doclists once per row, worse).
  A snippet depends only on the row's text and the query, so the page's rows copied into
  this table, with the same columns and tokenizer, give the same snippets in ~1 ms.

One connection for the process; statements on it take turns, each in a transaction that
is rolled back, so the table is always empty between them.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from disinfodb.store.schema import SQLITE_TOKENIZER

FTS_COLUMNS = ("title", "summary", "disproof", "tags")  # cases_fts's columns, in its order


class _Scratch:
    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._db.execute(f"CREATE VIRTUAL TABLE scratch USING fts5 ({', '.join(FTS_COLUMNS)},"
                         f" tokenize = '{SQLITE_TOKENIZER}')")
        self._db.execute("CREATE VIRTUAL TABLE scratch_instances USING fts5vocab (scratch, instance)")
        self._lock = threading.Lock()

    @contextmanager
    def _rows(self, rows: Sequence[Sequence[Any]]) -> Iterator[sqlite3.Connection]:
        """The table holding `rows` (rowid, then the columns), for the statements inside."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(f"INSERT INTO scratch (rowid, {', '.join(FTS_COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
                                     rows)
                yield self._db
            finally:
                self._db.execute("ROLLBACK")

    def tokens(self, text: str) -> tuple[str, ...]:
        with self._rows([(1, text, "", "", "")]) as db:
            return tuple(term for (term,) in db.execute('SELECT term FROM scratch_instances ORDER BY "offset"'))

    def select(self, rows: Sequence[Sequence[Any]], sql: str, parameters: Sequence[Any]) -> list[Any]:
        with self._rows(rows) as db:
            return db.execute(sql, parameters).fetchall()


_SCRATCH = _Scratch()


@functools.lru_cache(maxsize=4096)
def fts5_tokens(text: str) -> tuple[str, ...]:
    """The FTS5 terms of one query word or phrase, in order (`Erdoğan's` -> erdogan, s)."""
    return _SCRATCH.tokens(text)


def select_over(rows: Sequence[Sequence[Any]], sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
    """Run `sql` on the table `scratch` holding `rows` ((rowid, title, summary, disproof,
    tags) each): FTS5 queries and auxiliary functions over a copy of those rows."""
    return _SCRATCH.select(rows, sql, parameters)
