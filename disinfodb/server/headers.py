"""Security headers on every response: a strict Content-Security-Policy for HTML, no
MIME sniffing, no referrer, no framing.

Case data comes from outside (imports, editors, other fact-checkers' files) and the pages
show it to signed-in editors, so the pages must not run anything the data could carry:
the policy allows scripts and styles from this site's own files only (no inline script,
no inline style, no eval), and forms may only post back here. `Referrer-Policy:
no-referrer` keeps an analyst's click on an outlet's link from telling a disinformation
site which case page they were reading.
"""

from __future__ import annotations

from disinfodb.server.limits import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
                           " font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none';"
                           " form-action 'self'; frame-ancestors 'none'")
ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
          (b"x-frame-options", b"DENY"))


class SecurityHeaders:
    """ASGI middleware: add the headers above unless the endpoint set its own (the
    standalone review page sends a stricter policy of its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in ALWAYS if name not in present]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
