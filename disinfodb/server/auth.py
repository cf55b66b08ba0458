"""Who is asking: API requests carry `Authorization: Bearer <token>`; web pages a session
cookie. Both resolve to a `User` whose role decides what the request may do.

API requests never authenticate by cookie, so a page on another site cannot make a
signed-in browser write through the API; web forms carry a CSRF token (see `web`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from disinfodb.accounts import Role, User
from disinfodb.errors import NotAllowed, NotSignedIn, RateLimited
from disinfodb.server.service import Service

# A refused anonymous search is answered this late (at most): a client that loops without
# reading Retry-After then costs the server a sleeping coroutine, not a busy core.
TARPIT_SECONDS = 2.0

SESSION_COOKIE = "disinfodb_session"


def token_user(service: Service, request: Request) -> User | None:
    """The user of the request's bearer token; a token that is given but wrong is an error."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotSignedIn("the Authorization header must be 'Bearer <token>'")
    user = service.accounts.user_for_token(token.strip())
    if user is None:
        raise NotSignedIn("unknown or revoked API token")
    return user


def session_user(service: Service, request: Request) -> User | None:
    """The user signed in to the web pages by the session cookie, if any."""
    session = request.cookies.get(SESSION_COOKIE)
    return service.accounts.user_for_session(session) if session else None


def require(user: User | None, role: Role, private: bool = False) -> None:
    """Raise unless `user` may act with `role` (READER: read, EDITOR: write, ADMIN: manage).

    Reading needs no user on a public instance."""
    if role is Role.READER and not private:
        return
    if user is None:
        raise NotSignedIn("sign in first: this needs an API token" if role is not Role.READER
                          else "this instance is private: sign in or send an API token")
    allowed = {Role.READER: True, Role.EDITOR: user.role.can_write, Role.ADMIN: user.role is Role.ADMIN}[role]
    if not allowed:
        raise NotAllowed(f"user {user.name!r} has role {user.role.value}; this needs {role.value}")


def client_key(user: User | None, request: Request) -> str:
    """Whom a rate limit counts: the user, else the client's address."""
    if user is not None:
        return f"user:{user.name}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


# -- FastAPI dependencies --------------------------------------------------------------

def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def api_reader(request: Request) -> User | None:
    service = service_of(request)
    user = token_user(service, request)
    require(user, Role.READER, service.settings.private)
    return user


def api_editor(request: Request) -> User:
    user = token_user(service_of(request), request)
    require(user, Role.EDITOR)
    assert user is not None
    return user


def api_admin(request: Request) -> User:
    user = token_user(service_of(request), request)
    require(user, Role.ADMIN)
    assert user is not None
    return user


def page_visitor(request: Request) -> User | None:
    """The signed-in web user (kept on request.state for the page header)."""
    service = service_of(request)
    user = session_user(service, request)
    request.state.user = user
    require(user, Role.READER, service.settings.private)
    return user


def page_editor(request: Request) -> User:
    user = session_user(service_of(request), request)
    request.state.user = user
    require(user, Role.EDITOR)
    assert user is not None
    return user


@dataclass(frozen=True)
class Searcher:
    """Who runs a search, and the budget it is metered against (None: a signed-in user)."""

    user: User | None
    budget_key: str | None


async def _admitted(service: Service, user: User | None, request: Request) -> Searcher:
    """Anonymous searches draw on their address's budget of search time; one that has
    spent it waits (asynchronously) and is refused with Retry-After."""
    if user is not None:
        return Searcher(user, None)
    key = client_key(None, request)
    budget = service.search_budget
    try:
        if budget.blocking:  # it may wait for the database: not on the event loop
            await run_in_threadpool(budget.admit, key)
        else:
            budget.admit(key)
    except RateLimited as refused:
        await asyncio.sleep(min(refused.retry_after, TARPIT_SECONDS))
        raise
    return Searcher(None, key)


async def api_searcher(request: Request, user: Annotated[User | None, Depends(api_reader)]) -> Searcher:
    return await _admitted(service_of(request), user, request)


async def key_searcher(request: Request, key: Annotated[str | None, Query(
        max_length=200, description="An API token, on a private instance (Google's clients send their API key"
                                    " here); ignored on a public one, which needs none")] = None) -> Searcher:
    """The Fact Check Tools API's clients say who they are by `?key=`, which stands for a
    bearer token: checked on a private instance, ignored where reads are public."""
    service = service_of(request)
    user = token_user(service, request)
    if user is None and key and service.settings.private:
        user = service.accounts.user_for_token(key)
        if user is None:
            raise NotSignedIn("unknown or revoked API key (a private instance takes an API token as key)")
    require(user, Role.READER, service.settings.private)
    return await _admitted(service, user, request)


async def page_searcher(request: Request, user: Annotated[User | None, Depends(page_visitor)]) -> Searcher:
    return await _admitted(service_of(request), user, request)


ServiceDep = Annotated[Service, Depends(service_of)]
ApiSearcher = Annotated[Searcher, Depends(api_searcher)]
KeySearcher = Annotated[Searcher, Depends(key_searcher)]

_KEY_IN_QUERY = re.compile(r"([?&]key=)[^&#\s]*")


class RedactedKeys(logging.Filter):
    """Access-log lines without the `?key=` of a query: on a private instance it is an
    API token, and a log is no place for credentials (`serve` installs this on uvicorn's
    access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_KEY_IN_QUERY.sub(r"\1REDACTED", arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True
PageSearcher = Annotated[Searcher, Depends(page_searcher)]
ApiReader = Annotated[User | None, Depends(api_reader)]
ApiEditor = Annotated[User, Depends(api_editor)]
ApiAdmin = Annotated[User, Depends(api_admin)]
PageVisitor = Annotated[User | None, Depends(page_visitor)]
PageEditor = Annotated[User, Depends(page_editor)]
