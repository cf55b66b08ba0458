"""The watch's tables and the triage queue, as rows: what `disinfodb watch` has seen
(each document once, with its fingerprints), the files it read to their end, and the hits
editors decide on.

What the rows mean (fingerprints, what a hit is, confirming one as a new appearance of its
case) is `disinfodb.watch` and `disinfodb.triage`; a document and its hits are written in
one transaction, so the queue never holds half a document and a document once recorded is
never matched again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from disinfodb.errors import TriageDecided, TriageNotFound

if TYPE_CHECKING:
    from disinfodb.store.sql_store import SQLStore


class Status(StrEnum):
    """Where a triage item stands: open until an editor confirms or dismisses it (once)."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class SeenDocument:
    """One document as the watch records it. The fields after `duplicate_of` are kept only
    for documents with hits (what the queue shows); None for the others."""

    source: str
    doc_id: str
    text_hash: str
    simhash: int  # signed 64-bit
    duplicate_of: int | None = None
    title: str | None = None
    outlet: str | None = None
    url: str | None = None
    published: str | None = None
    lang: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class QueuedHit:
    """A matched case to queue for a document: its score, label and evidence pairs."""

    case_id: str
    score: float
    label: str
    evidence: list[dict[str, Any]]


@dataclass(frozen=True)
class TriageItem:
    """One hit of the queue: the document, the case it matched, and the decision on it."""

    id: int
    status: Status
    label: str
    score: float
    evidence: list[dict[str, Any]]
    found_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    case_id: str
    case_title: str
    narrative_id: str | None
    document_pk: int
    source: str
    doc_id: str
    title: str | None
    outlet: str | None
    url: str | None
    published: str | None
    lang: str | None
    text: str


@dataclass(frozen=True)
class TriageFilter:
    """Which items a listing shows (empty tuples and None: any). Dates bound the document's
    own date; `narrative` is the matched case's."""

    status: Status | None = Status.OPEN
    sources: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    narrative: str | None = None
    since: date | None = None
    until: date | None = None


_ITEM = ("t.id, t.status, t.label, t.score, t.evidence, t.found_at, t.decided_by, t.decided_at, c.id, c.title,"
         " cn.narrative_id, d.pk, d.source, d.doc_id, d.title, d.outlet, d.url, d.published, d.lang, d.text")
_FROM = ("FROM triage t JOIN watched_documents d ON d.pk = t.document_pk JOIN cases c ON c.pk = t.case_pk"
         " LEFT JOIN case_narratives cn ON cn.case_pk = c.pk")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _item(row: tuple[Any, ...]) -> TriageItem:
    (iid, status, label, score, evidence, found_at, decided_by, decided_at, case_id, case_title, narrative_id,
     document_pk, source, doc_id, title, outlet, url, published, lang, text) = row
    return TriageItem(
        id=int(iid), status=Status(status), label=str(label), score=float(score), evidence=json.loads(evidence),
        found_at=datetime.fromisoformat(found_at), decided_by=decided_by,
        decided_at=datetime.fromisoformat(decided_at) if decided_at else None, case_id=str(case_id),
        case_title=str(case_title), narrative_id=narrative_id, document_pk=int(document_pk), source=str(source),
        doc_id=str(doc_id), title=title, outlet=outlet, url=url, published=published, lang=lang, text=text or "")


