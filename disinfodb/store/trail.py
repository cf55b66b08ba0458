"""The audit trail as a change log: which cases changed since an index was read.

Every create, update and delete of a case writes one audit row in its transaction, and
writers take turns (SQLite's write lock, PostgreSQL's advisory lock), so the trail's
sequence numbers grow in commit order: an index that remembers the last entry it saw can
learn what changed since from the entries after it, in this process or any other. The
remembered entry is checked (sequence number, case and time): when a restore has put
another history in place it is gone, and the caller reads everything again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Past this many entries since an index was read, reading it whole is as cheap.
CATCH_UP_LIMIT = 2_000

#: How the trail is read: a store's `fetch_all`, or a bare connection's execute-and-fetch.
FetchAll = Callable[..., list[Any]]


@dataclass(frozen=True)
class TrailMark:
    """An entry of the trail: where an index was read. seq 0: the trail was empty."""

    seq: int = 0
    case_id: str = ""
    at: str = ""

    @classmethod
    def of(cls, row: Any) -> TrailMark:
        """The mark of an audit row read as (seq, case_id, at, ...)."""
        return cls(int(row[0]), str(row[1]), str(row[2]))


@dataclass(frozen=True)
class Changes:
    """The entries after a mark: the cases they name (by id), whether one was a delete,
    and the mark of the last one."""

    case_ids: tuple[str, ...]
    deleted: bool
    end: TrailMark


def trail_end(fetch_all: FetchAll) -> TrailMark:
    """The last entry of the trail, in the caller's snapshot."""
    rows = fetch_all("SELECT seq, case_id, at FROM audit ORDER BY seq DESC LIMIT 1")
    return TrailMark.of(rows[0]) if rows else TrailMark()


def changes_since(fetch_all: FetchAll, mark: TrailMark) -> Changes | None:
    """What the trail says changed after `mark`, in the caller's snapshot; None when it
    cannot say: the mark is gone (a restore), the trail was empty then (an empty trail
    vouches for nothing), or more than CATCH_UP_LIMIT entries followed."""
    if not mark.seq:
        return None
    rows = fetch_all("SELECT seq, case_id, at, action FROM audit WHERE seq >= ? ORDER BY seq"
                     f" LIMIT {CATCH_UP_LIMIT + 2}", (mark.seq,))
    if not rows or TrailMark.of(rows[0]) != mark or len(rows) > CATCH_UP_LIMIT + 1:
        return None
    return Changes(case_ids=tuple(sorted({str(row[1]) for row in rows[1:]})),
                   deleted=any(row[3] == "delete" for row in rows[1:]), end=TrailMark.of(rows[-1]))
