"""What every SQL backend shares: cases, facet terms, the audit trail, searches and caches.

The statements here are plain SQL with `?` placeholders that SQLite and PostgreSQL both
run (the PostgreSQL connection translates the placeholders). What differs between the
two engines — opening, migrating, locking, full text, and "has anything changed?" — is
left to the subclasses: `disinfodb.store.sqlite` and `disinfodb.store.postgres`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from disinfodb.cases import Case
from disinfodb.errors import CaseConflict, CaseExists, CaseNotFound, VersionConflict
from disinfodb.facets import FACET_NAMES, case_terms
from disinfodb.search import Hit, Results, SearchQuery, Snippet
from disinfodb.store.accounts import AccountTables
from disinfodb.store.batch import KnownRow, KnownRows
from disinfodb.store.narratives import NarrativeBook
from disinfodb.store.protocol import AuditEntry, Outcome, Store
from disinfodb.store.ranking import RankIndex
from disinfodb.store.rate_buckets import RateBuckets
from disinfodb.store.snapshots import BackgroundSnapshot, SharedSnapshot
from disinfodb.store.term_index import IntArray, TermIndex, int_array
from disinfodb.store.trail import Changes, TrailMark, changes_since, trail_end
from disinfodb.store.triage import TriageBook

T = TypeVar("T")
P = ParamSpec("P")
S = TypeVar("S", bound="SQLStore")
ITER_BATCH = 500
# A search stops after this long (the engine interrupts it) rather than hold a connection
# other requests wait for; the parser's limits keep well-formed queries far below it.
SEARCH_SECONDS = 5.0
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"  # around matched words in the engines' snippets
_PLAIN_SNIPPET_CHARS = 240


class Connection(Protocol):
    """A connection that runs `?`-placeholder SQL: sqlite3's, or the PostgreSQL adapter."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, rows: Any, /) -> Any: ...
    def close(self) -> None: ...


