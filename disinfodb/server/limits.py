"""Limits that keep one client from taking the server: request body size and request rate.

Both answer with a clear problem (413 / 429 + Retry-After) instead of a dropped
connection, so a script that uploads too much learns what the limit is.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from disinfodb.errors import BodyTooLarge, RateLimited

if TYPE_CHECKING:
    from disinfodb.store import Store

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per client: `per_minute` units a minute (requests, or seconds of
    server time), bursts up to that many.

    `check` takes one request. A cost known only afterwards (how long a search ran) is
    `admit`ted while the client has anything left and `charge`d when known: the bucket
    may go below zero, and that debt delays the client's next request.
    """

    blocking = False  # whether a check may wait for the database (then not on the event loop)

    def __init__(self, what: str, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 unit: str = "requests") -> None:
        self.what = what
        self.per_minute = per_minute
        self.unit = unit
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Take one request from the client's bucket, or raise RateLimited."""
        self._take(client, 1.0, needed=1.0)

    def admit(self, client: str) -> None:
        """Raise RateLimited unless the client has some budget left."""
        self._take(client, 0.0, needed=1e-9)

    def charge(self, client: str, cost: float) -> None:
        """Take `cost` units from the client's bucket, even below zero."""
        self._take(client, cost, needed=-math.inf)

    def _take(self, client: str, cost: float, needed: float) -> None:
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(client) or _Bucket(float(self.per_minute), now)
            bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
            self._buckets[client] = bucket
            if bucket.tokens < needed:
                raise self._refusal(needed, bucket.tokens)
            bucket.tokens -= cost
            if len(self._buckets) > MAX_CLIENTS:  # forget full buckets: they carry no state
                self._buckets = {k: b for k, b in self._buckets.items() if b.tokens < self.per_minute - 1}

    def _refusal(self, needed: float, tokens: float) -> RateLimited:
        """The 429 of a client that needs `needed` units and has `tokens`: Retry-After is
        how long the bucket takes to refill the difference."""
        per_minute = f"{self.per_minute:g}"
        return RateLimited(f"too many {self.what} {self.unit}: at most {per_minute} a minute per client"
                           if self.unit == "requests" else
                           f"too much {self.what}: at most {per_minute} {self.unit} a minute per client",
                           (needed - tokens) / (self.per_minute / 60.0))


MAX_CLIENTS = 10_000  # clients a limiter keeps in memory before it forgets those with nothing to remember
LEASE_SHARE = 4  # a lease is at most 1/(LEASE_SHARE * workers) of the budget (SharedRateLimiter)


class SharedRateLimiter(RateLimiter):
    """A RateLimiter whose buckets are shared by the N processes of `serve --workers N`
    through the database (`rate_buckets`), so a client gets its budget once, not N times.

    A write per request would make every search a write (SQLite has one writer) and move
    the database's change counter that every worker's term index watches. Instead a worker
    takes a *lease* from the client's shared bucket, `budget / (4 N)` units (or what the
    request needs, if more), spends it from memory, and takes another when it runs out: a
    client costs one write per lease's worth of requests (an address that searches once
    costs one).

    What this allows, against one bucket of the same budget: a worker may hold a lease it
    took before the shared bucket refilled, so a client can get up to N leases, a quarter
    of its budget, more in a burst; and a client may be refused while up to N-1 leases sit
    unspent in the other workers, up to a quarter less. A cost charged after the fact (a
    search's time) may put each worker's lease below zero by one request's cost, as one
    server's bucket may go; that debt is paid from the next lease that worker takes.

    When the shared bucket cannot be read (PostgreSQL away; an import holding SQLite's
    write lock past the busy timeout) the worker enforces the budget alone, from its own
    memory (RateLimiter), until the database answers again: N times the budget at most.
    Refusals say what one server's say, Retry-After counted from the shared bucket.
    """

    blocking = True

    def __init__(self, what: str, per_minute: float, store: Store, workers: int,
                 clock: Callable[[], float] = time.time, unit: str = "requests") -> None:
        super().__init__(what, per_minute, clock, unit)  # its own buckets are the fallback
        self._store = store  # a connection for the limits alone: a lease never waits behind a request's work
        self.lease = per_minute / (LEASE_SHARE * workers)
        self._held: dict[str, float] = {}  # client -> what is left of this worker's leases (below 0: a debt)
        self._failing = False

    def _take(self, client: str, cost: float, needed: float) -> None:
        if self.per_minute <= 0:
            return
        with self._lock:
            held = self._held.get(client, 0.0)
            if held >= needed:
                self._held[client] = held - cost
                return
        least = needed - held
        try:
            taken, available = self._store.rate_buckets.take(
                self.what, client, capacity=float(self.per_minute), per_second=self.per_minute / 60.0,
                now=self._clock(), least=least, wanted=max(self.lease, least))
        except Exception:  # the database is away or busy: this worker's own buckets meanwhile
            if not self._failing:
                log.exception("the shared %s limit cannot be read; each server process limits alone until it can",
                              self.what)
                self._failing = True
            super()._take(client, cost, needed)
            return
        self._failing = False
        with self._lock:
            held = self._held.get(client, 0.0) + taken
            if held < needed:
                self._held[client] = held
                raise self._refusal(needed, held + available)
            self._held[client] = held - cost
            if len(self._held) > MAX_CLIENTS:  # forget unspent leases (a client may be refused early, once)
                self._held = {k: v for k, v in self._held.items() if v < 0}


class BodySizeLimit:
    """ASGI middleware: refuse bodies over `max_bytes` before they are read into memory.

    Some paths have a smaller limit of their own (`path_limits`): a match request is at
    most a text of a few hundred thousand characters, so an anonymous client cannot make
    the server read 64 MB before the text's length is checked.

    A declared Content-Length over the limit is refused at once; a chunked body is
    counted as it arrives and BodyTooLarge is raised when it passes the limit. FastAPI
    turns an error while it reads a body into its own 400, so once the limit is passed
    whatever the app answers (unless it is a 413 already) is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = min(self.max_bytes, self.path_limits.get(scope.get("path", ""), self.max_bytes))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, BodyTooLarge(limit))
            return
        received = 0
        too_large = replaced = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                too_large = True
                raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if too_large and (replaced or (message["type"] == "http.response.start" and message["status"] != 413)):
                if not replaced:
                    replaced = True
                    await _refuse(send, BodyTooLarge(limit))
                return
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


async def _refuse(send: Send, error: BodyTooLarge) -> None:
    body = json.dumps({"type": "about:blank", "title": "Request too large", "status": 413,
                       "detail": str(error), "errors": []}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
