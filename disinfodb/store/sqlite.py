"""The embedded SQLite store: cases, facet terms, an FTS5 index and the audit trail.

WAL mode lets searches read while an import writes; one `transaction()` wraps a whole
import so a crash or a bad record leaves the file exactly as it was.
"""

from __future__ import annotations

import html
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from disinfodb.cases import Case
from disinfodb.errors import CaseConflict, CaseExists, CaseNotFound, QuerySyntaxError, VersionConflict
from disinfodb.search import FACETS, Hit, Results, SearchQuery, to_fts
from disinfodb.store.base import AuditEntry, Outcome
from disinfodb.store.schema import MIGRATIONS
from disinfodb.store.term_index import IntArray, TermIndex
from disinfodb.vocab import fold

_COLUMN_WEIGHTS = "10.0, 4.0, 1.0, 3.0"  # title, summary, disproof, tags
_SNIPPET_TOKENS = 28
_PLAIN_SNIPPET_CHARS = 240
_ITER_BATCH = 500
_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"


def _now() -> datetime:
    return datetime.now(UTC)


def case_terms(case: Case) -> list[tuple[str, str, str]]:
    """The (facet, key, label) rows a case contributes to facets and filters."""
    terms = [("keyword", fold(k), k) for k in case.keywords]
    terms += [("country", fold(c), c) for c in case.countries]
    terms += [("language", code, code) for code in case.languages]
    terms += [("outlet", fold(o.name or o.url or ""), o.name or o.url or "") for o in case.outlets]
    if case.issue is not None:
        terms.append(("issue", str(case.issue), str(case.issue)))
    if case.published is not None:
        terms.append(("year", str(case.published.year), str(case.published.year)))
    return list({(facet, key): (facet, key, label) for facet, key, label in terms if key}.values())


