"""The audit trail as a change log: which cases changed since an index was read.

Every create, update and delete of a case writes one audit row in its transaction, and
writers take turns (SQLite's write lock, PostgreSQL's advisory lock), so the trail's
sequence numbers grow in commit order: an index that remembers the last entry it saw can
learn what changed since from the entries after it, in this process or any other. The
remembered entry is checked (sequence number, case and time): when a restore has put
another history in place it is gone, and the caller reads everything again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: Past this many entries since an index was read, reading it whole is as cheap.
CATCH_UP_LIMIT = 2_000


class TrailSource(Protocol):
    def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]: ...


@dataclass(frozen=True)
class TrailMark:
    """An entry of the trail: where an index was read. seq 0: the trail was empty."""

    seq: int = 0
    case_id: str = ""
    at: str = ""


@dataclass(frozen=True)
class Changes:
    """The entries after a mark: the cases they name (by id), whether one was a delete,
    and the mark of the last one."""

    case_ids: tuple[str, ...]
    deleted: bool
    end: TrailMark


def trail_end(fetch_all: Callable[[str], list[Any]]) -> TrailMark:
    """The last entry of the trail, read by `fetch_all` (a store's, or a bare
    connection's) in the caller's snapshot."""
    rows = fetch_all("SELECT seq, case_id, at FROM audit ORDER BY seq DESC LIMIT 1")
    return TrailMark(int(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else TrailMark()


def changes_since(source: TrailSource, mark: TrailMark) -> Changes | None:
    """What the trail says changed after `mark`, in the caller's snapshot; None when it
    cannot say: the mark is gone (a restore), the trail was empty then (an empty trail
    vouches for nothing), or more than CATCH_UP_LIMIT entries followed."""
    if not mark.seq:
        return None
    rows = source.fetch_all("SELECT seq, case_id, at, action FROM audit WHERE seq >= ? ORDER BY seq"
                            f" LIMIT {CATCH_UP_LIMIT + 2}", (mark.seq,))
    if not rows or TrailMark(int(rows[0][0]), str(rows[0][1]), str(rows[0][2])) != mark \
            or len(rows) > CATCH_UP_LIMIT + 1:
        return None
    last = rows[-1]
    return Changes(case_ids=tuple(sorted({str(row[1]) for row in rows[1:]})),
                   deleted=any(row[3] == "delete" for row in rows[1:]),
                   end=TrailMark(int(last[0]), str(last[1]), str(last[2])))
