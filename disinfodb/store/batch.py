"""What a batch of upserts can match, read in a few statements instead of a few per case.

Matching one case at a time (by id, by URL, by content id, then a free id for a new case)
took six to eight statements per case: cheap in SQLite's process, a network round trip
each on a PostgreSQL server. `KnownRows` reads every stored row a whole batch could meet
at once and then answers each case's questions from memory, exactly as the statements
would have: a case sees the cases decided before it in the batch (`add`, `moved`), so a
batch gives the same database as upserting its cases one by one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from disinfodb.cases import Case
from disinfodb.errors import CaseConflict

if TYPE_CHECKING:
    from disinfodb.store.sql_store import SQLStore


@dataclass
class KnownRow:
    """A case row as matching sees it: a stored one, or one this batch is about to insert."""

    order: tuple[int, int]  # pk order: (0, pk) for a stored row, (1, n) for the batch's n-th new one
    pk: int | None  # None until the new row is written
    id: str
    url: str | None
    content_id: str
    doc: str  # the case as stored (Case.document())


def id_candidates(case: Case) -> list[str]:
    """The ids a new case may take, first free one wins (then `base-<count + 1>`)."""
    base = case.id or case.base_slug()
    return [base, f"{base}-{case.content_id[:6]}", f"{base}-{case.content_id}"]


class KnownRows:
    """The stored rows a batch of cases may match or collide with, kept current as the
    batch's cases are decided in order."""

    def __init__(self, rows: Sequence[KnownRow], taken_ids: set[str]) -> None:
        self._by_id: dict[str, KnownRow] = {}
        self._by_url: dict[str, KnownRow] = {}
        self._by_content: dict[str, list[KnownRow]] = {}
        self._taken = taken_ids
        self._new = itertools.count()
        for row in rows:
            self._index(row)

    @classmethod
    def read(cls, store: SQLStore, cases: Sequence[Case]) -> KnownRows:
        """The rows with any of the cases' ids, URLs or content ids, and which of the ids
        the new ones among them may take are taken: four statements, whatever the batch."""
        found: dict[int, KnownRow] = {}
        for column, values in (("id", {c.id for c in cases if c.id}), ("url", {c.url for c in cases if c.url}),
                               ("content_id", {c.content_id for c in cases})):
            if not values:
                continue
            where, param = store.in_list(column, sorted(values))
            for pk, case_id, url, content_id, doc in store._db.execute(
                    f"SELECT pk, id, url, content_id, doc FROM cases WHERE {where}", (param,)):
                found[pk] = KnownRow((0, pk), pk, case_id, url, content_id, doc)
        where, param = store.in_list("id", sorted({i for c in cases for i in id_candidates(c)}))
        taken = {case_id for (case_id,) in store._db.execute(f"SELECT id FROM cases WHERE {where}", (param,))}
        return cls(list(found.values()), taken | {row.id for row in found.values()})

    def _index(self, row: KnownRow) -> None:
        self._by_id[row.id] = row
        self._taken.add(row.id)
        if row.url:
            self._by_url[row.url] = row
        self._by_content.setdefault(row.content_id, []).append(row)

    def match(self, case: Case) -> KnownRow | None:
        """The row a case updates (by id, else URL, else content id); None: it is new."""
        if case.id:
            row = self._by_id.get(case.id)
            if row:
                if case.url and row.url != case.url and case.url in self._by_url:
                    raise CaseConflict(f"id {case.id!r} and URL {case.url} belong to two different cases")
                return row
        if case.url:
            row = self._by_url.get(case.url)
            if row:
                return row
        if case.id:
            return None  # an explicit id that is not here names a new case
        # Same content, unless both carry different case URLs (then they are two cases).
        rows = sorted(self._by_content.get(case.content_id, []), key=lambda r: r.order)
        return next((row for row in rows if row.url is None or case.url is None), None)

    def free_id(self, case: Case) -> str | None:
        """The first of the case's id candidates no row has; None when all are taken (the
        caller counts `base-%` ids in the database, a rare case not worth reading ahead)."""
        return next((candidate for candidate in id_candidates(case) if candidate not in self._taken), None)

    def add(self, stored: Case) -> KnownRow:
        """A new case of this batch, which later cases of the batch can match."""
        row = KnownRow((1, next(self._new)), None, stored.id, stored.url, stored.content_id, stored.document())
        self._index(row)
        return row

    def moved(self, row: KnownRow, stored: Case) -> None:
        """A row updated to `stored` (same id): later cases match its new URL and content."""
        if row.url and self._by_url.get(row.url) is row:
            del self._by_url[row.url]
        self._by_content[row.content_id].remove(row)
        row.url, row.content_id, row.doc = stored.url, stored.content_id, stored.document()
        self._index(row)
