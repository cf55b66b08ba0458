"""The rate limits' shared token buckets (`rate_buckets`): what the processes of
`serve --workers N` take their leases from (server.limits.SharedRateLimiter says why).

Each take is one short transaction of its own that locks the one row it reads and
writes: on PostgreSQL a row lock, not the writers' advisory lock, so a lease never waits
for an import; SQLite has one writer at a time whatever is written, so there a take waits
for a write under way (up to the busy timeout, after which the limiter falls back to its
own memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from disinfodb.store.sql_store import SQLStore

FULL_AFTER_S = 60.0  # a bucket refills from empty within a minute: a row older than that is a full bucket


class RateBuckets:
    def __init__(self, store: SQLStore) -> None:
        self.store = store

    def take(self, limiter: str, client: str, capacity: float, per_second: float, now: float,
             least: float, wanted: float) -> tuple[float, float]:
        """Refill the client's bucket to `now` (a missing row is full), then take `wanted`
        tokens from it, or all it holds if that is less, provided that is at least `least`
        (else nothing). Returns (tokens taken, tokens the bucket held after the refill).
        Rows left untouched for a minute go in the same transaction: they are full buckets."""
        store = self.store
        with store.row_transaction():
            db = store._db
            db.execute("INSERT INTO rate_buckets (limiter, client, tokens, at) VALUES (?, ?, ?, ?)"
                       " ON CONFLICT (limiter, client) DO NOTHING", (limiter, client, capacity, now))
            tokens, at = db.execute(f"SELECT tokens, at FROM rate_buckets WHERE limiter = ? AND client = ?"
                                    f"{store.row_lock}", (limiter, client)).fetchone()
            held = min(capacity, float(tokens) + max(0.0, now - float(at)) * per_second)
            taken = min(wanted, held) if held >= least else 0.0
            if taken > 0:
                db.execute("UPDATE rate_buckets SET tokens = ?, at = ? WHERE limiter = ? AND client = ?",
                           (held - taken, now, limiter, client))
                db.execute("DELETE FROM rate_buckets WHERE at < ?", (now - FULL_AFTER_S,))
            return taken, held
