"""Limits that keep one client from taking the server: request body size and request rate.

Both answer with a clear problem (413 / 429 + Retry-After) instead of a dropped
connection, so a script that uploads too much learns what the limit is.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from disinfodb.errors import BodyTooLarge, RateLimited

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
                per_minute = f"{self.per_minute:g}"
                raise RateLimited(f"too many {self.what} {self.unit}: at most {per_minute} a minute per client"
                                  if self.unit == "requests" else
                                  f"too much {self.what}: at most {per_minute} {self.unit} a minute per client",
                                  (needed - bucket.tokens) / rate)
            bucket.tokens -= cost
            if len(self._buckets) > 10_000:  # forget full buckets: they carry no state
                self._buckets = {k: b for k, b in self._buckets.items() if b.tokens < self.per_minute - 1}


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
