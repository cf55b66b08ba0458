"""A `Server-Timing: app;dur=<ms>` header on every response: the time the app took to
start answering, so a browser's developer tools, a load test or `bench.web_pages` can see
server time apart from the network and the client."""

from __future__ import annotations

import time

from disinfodb.server.limits import ASGIApp, Message, Receive, Scope, Send


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message["headers"] = [*message.get("headers", []), (b"server-timing", f"app;dur={took:.1f}".encode())]
            await send(message)

        await self.app(scope, receive, timed_send)