class TriageBook:
    """The watch's state and the triage queue of a store."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self._db = store._db

    # -- the watch's state ----------------------------------------------------------------

    def seen_ids(self, source: str) -> set[str]:
        """The ids of the documents of a source recorded so far."""
        return {str(i) for (i,) in self.store.fetch_all("SELECT doc_id FROM watched_documents WHERE source = ?",
                                                        (source,))}

    def fingerprints(self) -> list[tuple[int, int]]:
        """(pk, simhash) of every document recorded that is not itself a copy, oldest first."""
        return [(int(pk), int(h)) for pk, h in self.store.fetch_all(
            "SELECT pk, simhash FROM watched_documents WHERE duplicate_of IS NULL ORDER BY pk")]

    def with_text_hash(self, text_hash: str) -> int | None:
        """The first recorded document with this exact text (its original, if it is a copy)."""
        rows = self.store.fetch_all("SELECT coalesce(duplicate_of, pk) FROM watched_documents WHERE text_hash = ?"
                                    " ORDER BY pk LIMIT 1", (text_hash,))
        return int(rows[0][0]) if rows else None

    def record(self, document: SeenDocument, hits: list[QueuedHit]) -> tuple[int | None, list[int]]:
        """Record a document and queue its hits, in one transaction: (its pk, the new
        triage ids). A document recorded already (another watch got there first) changes
        nothing: (None, [])."""
        d = document
        with self.store.transaction():
            row = self._db.execute(
                "INSERT INTO watched_documents (source, doc_id, text_hash, simhash, duplicate_of, seen_at, title,"
                " outlet, url, published, lang, text) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (source, doc_id) DO NOTHING RETURNING pk",
                (d.source, d.doc_id, d.text_hash, d.simhash, d.duplicate_of, _now(), d.title, d.outlet, d.url,
                 d.published, d.lang, d.text)).fetchone()
            if row is None:
                return None, []
            pk, found_at, queued = int(row[0]), _now(), []
            for hit in hits:
                added = self._db.execute(
                    "INSERT INTO triage (document_pk, case_pk, score, label, evidence, found_at)"
                    " SELECT ?, pk, ?, ?, ?, ? FROM cases WHERE id = ?"
                    " ON CONFLICT (document_pk, case_pk) DO NOTHING RETURNING id",
                    (pk, hit.score, hit.label, json.dumps(hit.evidence, ensure_ascii=False), found_at,
                     hit.case_id)).fetchone()
                if added is not None:
                    queued.append(int(added[0]))
            return pk, queued

    def file_state(self, source: str, path: str) -> tuple[int, int] | None:
        """(size, mtime_ns) of a file when it was last read to its end, if it was."""
        rows = self.store.fetch_all("SELECT size, mtime_ns FROM watched_files WHERE source = ? AND path = ?",
                                    (source, path))
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def file_read(self, source: str, path: str, size: int, mtime_ns: int) -> None:
        """Every document of the file (as it is now) is recorded."""
        with self.store.transaction():
            self._db.execute(
                "INSERT INTO watched_files (source, path, size, mtime_ns) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (source, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns",
                (source, path, size, mtime_ns))

    def counts(self) -> tuple[int, int]:
        """(documents recorded, of them copies of others)."""
        total, copies = self.store.fetch_all(
            "SELECT count(*), count(duplicate_of) FROM watched_documents")[0]
        return int(total), int(copies)

    # -- the queue ------------------------------------------------------------------------

    def get(self, item_id: int) -> TriageItem:
        rows = self.store.fetch_all(f"SELECT {_ITEM} {_FROM} WHERE t.id = ?", (item_id,))
        if not rows:
            raise TriageNotFound(f"no triage item with id {item_id}")
        return _item(rows[0])

    def items(self, which: TriageFilter, page: int = 1, per_page: int = 20) -> tuple[list[TriageItem], int]:
        """One page of the items a filter selects, newest first, and how many it selects."""
        where, params = self._where(which)
        with self.store.snapshot():
            total = int(self._db.execute(f"SELECT count(*) {_FROM} WHERE {where}", params).fetchone()[0])
            rows = self._db.execute(f"SELECT {_ITEM} {_FROM} WHERE {where} ORDER BY t.id DESC LIMIT ? OFFSET ?",
                                    (*params, per_page, (page - 1) * per_page)).fetchall()
        return [_item(row) for row in rows], total

    def _where(self, which: TriageFilter) -> tuple[str, tuple[Any, ...]]:
        clauses, params = ["1 = 1"], []
        if which.status is not None:
            clauses.append("t.status = ?")
            params.append(which.status.value)
        for column, values in (("d.source", which.sources), ("t.label", which.labels)):
            if values:
                sql, param = self.store.in_list(column, list(values))
                clauses.append(sql)
                params.append(param)
        if which.narrative:
            clauses.append("cn.narrative_id = ?")
            params.append(self.store.narratives.get(which.narrative).id)  # a merged id: the one it joined
        if which.since:
            clauses.append("substr(d.published, 1, 10) >= ?")
            params.append(which.since.isoformat())
        if which.until:
            clauses.append("substr(d.published, 1, 10) <= ?")
            params.append(which.until.isoformat())
        return " AND ".join(clauses), tuple(params)

    def sources(self) -> list[tuple[str, int]]:
        """Each source with items in the queue, and how many are open."""
        return [(str(s), int(n)) for s, n in self.store.fetch_all(
            "SELECT d.source, sum(CASE WHEN t.status = 'open' THEN 1 ELSE 0 END) FROM triage t"
            " JOIN watched_documents d ON d.pk = t.document_pk GROUP BY d.source ORDER BY d.source")]

    def of_document(self, document_pk: int) -> list[TriageItem]:
        """Every hit of one document, best first."""
        return [_item(row) for row in self.store.fetch_all(
            f"SELECT {_ITEM} {_FROM} WHERE t.document_pk = ? ORDER BY t.score DESC, t.id", (document_pk,))]

    def decide(self, item_id: int, status: Status, actor: str) -> TriageItem:
        """Confirm or dismiss an open item (inside the caller's transaction, if any):
        TriageDecided when it was decided already."""
        with self.store.transaction():
            done = self._db.execute(
                "UPDATE triage SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'open'"
                " RETURNING id", (status.value, actor, _now(), item_id)).fetchone()
            if done is None:
                raise TriageDecided(item_id, self.get(item_id).status.value)
            return self.get(item_id)