class SQLiteStore:
    """A Store on one SQLite file (created, and migrated, on open)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._in_transaction = False
        self._term_ids: dict[tuple[str, str], int] = {}
        self._writes = 0  # commits made through this connection
        self._outside_version = -1  # PRAGMA data_version when this connection last began a write
        self._term_index: tuple[tuple[int, int], TermIndex] | None = None
        for pragma in ("journal_mode = WAL", "foreign_keys = ON", "busy_timeout = 10000",
                       "synchronous = NORMAL", "temp_store = MEMORY"):
            self._db.execute(f"PRAGMA {pragma}")
        self._migrate()

    # -- lifecycle --------------------------------------------------------------------

    def _migrate(self) -> None:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.transaction():
                for statement in _statements(script):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for the account tables (`disinfodb.accounts`); writes go
        through `transaction()` like every other write."""
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; nested calls join the outer one."""
        with self._lock:
            if self._in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            outside = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            if outside != self._outside_version:  # another connection wrote (a restore renumbers terms)
                self._term_ids.clear()
                self._outside_version = outside
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                self._term_ids.clear()  # ids handed out inside the transaction are gone
                raise
            else:
                self._db.execute("COMMIT")
                self._writes += 1
            finally:
                self._in_transaction = False

    # -- writes -----------------------------------------------------------------------

    def upsert(self, case: Case, actor: str = "system") -> tuple[Outcome, Case]:
        """Insert a case, or update the one it matches (by id, else URL, else content id)."""
        with self.transaction():
            row = self._match(case)
            if row is None:
                return Outcome.CREATED, self._insert(case, actor)
            pk, doc = row
            existing = Case.model_validate_json(doc)
            incoming = case.model_copy(update={"id": existing.id})
            if incoming.content() == existing.content():
                return Outcome.UNCHANGED, existing
            return Outcome.UPDATED, self._update(pk, existing, incoming, actor)

    def _match(self, case: Case) -> tuple[int, str] | None:
        if case.id:
            row = self._db.execute("SELECT pk, doc, url FROM cases WHERE id = ?", (case.id,)).fetchone()
            if row:
                if case.url and row[2] != case.url and self._db.execute(
                        "SELECT 1 FROM cases WHERE url = ?", (case.url,)).fetchone():
                    raise CaseConflict(f"id {case.id!r} and URL {case.url} belong to two different cases")
                return row[0], row[1]
        if case.url:
            row = self._db.execute("SELECT pk, doc FROM cases WHERE url = ?", (case.url,)).fetchone()
            if row:
                return row  # type: ignore[no-any-return]
        if case.id:
            return None  # an explicit id that is not here names a new case
        # Same content, unless both carry different case URLs (then they are two cases).
        row = self._db.execute(
            "SELECT pk, doc FROM cases WHERE content_id = ? AND (url IS NULL OR ? IS NULL) LIMIT 1",
            (case.content_id, case.url),
        ).fetchone()
        return row  # type: ignore[no-any-return]

    def _free_id(self, case: Case) -> str:
        base = case.id or case.base_slug()
        candidates = [base, f"{base}-{case.content_id[:6]}", f"{base}-{case.content_id}"]
        for candidate in candidates:
            if not self._db.execute("SELECT 1 FROM cases WHERE id = ?", (candidate,)).fetchone():
                return candidate
        count = self._db.execute("SELECT count(*) FROM cases WHERE id LIKE ?", (base + "-%",)).fetchone()[0]
        return f"{base}-{count + 1}"

    def _insert(self, case: Case, actor: str) -> Case:
        now = _now()
        stored = case.model_copy(update={"id": self._free_id(case), "version": 1,
                                         "created_at": now, "updated_at": now})
        cursor = self._db.execute(
            "INSERT INTO cases (id, url, content_id, title, summary, disproof, tags, published, issue,"
            " doc, version, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*self._row(stored), now.isoformat(), now.isoformat()),
        )
        self._write_terms(cursor.lastrowid, stored)  # type: ignore[arg-type]
        self._audit(stored.id, "create", 1, actor, now, None)
        return stored

    def _update(self, pk: int, existing: Case, incoming: Case, actor: str) -> Case:
        now = _now()
        stored = incoming.model_copy(update={"version": existing.version + 1,
                                             "created_at": existing.created_at, "updated_at": now})
        self._db.execute(
            "UPDATE cases SET id=?, url=?, content_id=?, title=?, summary=?, disproof=?, tags=?, published=?,"
            " issue=?, doc=?, version=?, updated_at=? WHERE pk=?",
            (*self._row(stored), now.isoformat(), pk),
        )
        self._db.execute("DELETE FROM case_terms WHERE case_pk = ?", (pk,))
        self._write_terms(pk, stored)
        self._audit(stored.id, "update", stored.version, actor, now, existing)
        return stored

    def create(self, case: Case, actor: str = "system") -> Case:
        """Insert a new case; one that is already here (by id, URL or content) is refused."""
        with self.transaction():
            row = self._match(case)
            if row is not None:
                existing_id = Case.model_validate_json(row[1]).id
                raise CaseExists(f"this case is already in the database as {existing_id!r}", existing_id)
            return self._insert(case, actor)

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
            self._db.execute("DELETE FROM cases WHERE id = ?", (case_id,))
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
                case.model_dump_json(), case.version)

    def _write_terms(self, pk: int, case: Case) -> None:
        self._db.executemany("INSERT INTO case_terms (case_pk, term_id) VALUES (?, ?)",
                             [(pk, self._term_id(*term)) for term in case_terms(case)])

    def _term_id(self, facet: str, key: str, label: str) -> int:
        """The id of a facet value, created on first use (the first label seen is kept)."""
        term_id = self._term_ids.get((facet, key))
        if term_id is None:
            term_id = self._db.execute(
                "INSERT INTO terms (facet, key, label) VALUES (?, ?, ?) ON CONFLICT (facet, key)"
                " DO UPDATE SET facet = excluded.facet RETURNING id", (facet, key, label)).fetchone()[0]
            self._term_ids[facet, key] = term_id
        return term_id

    def _audit(self, case_id: str, action: str, version: int, actor: str, at: datetime,
               previous: Case | None) -> None:
        self._db.execute(
            "INSERT INTO audit (case_id, action, version, actor, at, previous) VALUES (?,?,?,?,?,?)",
            (case_id, action, version, actor, at.isoformat(),
             previous.model_dump_json() if previous else None),
        )

    # -- reads ------------------------------------------------------------------------

    def get(self, case_id: str) -> Case:
        row = self._db.execute("SELECT doc FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(f"no case with id {case_id!r}")
        return Case.model_validate_json(row[0])

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM cases").fetchone()[0])

    def iter_cases(self, query: SearchQuery | None = None) -> Iterator[Case]:
        """Every case (or those a query's filters select), in batches: constant memory."""
        if query is None:
            batches: Iterator[list[int]] | None = None
        else:
            with self._snapshot():
                selected = self.term_index().select(query)
            batches = (selected[i:i + _ITER_BATCH].tolist() for i in range(0, len(selected), _ITER_BATCH))
        last = 0
        while True:
            if batches is None:
                rows = self._db.execute("SELECT pk, doc FROM cases WHERE pk > ? ORDER BY pk LIMIT ?",
                                        (last, _ITER_BATCH)).fetchall()
            else:
                wanted = next(batches, [])
                rows = self._db.execute("SELECT pk, doc FROM cases WHERE pk IN (SELECT value FROM"
                                        " json_each(?)) ORDER BY pk", (json.dumps(wanted),)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            for _, doc in rows:
                yield Case.model_validate_json(doc)

    def history(self, case_id: str) -> list[AuditEntry]:
        rows = self._db.execute(
            "SELECT seq, case_id, action, version, actor, at, previous FROM audit"
            " WHERE case_id = ? ORDER BY seq", (case_id,)).fetchall()
        return [AuditEntry(seq, cid, action, version, actor, datetime.fromisoformat(at),
                           Case.model_validate_json(prev) if prev else None)
                for seq, cid, action, version, actor, at, prev in rows]

    def audit_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM audit").fetchone()[0])

    def search(self, query: SearchQuery) -> Results:
        """Full text + filters -> one page of hits, the total, and facet counts.

        Filters, dates and facets come from the in-memory TermIndex; SQLite's FTS5 gives
        the text matches and ranks (bm25) only the cases that passed the filters.
        """
        fts = to_fts(query.text)
        with self._snapshot():
            index = self.term_index()
            text_matches = self._fts_pks(fts) if fts else None
            selected = index.select(query, within=text_matches)
            start = (query.page - 1) * query.per_page
            page: list[tuple[int, float | None]]
            if fts and query.sort == "relevance":
                filtered = text_matches is None or len(selected) != len(text_matches)
                page = self._ranked(fts, selected if filtered else None, start, query.per_page)
            else:
                ordered = index.by_date(selected, newest_first=query.sort != "date_asc")
                page = [(int(pk), None) for pk in ordered[start:start + query.per_page]]
            hits = self._hits(page, fts)
            facets = index.facet_counts(selected, query.facet_size) if len(selected) else {}
        return Results(total=len(selected), hits=hits, facets=facets, page=query.page,
                       per_page=query.per_page)

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """A read transaction, so the index, the count and the page see the same data."""
        with self._lock:
            if self._in_transaction:
                yield
                return
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def data_version(self) -> tuple[int, int]:
        """Changes whenever the database has changed: commits here, and commits by others."""
        return self._writes, int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def term_index(self) -> TermIndex:
        """The in-memory term index, reloaded when this or another connection has written.

        Inside a write transaction it is built afresh and not kept: it must see the
        transaction's own writes, and they may yet be rolled back.
        """
        if self._in_transaction:
            return TermIndex.load(self._db)
        version = self.data_version()
        if self._term_index is None or self._term_index[0] != version:
            self._term_index = (version, TermIndex.load(self._db))
        return self._term_index[1]

    def _fts(self, sql: str, params: list[Any]) -> list[Any]:
        """Run an FTS5 query; FTS5's own complaints become a QuerySyntaxError."""
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            raise QuerySyntaxError(f"cannot search for that: {error}") from None

    def _fts_pks(self, fts: str) -> IntArray:
        matches = self._fts("SELECT group_concat(rowid) FROM cases_fts WHERE cases_fts MATCH ?", [fts])
        text = matches[0][0]
        pks = np.array(text.split(","), dtype=np.int64) if text else np.zeros(0, dtype=np.int64)
        return np.sort(pks)  # FTS5 yields rowids in order; sorting a sorted array is cheap

    def _ranked(self, fts: str, restrict: IntArray | None, start: int, count: int
                ) -> list[tuple[int, float | None]]:
        """One page of text matches by bm25, scoring only the cases in `restrict` (if given)."""
        where, params = "cases_fts MATCH ?", [fts]
        if restrict is not None:
            # The unary + keeps FTS5 from seeking each rowid (slow); it filters the scan.
            where += " AND +rowid IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(restrict.tolist()))
        rows = self._fts(f"SELECT rowid, bm25(cases_fts, {_COLUMN_WEIGHTS}) AS score FROM cases_fts"
                         f" WHERE {where} ORDER BY score, rowid LIMIT ? OFFSET ?", [*params, count, start])
        return [(pk, -score) for pk, score in rows]

    def _hits(self, page: list[tuple[int, float | None]], fts: str | None) -> list[Hit]:
        """Load the page's cases and, for a text search, their highlighted snippets."""
        if not page:
            return []
        pks = json.dumps([pk for pk, _ in page])
        docs = dict(self._db.execute(
            "SELECT pk, doc FROM cases WHERE pk IN (SELECT value FROM json_each(?))", [pks]).fetchall())
        snippets: dict[int, str | None] = {}
        if fts:
            # Summary first, then disproof: the claim is what a reader wants (the title is
            # shown anyway, so it is never repeated as the snippet).
            columns = ", ".join(
                f"snippet(cases_fts, {column}, '{_MARK_OPEN}', '{_MARK_CLOSE}', '…', {_SNIPPET_TOKENS})"
                for column in (1, 2))
            for pk, *candidates in self._fts(
                    f"SELECT rowid, {columns} FROM cases_fts WHERE cases_fts MATCH ?"
                    " AND +rowid IN (SELECT value FROM json_each(?))", [fts, pks]):
                snippets[pk] = _best_snippet(candidates)
        return [_hit(json.loads(docs[pk]), score, snippets.get(pk)) for pk, score in page]

    def claim_rows(self, model: str) -> Iterator[tuple[int, str, str, str | None, str | None, bytes | None]]:
        """Each case's title and summary with its cached embedding for `model`, if any:
        (pk, title, summary, text_hash, units JSON, vectors)."""
        yield from self._db.execute(
            "SELECT c.pk, c.title, c.summary, e.text_hash, e.units, e.vectors FROM cases c"
            " LEFT JOIN embeddings e ON e.case_pk = c.pk AND e.model = ? ORDER BY c.pk", (model,))

    def save_embeddings(self, model: str, rows: list[tuple[int, str, str, bytes]]) -> None:
        """Cache (pk, text_hash, units JSON, vectors) for `model`."""
        with self.transaction():
            self._db.executemany(
                "INSERT INTO embeddings (case_pk, model, text_hash, units, vectors) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (case_pk, model) DO UPDATE SET text_hash = excluded.text_hash,"
                " units = excluded.units, vectors = excluded.vectors",
                [(pk, model, text_hash, units, vectors) for pk, text_hash, units, vectors in rows])

    def case_ids(self, case_pks: list[int]) -> dict[int, tuple[str, str]]:
        """pk -> (id, title) for the given cases."""
        return {pk: (cid, title) for pk, cid, title in self._db.execute(
            "SELECT pk, id, title FROM cases WHERE pk IN (SELECT value FROM json_each(?))",
            (json.dumps(case_pks),))}

    def pk_of(self, case_id: str) -> int:
        row = self._db.execute("SELECT pk FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise CaseNotFound(f"no case with id {case_id!r}")
        return int(row[0])

    def changed_since(self, audit_seq: int) -> list[str]:
        """Ids of the cases created or updated after an audit sequence number (and still here)."""
        return [cid for (cid,) in self._db.execute(
            "SELECT DISTINCT a.case_id FROM audit a JOIN cases c ON c.id = a.case_id"
            " WHERE a.seq > ? AND a.action IN ('create', 'update')", (audit_seq,))]

    def last_audit_seq(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        first, last = self._db.execute("SELECT min(published), max(published) FROM cases").fetchone()
        terms = dict(self._db.execute(
            "SELECT facet, count(*) FROM terms WHERE id IN (SELECT term_id FROM case_terms)"
            " GROUP BY facet").fetchall())
        return {"cases": self.count(), "first_published": first, "last_published": last,
                "distinct": {facet: terms.get(facet, 0) for facet in FACETS},
                "audit_entries": self.audit_count(), "schema_version": self.schema_version,
                "path": self.path}


def _best_snippet(candidates: list[str | None]) -> str | None:
    """The first snippet with a highlighted match; None when no text column matched."""
    return next((c for c in candidates if c and _MARK_OPEN in c), None)


def _hit(doc: dict[str, Any], score: float | None, snippet: str | None) -> Hit:
    if snippet:
        text = html.escape(" ".join(snippet.split()))
        text = text.replace(_MARK_OPEN, "<mark>").replace(_MARK_CLOSE, "</mark>")
    else:
        plain = " ".join((doc["summary"] or doc["disproof"]).split())
        cut = plain[:_PLAIN_SNIPPET_CHARS]
        text = html.escape(cut + ("…" if len(plain) > len(cut) else ""))
    return Hit(
        id=doc["id"], title=doc["title"],
        published=date.fromisoformat(doc["published"]) if doc["published"] else None,
        issue=doc["issue"], languages=doc["languages"], countries=doc["countries"],
        keywords=doc["keywords"], snippet=text, score=score,
    )


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement handles triggers)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]