def _under_lock(method: Callable[Concatenate[S, P], T]) -> Callable[Concatenate[S, P], T]:
    """Run a read under the store's lock: a server's threads share a reader connection, and
    a statement run while another thread's snapshot is open would read inside that
    snapshot (old data: a GET answering a version already replaced)."""
    def locked(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._lock:
            return method(self, *args, **kwargs)
    locked.__name__, locked.__doc__ = method.__name__, method.__doc__
    return locked


def redact_password(location: str) -> str:
    """A path or URL as it may be shown or logged: a URL's password (in the user part or a
    `password=` parameter) replaced by ***."""
    parts = urlsplit(location)
    if not parts.scheme or not parts.netloc:
        return location
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _now() -> datetime:
    return datetime.now(UTC)


# A case's narrative is read with it: `narratives` is computed (case_narratives), never
# taken from the stored document, so every face (show, the API, exports) says the same.
_WITH_NARRATIVE = "FROM cases c LEFT JOIN case_narratives cn ON cn.case_pk = c.pk"


@dataclass
class _NewCase:
    """A new case queued to be written: its row (which gets its pk then), the case as
    stored, and when it was created (ISO 8601: its created_at, updated_at and audit time)."""

    row: KnownRow
    stored: Case
    at: str


_CASE_COLUMNS = ("pk", "id", "url", "content_id", "title", "summary", "disproof", "tags", "published", "issue",
                 "doc", "version", "created_at", "updated_at")
_AUDIT_COLUMNS = ("case_id", "action", "version", "actor", "at", "previous")


def _with_narratives(case: Case, narrative_id: str | None) -> Case:
    """The case with its computed membership as `narratives` (a case is in one narrative at most)."""
    return case.model_copy(update={"narratives": [narrative_id] if narrative_id else []})


class SQLStore:
    """A Store on one SQL database, through one connection guarded by a lock.

    Writes outside `transaction()` commit one by one; a whole import runs in one
    transaction, so a crash or a bad record leaves the database as it was.
    """

    dialect: str  # "sqlite" or "postgresql"
    location: str  # the path or URL it was opened from (what `open_store` takes)
    #: SQL for a case's publication date as a day number (`date.toordinal()`).
    date_ordinal_sql: str

    def __init__(self, connection: Connection) -> None:
        self._db = connection
        self._lock = threading.RLock()
        self._in_transaction = False
        self._reading = False
        self._term_ids: dict[tuple[str, str], int] = {}
        self._writes = 0  # commits made through this connection
        self._outside_version = -1  # the engine's change counter when this connection last began a write
        self._shared = SharedIndexes()  # a sibling connection (`sibling()`) shares them
        self._version_seen: tuple[int, int] | None = None
        self._changed_before = math.inf  # a change this connection has not seen in an index was committed before this
        self._snapshot_started = -math.inf

    # -- what a backend provides ----------------------------------------------------------

    def _begin_write(self) -> None:
        """Start a write transaction that excludes other writers until it ends; if that
        fails, no transaction is left open."""
        raise NotImplementedError

    def _begin_read(self) -> None:
        """Start a read transaction with one consistent view of the data."""
        raise NotImplementedError

    def _change_counter(self) -> int:
        """A number that changes whenever any connection has committed a change to cases."""
        raise NotImplementedError

    @property
    def schema_version(self) -> int:
        raise NotImplementedError

    def in_list(self, column: str, values: Sequence[int | str]) -> tuple[str, Any]:
        """`column IN values` as SQL with one parameter (lists of any length, no string-built SQL)."""
        raise NotImplementedError

    def int_column(self, sql: str, order_by: str | None, params: Sequence[Any] = ()) -> IntArray:
        """The `value` column of a query (`order_by` names columns it selects) as an integer
        array in that order, aggregated in the engine and parsed in bulk: fetching 100k
        rows one at a time costs several times as much. With `order_by` None, in whatever
        order the engine reads them (SQLite may then scan a narrow index, not the table)."""
        raise NotImplementedError

    def _text_pks(self, text: str) -> IntArray | None:
        """Ascending pks of the cases whose text matches query text (None: no text query)."""
        raise NotImplementedError

    def _ranked(self, text: str, matches: IntArray, unfiltered: int, start: int, count: int
                ) -> list[tuple[int, float | None]]:
        """One page of `matches` (ascending pks: the text's matches that passed the filters,
        of `unfiltered` matches in all), best first."""
        raise NotImplementedError

    def _snippets(self, text: str, pks: list[int]) -> dict[int, str | None]:
        """pk -> the best snippet with matched words between MARK_OPEN and MARK_CLOSE."""
        raise NotImplementedError

    def reopen(self) -> SQLStore:
        """Another connection to the same database (a server reads and writes on separate ones)."""
        raise NotImplementedError

    def sibling(self) -> SQLStore:
        """Another connection to the same database that shares this one's in-memory indexes
        (a server's readers: one copy in memory, however many connections read)."""
        other = self.reopen()
        other._shared = self._shared
        return other

    def _time_limit(self, seconds: float) -> AbstractContextManager[None]:
        """Stop the statements run inside (in a read transaction) after `seconds`, with SearchTooSlow."""
        raise NotImplementedError

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:  # never under a statement another thread is running (that crashes sqlite3)
            self._db.close()

    @property
    def display_location(self) -> str:
        """The location as it may be shown or logged (a URL's password hidden)."""
        return redact_password(self.location)

    def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """Every row of one statement, read under the store's lock (see `_under_lock`)."""
        with self._lock:
            return list(self._db.execute(sql, parameters).fetchall())

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; nested calls join the outer one."""
        with self._lock:
            if self._in_transaction:
                yield
                return
            self._begin_write()
            self._in_transaction = True
            try:
                outside = self._change_counter()
                if outside != self._outside_version:  # another connection wrote (a restore renumbers terms)
                    self._term_ids.clear()
                    self._outside_version = outside
                yield
            except BaseException:
                self._rollback()
                self._term_ids.clear()  # ids handed out inside the transaction are gone
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                except BaseException:
                    self._term_ids.clear()
                    self._after_failed_commit()
                    raise
                self._writes += 1
            finally:
                self._in_transaction = False

    def _after_failed_commit(self) -> None:
        """Leave no transaction open after a COMMIT that raised (PostgreSQL has ended it)."""

    #: What a statement of `row_transaction` adds to a SELECT to lock the rows it reads.
    row_lock = ""

    def _begin_row_write(self) -> None:
        """Start a write transaction of a few rows that lock themselves (`row_lock`)."""
        self._begin_write()

    @contextmanager
    def row_transaction(self) -> Iterator[None]:
        """A short write transaction that waits for no other write on PostgreSQL (it
        locks the rows it reads instead of taking the writers' lock) and is not one of the
        cases' writes: the term ids and this connection's write count are left alone."""
        with self._lock:
            self._begin_row_write()
            try:
                yield
            except BaseException:
                self._rollback()
                raise
            try:
                self._db.execute("COMMIT")
            except BaseException:
                self._after_failed_commit()
                raise

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction, so the index, the count and the page see the same data;
        inside another snapshot or a write transaction it joins that one."""
        with self._lock:
            if self._in_transaction or self._reading:
                yield
                return
            self._snapshot_started = time.monotonic()  # before BEGIN: the snapshot sees every commit until now
            self._begin_read()
            self._reading = True
            try:
                yield
            except BaseException:
                self._rollback()
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._reading = False

    # -- writes -----------------------------------------------------------------------

    def upsert(self, case: Case, actor: str = "system") -> tuple[Outcome, Case]:
        """Insert a case, or update the one it matches (by id, else URL, else content id)."""
        result = self.upsert_many([case], actor)[0]
        if isinstance(result, CaseConflict):
            raise result
        return result

    def upsert_many(self, cases: Sequence[Case], actor: str = "system") -> list[tuple[Outcome, Case] | CaseConflict]:
        """Upsert cases in order, each as `upsert` would (a case matches the ones before it),
        in a few statements per batch rather than a few per case (what an import's speed
        on a database server depends on): the rows they may match are read at once, and
        the new cases are written together with one bulk insert per table. A case that
        names two stored cases gets its CaseConflict in the list, and writes nothing."""
        results: list[tuple[Outcome, Case] | CaseConflict] = []
        if not cases:
            return results
        with self.transaction():
            known = KnownRows.read(self, cases)
            new: list[_NewCase] = []
            for case in cases:
                try:
                    row = known.match(case)
                except CaseConflict as conflict:
                    results.append(conflict)
                    continue
                if row is None:
                    results.append((Outcome.CREATED, self._new_case(case, known, new, actor)))
                    continue
                existing = Case.stored(row.doc)
                incoming = case.model_copy(update={"id": existing.id})
                if incoming.content() == existing.content():
                    results.append((Outcome.UNCHANGED, existing))
                    continue
                self._write_new(new, actor)  # audit rows stay in the order of the cases
                assert row.pk is not None  # written by now
                updated = self._update(row.pk, existing, incoming, actor)  # rare: one at a time
                known.moved(row, updated)
                results.append((Outcome.UPDATED, updated))
            self._write_new(new, actor)
        return results

    def _new_case(self, case: Case, known: KnownRows, new: list[_NewCase], actor: str) -> Case:
        """A new case with its id and timestamps, queued in `new` to be written."""
        now = _now()
        case_id = known.free_id(case)
        if case_id is None:  # its three candidates are taken: count in the database, the queue written first
            self._write_new(new, actor)
            base = case.id or case.base_slug()
            count = self._db.execute("SELECT count(*) FROM cases WHERE id LIKE ?", (base + "-%",)).fetchone()[0]
            case_id = f"{base}-{count + 1}"
        stored = case.model_copy(update={"id": case_id, "version": 1, "created_at": now, "updated_at": now})
        new.append(_NewCase(known.add(stored), stored, now.isoformat()))
        return _with_narratives(stored, None)  # a new case is in no narrative until the next build

    def _write_new(self, new: list[_NewCase], actor: str) -> None:
        """Insert the queued new cases, their facet rows and their audit rows, and empty the queue."""
        if not new:
            return
        pks = self._reserve_pks(len(new))
        for queued, pk in zip(new, pks, strict=True):
            queued.row.pk = pk
        self.insert_rows("cases", _CASE_COLUMNS,
                         [(pk, *self._row(q.stored), q.at, q.at) for pk, q in zip(pks, new, strict=True)])
        self._write_terms([(pk, q.stored) for pk, q in zip(pks, new, strict=True)])
        self.insert_rows("audit", _AUDIT_COLUMNS, [(q.stored.id, "create", 1, actor, q.at, None) for q in new])
        new.clear()

    def _reserve_pks(self, count: int) -> list[int]:
        """Keys for `count` new cases, in ascending order: the ones the engine would give them."""
        raise NotImplementedError

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert many rows into one table (PostgreSQL: COPY, one stream instead of a statement each)."""
        if rows:
            self._db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
                                 f" ({', '.join('?' for _ in columns)})", rows)

    def _update(self, pk: int, existing: Case, incoming: Case, actor: str) -> Case:
        now = _now()
        stored = incoming.model_copy(update={"version": existing.version + 1,
                                             "created_at": existing.created_at, "updated_at": now})
        self._db.execute(
            "UPDATE cases SET id=?, url=?, content_id=?, title=?, summary=?, disproof=?, tags=?, published=?,"
            " issue=?, doc=?, version=?, updated_at=? WHERE pk=?",
            (*self._row(stored), now.isoformat(), pk),
        )
        old_terms = self._terms_of(pk)
        self._db.execute("DELETE FROM case_terms WHERE case_pk = ?", (pk,))
        self._write_terms([(pk, stored)])
        self._drop_unused_terms(old_terms)
        self._audit(stored.id, "update", stored.version, actor, now, existing)
        member = self._db.execute("SELECT narrative_id FROM case_narratives WHERE case_pk = ?", (pk,)).fetchone()
        return _with_narratives(stored, member[0] if member else None)  # an edit keeps the case's narrative

    def create(self, case: Case, actor: str = "system") -> Case:
        """Insert a new case; one that is already here (by id, URL or content) is refused."""
        with self.transaction():
            known = KnownRows.read(self, [case])
            row = known.match(case)
            if row is not None:
                existing_id = Case.stored(row.doc).id
                raise CaseExists(f"this case is already in the database as {existing_id!r}", existing_id)
            new: list[_NewCase] = []
            created = self._new_case(case, known, new, actor)
            self._write_new(new, actor)
            return created

    def replace(self, case_id: str, case: Case, actor: str = "system",
                expected_version: int | None = None) -> tuple[Outcome, Case]:
        """Overwrite case `case_id` with `case` (an edit). With `expected_version`, an edit
        made on an older version than the stored one is refused, so no update is lost."""
        with self.transaction():
            pk = self.pk_of(case_id)
            existing = self._locked(case_id, expected_version)
            incoming = case.model_copy(update={"id": case_id})
            if incoming.content() == existing.content():
                return Outcome.UNCHANGED, existing
            if incoming.url and self._db.execute("SELECT 1 FROM cases WHERE url = ? AND pk != ?",
                                                 (incoming.url, pk)).fetchone():
                raise CaseConflict(f"URL {incoming.url} belongs to another case")
            return Outcome.UPDATED, self._update(pk, existing, incoming, actor)

    def delete(self, case_id: str, actor: str = "system", expected_version: int | None = None) -> None:
        with self.transaction():
            existing = self._locked(case_id, expected_version)
            old_terms = self._terms_of(self.pk_of(case_id))
            self._db.execute("DELETE FROM cases WHERE id = ?", (case_id,))  # its case_terms go with it
            self._drop_unused_terms(old_terms)
            self._audit(case_id, "delete", existing.version, actor, _now(), existing)

    def _locked(self, case_id: str, expected_version: int | None) -> Case:
        """The stored case, checked against the version an edit was based on."""
        existing = self.get(case_id)
        if expected_version is not None and expected_version != existing.version:
            raise VersionConflict(case_id, expected_version, existing.version)
        return existing

    @staticmethod
    def _row(case: Case) -> tuple[Any, ...]:
        tags = " · ".join([*case.keywords, *case.countries])
        return (case.id, case.url, case.content_id, case.title, case.summary, case.disproof, tags,
                case.published.isoformat() if case.published else None, case.issue,
                case.document(), case.version)

    def _write_terms(self, cases: Sequence[tuple[int, Case]]) -> None:
        """The case_terms rows of (pk, case) pairs, their terms created first where new."""
        pairs = [(pk, term) for pk, case in cases for term in case_terms(case)]
        self._learn_term_ids([term for _, term in pairs])
        self.insert_rows("case_terms", ("case_pk", "term_id"),
                         [(pk, self._term_ids[facet, key]) for pk, (facet, key, _) in pairs])

    def _terms_of(self, pk: int) -> list[int]:
        return [int(term_id) for (term_id,) in self._db.execute(
            "SELECT term_id FROM case_terms WHERE case_pk = ?", (pk,))]

    def _drop_unused_terms(self, term_ids: list[int]) -> None:
        """Delete the facet values no case carries any more: a deleted case's 300,000
        keywords must not stay in every later search's term index."""
        if not term_ids:
            return
        where, param = self.in_list("id", term_ids)
        self._db.execute(f"DELETE FROM terms WHERE {where}"
                         " AND NOT EXISTS (SELECT 1 FROM case_terms ct WHERE ct.term_id = terms.id)", (param,))
        dropped = set(term_ids)
        self._term_ids = {key: term_id for key, term_id in self._term_ids.items() if term_id not in dropped}

    def _learn_term_ids(self, terms: Sequence[tuple[str, str, str]]) -> None:
        """Put the ids of facet values (facet, key, label) in `_term_ids`, creating the new
        ones in order of first use (the first label seen is kept): one statement to
        insert them all, one per facet to read their ids."""
        missing: dict[tuple[str, str], str] = {}
        for facet, key, label in terms:
            if (facet, key) not in self._term_ids:
                missing.setdefault((facet, key), label)
        if not missing:
            return
        self._db.executemany("INSERT INTO terms (facet, key, label) VALUES (?, ?, ?)"
                             " ON CONFLICT (facet, key) DO NOTHING",
                             [(facet, key, label) for (facet, key), label in missing.items()])
        for facet in sorted({facet for facet, _ in missing}):
            where, param = self.in_list("key", sorted(key for f, key in missing if f == facet))
            for term_id, key in self._db.execute(f"SELECT id, key FROM terms WHERE facet = ? AND {where}",
                                                 (facet, param)):
                self._term_ids[facet, key] = int(term_id)

    def _audit(self, case_id: str, action: str, version: int, actor: str, at: datetime,
               previous: Case | None) -> None:
        self._db.execute(
            "INSERT INTO audit (case_id, action, version, actor, at, previous) VALUES (?,?,?,?,?,?)",
            (case_id, action, version, actor, at.isoformat(),
             previous.document() if previous else None),
        )

    # -- reads ------------------------------------------------------------------------

    @_under_lock
    def get(self, case_id: str) -> Case:
        row = self._db.execute(f"SELECT c.doc, cn.narrative_id {_WITH_NARRATIVE} WHERE c.id = ?",
                               (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(f"no case with id {case_id!r}")
        return _with_narratives(Case.stored(row[0]), row[1])

    @_under_lock
    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM cases").fetchone()[0])

    def iter_cases(self, query: SearchQuery | None = None) -> Iterator[Case]:
        """Every case (or those a query's filters select), in batches: constant memory."""
        if query is None:
            batches: Iterator[list[int]] | None = None
        else:
            with self.snapshot():
                selected = self.term_index().select(query)
            batches = (selected[i:i + ITER_BATCH].tolist() for i in range(0, len(selected), ITER_BATCH))
        last = 0
        while True:
            if batches is None:
                rows = self.fetch_all(f"SELECT c.pk, c.doc, cn.narrative_id {_WITH_NARRATIVE}"
                                      " WHERE c.pk > ? ORDER BY c.pk LIMIT ?", (last, ITER_BATCH))
            else:
                where, param = self.in_list("c.pk", next(batches, []))
                rows = self.fetch_all(f"SELECT c.pk, c.doc, cn.narrative_id {_WITH_NARRATIVE}"
                                      f" WHERE {where} ORDER BY c.pk", (param,))
            if not rows:
                return
            last = rows[-1][0]
            for _, doc, narrative_id in rows:
                yield _with_narratives(Case.stored(doc), narrative_id)

    @_under_lock
    def history(self, case_id: str) -> list[AuditEntry]:
        rows = self._db.execute(
            "SELECT seq, case_id, action, version, actor, at, previous FROM audit"
            " WHERE case_id = ? ORDER BY seq", (case_id,)).fetchall()
        return [AuditEntry(seq, cid, action, version, actor, datetime.fromisoformat(at),
                           Case.stored(prev) if prev else None)
                for seq, cid, action, version, actor, at, prev in rows]

    @_under_lock
    def audit_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM audit").fetchone()[0])

    def search(self, query: SearchQuery) -> Results:
        """Full text + filters -> one page of hits, the total, and facet counts.

        Filters, dates and facets come from the in-memory TermIndex; the engine's full-text
        index gives the text matches and ranks only the cases that passed the filters.
        """
        with self.snapshot(), self._time_limit(SEARCH_SECONDS):
            index = self.term_index()
            text_matches, selected = self._selected(index, query)
            start = (query.page - 1) * query.per_page
            page: list[tuple[int, float | None]]
            if text_matches is not None and query.sort == "relevance":
                page = self._ranked(query.text, selected, len(text_matches), start, query.per_page)
            else:
                ordered = index.by_date(selected, newest_first=query.sort != "date_asc")
                page = [(int(pk), None) for pk in ordered[start:start + query.per_page]]
            hits = self._hits(page, query.text if text_matches is not None else None)
            facets = index.facet_counts(selected, query.facet_size) if len(selected) else {}
        return Results(total=len(selected), hits=hits, facets=facets, page=query.page,
                       per_page=query.per_page)

    def ranked_matches(self, query: SearchQuery, limit: int) -> list[int]:
        """The `limit` best text matches of a query that pass its filters, best first: the
        words ranking, for a search that fuses it with another (matching.meaning)."""
        with self.snapshot(), self._time_limit(SEARCH_SECONDS):
            text_matches, selected = self._selected(self.term_index(), query)
            if text_matches is None or not len(selected):
                return []
            return [pk for pk, _ in self._ranked(query.text, selected, len(text_matches), 0, limit)]

    def _selected(self, index: TermIndex, query: SearchQuery) -> tuple[IntArray | None, IntArray]:
        """The text's matches (None: no text) and, of them, those that pass the filters."""
        text_matches = self._text_pks(query.text)
        return text_matches, index.select(query, within=text_matches)

    def hits(self, page: list[tuple[int, float | None]], words: str | None = None,
             sentences: dict[int, str] | None = None) -> list[Hit]:
        """A page of cases ranked outside the store: snippets of the matched `words` where
        they match, else the case sentence given for it in `sentences` (marked whole)."""
        with self.snapshot():
            return self._hits(page, words, sentences)

    def text_matches(self, text: str) -> IntArray | None:
        """Ascending pks of the cases a text query matches (None: the text holds no term)."""
        with self.snapshot():
            return self._text_pks(text)

    @_under_lock
    def data_version(self) -> tuple[int, int]:
        """Changes whenever the database has changed: commits here, and commits by others."""
        return self._writes, self._change_counter()

    def term_index(self) -> TermIndex:
        """The in-memory term index, caught up from the audit trail when this or another
        connection (or process) has written.

        Inside a write transaction it is caught up and not kept: it must see the
        transaction's own writes, and they may yet be rolled back. Elsewhere it is read
        in a snapshot and shared with this connection's siblings: an index loaded in a
        snapshot that began after the last change this connection has noticed is current
        (its change counter only says *that* something changed, and the change was
        committed before the snapshot in which the counter moved began).
        """
        if self._in_transaction:
            return self._caught_up_terms()
        with self.snapshot():
            index = self._shared.terms.current(self._noticed_changes())
            if index is None:
                index = self._caught_up_terms()
                self._shared.terms.offer(index, self._snapshot_started)
            return index

    def _caught_up_terms(self) -> TermIndex:
        """The last term index brought up to this connection's view, or a first full load."""
        last = self._shared.terms.latest()
        return last.caught_up(self) if last is not None else TermIndex.load(self)

    def _noticed_changes(self) -> float:
        """In a snapshot: an index loaded in a snapshot that began at or after the time this
        returns holds every change this connection has noticed (the start of the snapshot
        in which its change counter last moved)."""
        version = self.data_version()
        if version != self._version_seen:
            self._version_seen = version
            self._changed_before = self._snapshot_started
        return self._changed_before

    def _hits(self, page: list[tuple[int, float | None]], text: str | None,
              sentences: dict[int, str] | None = None) -> list[Hit]:
        """Load the page's cases and, for a text search, their highlighted snippets."""
        if not page:
            return []
        pks = [pk for pk, _ in page]
        where, param = self.in_list("pk", pks)
        docs = dict(self._db.execute(f"SELECT pk, doc FROM cases WHERE {where}", (param,)).fetchall())
        snippets: dict[int, str | None] = {pk: f"{MARK_OPEN}{sentence}{MARK_CLOSE}"
                                           for pk, sentence in (sentences or {}).items()}
        if text:
            snippets |= {pk: snippet for pk, snippet in self._snippets(text, pks).items() if snippet}
        return [_hit(json.loads(docs[pk]), score, snippets.get(pk)) for pk, score in page]

    def claim_rows(self, model: str) -> Iterator[tuple[int, str, str, str | None, str | None, bytes | None]]:
        """Each case's title and summary with its cached embedding for `model`, if any:
        (pk, title, summary, text_hash, units JSON, vectors)."""
        for pk, title, summary, text_hash, units, vectors in self._db.execute(
                "SELECT c.pk, c.title, c.summary, e.text_hash, e.units, e.vectors FROM cases c"
                " LEFT JOIN embeddings e ON e.case_pk = c.pk AND e.model = ? ORDER BY c.pk", (model,)):
            yield pk, title, summary, text_hash, units, bytes(vectors) if vectors is not None else None

    def save_embeddings(self, model: str, rows: list[tuple[int, str, str, bytes]]) -> None:
        """Cache (pk, text_hash, units JSON, vectors) for `model`."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO embeddings (case_pk, model, text_hash, units, vectors) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (case_pk, model) DO UPDATE SET text_hash = excluded.text_hash,"
                " units = excluded.units, vectors = excluded.vectors",
                [(pk, model, text_hash, units, vectors) for pk, text_hash, units, vectors in rows])

    @_under_lock
    def cached_embeddings(self, model: str, case_pks: list[int]) -> dict[int, tuple[str, bytes]]:
        """pk -> (text_hash, vectors) of the given cases' cached embeddings for `model`
        (what another process may have cached while this one was embedding)."""
        where, param = self.in_list("case_pk", case_pks)
        return {int(pk): (str(text_hash), bytes(vectors)) for pk, text_hash, vectors in self._db.execute(
            f"SELECT case_pk, text_hash, vectors FROM embeddings WHERE model = ? AND {where}", (model, param))}

    @_under_lock
    def case_ids(self, case_pks: list[int]) -> dict[int, tuple[str, str]]:
        """pk -> (id, title) for the given cases."""
        where, param = self.in_list("pk", case_pks)
        return {pk: (cid, title) for pk, cid, title in self._db.execute(
            f"SELECT pk, id, title FROM cases WHERE {where}", (param,))}

    @_under_lock
    def pk_of(self, case_id: str) -> int:
        row = self._db.execute("SELECT pk FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(f"no case with id {case_id!r}")
        return int(row[0])

    @property
    def accounts(self) -> AccountTables:
        """The users, API tokens and web sessions (what they mean: `disinfodb.accounts`)."""
        return AccountTables(self)

    @property
    def rate_buckets(self) -> RateBuckets:
        """The rate limits' token buckets that server processes share."""
        return RateBuckets(self)

    @property
    def narratives(self) -> NarrativeBook:
        """The narratives of this database: reading, analysts' edits, saving a clustering."""
        return NarrativeBook(self)

    @property
    def triage(self) -> TriageBook:
        """What `watch` has seen, and the triage queue of its hits."""
        return TriageBook(self)

    def claim_texts(self, case_ids: Sequence[str] | None = None) -> dict[int, str]:
        """case pk -> "title. summary" of every case (or of those of the given ids that are
        here): what narratives are labelled from, and what a matching index is built from."""
        if case_ids is None:
            rows = self.fetch_all("SELECT pk, title, summary FROM cases")
        else:
            where, param = self.in_list("id", case_ids)
            rows = self.fetch_all(f"SELECT pk, title, summary FROM cases WHERE {where}", (param,))
        return {int(pk): f"{title}. {summary}" for pk, title, summary in rows}

    def trail_end(self) -> TrailMark:
        """The last entry of the audit trail (in the caller's snapshot)."""
        return trail_end(self.fetch_all)

    def changes_since(self, mark: TrailMark) -> Changes | None:
        """What the audit trail says changed after `mark` (None: it cannot say; `store.trail`)."""
        return changes_since(self.fetch_all, mark)

    def disproofs(self) -> list[tuple[int, str, str, date | None, str]]:
        """(pk, id, title, published, disproof) of every case with a disproof, oldest first
        (undated last): what shared rebuttals are found in."""
        return [(int(pk), str(cid), str(title), date.fromisoformat(published) if published else None, str(text))
                for pk, cid, title, published, text in self.fetch_all(
                    "SELECT pk, id, title, published, disproof FROM cases WHERE disproof != ''"
                    " ORDER BY published IS NULL, published, pk")]

    def review_issues(self) -> list[tuple[int, int, date | None, date | None]]:
        """(issue, cases, first, last publication date) of every review issue, newest first."""
        return [(int(issue), int(n), date.fromisoformat(first) if first else None,
                 date.fromisoformat(last) if last else None) for issue, n, first, last in self.fetch_all(
            "SELECT issue, count(*), min(published), max(published) FROM cases WHERE issue IS NOT NULL"
            " GROUP BY issue ORDER BY issue DESC")]

    def title_of(self, case_id: str) -> str | None:
        """The title of a case, None when there is no such case."""
        rows = self.fetch_all("SELECT title FROM cases WHERE id = ?", (case_id,))
        return str(rows[0][0]) if rows else None

    @_under_lock
    def changed_since(self, audit_seq: int) -> list[str]:
        """Ids of the cases created or updated after an audit sequence number (and still here)."""
        return [cid for (cid,) in self._db.execute(
            "SELECT DISTINCT a.case_id FROM audit a JOIN cases c ON c.id = a.case_id"
            " WHERE a.seq > ? AND a.action IN ('create', 'update')", (audit_seq,))]

    @_under_lock
    def last_audit_seq(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0])

    @_under_lock
    def stats(self) -> dict[str, Any]:
        first, last = self._db.execute("SELECT min(published), max(published) FROM cases").fetchone()
        terms = dict(self._db.execute(
            "SELECT facet, count(*) FROM terms WHERE id IN (SELECT term_id FROM case_terms)"
            " GROUP BY facet").fetchall())
        return {"cases": self.count(), "first_published": first, "last_published": last,
                "distinct": {facet: terms.get(facet, 0) for facet in FACET_NAMES},
                "audit_entries": self.audit_count(), "schema_version": self.schema_version,
                "backend": self.dialect, "path": self.display_location}


def sql_store(store: Store) -> SQLStore:
    """A Store as the SQL store it is (every one is): what the engine-level operations of
    this package (copies, backups) work on."""
    if not isinstance(store, SQLStore):
        raise TypeError(f"{type(store).__name__} is not a SQL store")
    return store


@dataclass
class SharedIndexes:
    """The in-memory indexes several connections to one database may use: the term index
    (every engine) and the ranking index (SQLite's)."""

    terms: SharedSnapshot[TermIndex] = field(default_factory=SharedSnapshot)
    ranking: BackgroundSnapshot[RankIndex] = field(default_factory=BackgroundSnapshot)


def best_snippet(candidates: Sequence[str | None]) -> str | None:
    """The first snippet with a highlighted match; None when no text column matched.

    Backends pass the summary's snippet first, then the disproof's: the claim is what a
    reader wants (the title is shown anyway, so it is never repeated as the snippet)."""
    return next((c for c in candidates if c and MARK_OPEN in c), None)


def _hit(doc: dict[str, Any], score: float | None, snippet: str | None) -> Hit:
    if snippet:
        shown = Snippet.marked(" ".join(snippet.split()), MARK_OPEN, MARK_CLOSE)
    else:
        plain = " ".join((doc["summary"] or doc["disproof"]).split())
        cut = plain[:_PLAIN_SNIPPET_CHARS]
        shown = Snippet(((cut + ("…" if len(plain) > len(cut) else ""), False),) if cut else ())
    return Hit(
        id=doc["id"], title=doc["title"],
        published=date.fromisoformat(doc["published"]) if doc["published"] else None,
        issue=doc["issue"], languages=doc["languages"], countries=doc["countries"],
        keywords=doc["keywords"], snippet=shown, score=score,
    )


def sorted_pks(text: str | None) -> IntArray:
    """Comma-separated pks (an aggregate's output) as an ascending array."""
    return np.sort(int_array(text))
