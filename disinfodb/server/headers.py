"""Headers on every response: security headers, and how long the app took.

Security: a strict Content-Security-Policy for HTML, no MIME sniffing, no referrer, no
framing. Case data comes from outside (imports, editors, other fact-checkers' files) and
the pages show it to signed-in editors, so the pages must not run anything the data could
carry: the policy allows scripts and styles from this site's own files only (no inline
script, no inline style, no eval), and forms may only post back here. `Referrer-Policy:
no-referrer` keeps an analyst's click on an outlet's link from telling a disinformation
site which case page they were reading.

Timing: `Server-Timing: app;dur=<ms>`, the time the app took to start answering, so a
browser's developer tools, a load test or `bench.web_pages` can see server time apart
from the network and the client. Under `serve --workers N` it also names the process that
answered (`app;dur=1.2, worker;desc=4242`): a load test, or someone chasing a stale
answer, can tell the workers apart.
"""

from __future__ import annotations

import time

from disinfodb.server.limits import ASGIApp, Message, Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
                           " font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none';"
                           " form-action 'self'; frame-ancestors 'none'")
ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
          (b"x-frame-options", b"DENY"))


class _ResponseHeaders:
    """ASGI middleware that adds headers when a response starts (`added`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def added(self, headers: Headers, started: float) -> Headers:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                message["headers"] = headers + self.added(headers, started)
            await send(message)

        await self.app(scope, receive, with_headers)


class SecurityHeaders(_ResponseHeaders):
    """The headers above, unless the endpoint set its own (the standalone review page sends
    a stricter policy of its own)."""

    def added(self, headers: Headers, started: float) -> Headers:
        present = {name.lower() for name, _ in headers}
        extra = [(name, value) for name, value in ALWAYS if name not in present]
        content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        if content_type.startswith(b"text/html") and b"content-security-policy" not in present:
            extra.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
        return extra


class ServerTiming(_ResponseHeaders):
    def __init__(self, app: ASGIApp, worker: int | None = None) -> None:
        super().__init__(app)
        self.worker = b"" if worker is None else f", worker;desc={worker}".encode()

    def added(self, headers: Headers, started: float) -> Headers:
        took = (time.perf_counter() - started) * 1000
        return [(b"server-timing", f"app;dur={took:.1f}".encode() + self.worker)]
