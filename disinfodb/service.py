"""What the server holds: connections to the database, the matcher, accounts, settings.

Reads and writes use separate connections, so every search goes on while an import
writes (SQLite's WAL, PostgreSQL's MVCC). The matcher has a third connection and is built in the background
(embedding a fresh database takes minutes), so a match request waits for it but nothing
else does.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from disinfodb.accounts import Accounts
from disinfodb.embed import load_embedders
from disinfodb.errors import CaseNotFound
from disinfodb.limits import RateLimiter
from disinfodb.match import ClaimIndex, Matcher
from disinfodb.store import SQLStore

log = logging.getLogger(__name__)

MB = 1 << 20


@dataclass(frozen=True)
class Settings:
    """How a server behaves; `disinfodb serve` flags and DISINFODB_* variables set them."""

    private: bool = False  # reads need a signed-in user or a token too
    max_body_bytes: int = 64 * MB  # uploads (and any other request body)
    max_match_chars: int = 200_000
    match_per_minute: int = 60  # per client (token user, else IP address)
    import_per_minute: int = 10
    login_per_minute: int = 10  # per address: slows password guessing
    secure_cookies: bool = False  # set when served over HTTPS (behind a proxy)


class Service:
    """The database and the models behind the API and the web pages."""

    def __init__(self, store: SQLStore, model: str | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.model = model
        self.reader = store
        self.writer = store.reopen()
        self.accounts = Accounts(self.writer)
        self.match_limiter = RateLimiter("match", self.settings.match_per_minute)
        self.import_limiter = RateLimiter("import", self.settings.import_per_minute)
        self.login_limiter = RateLimiter("sign-in", self.settings.login_per_minute)
        self._matcher_store: SQLStore | None = None
        self._matcher: Matcher | None = None
        self._matcher_version: tuple[int, int] | None = None
        self._matcher_lock = threading.Lock()

    def matcher(self) -> Matcher:
        """Built on first use (embedding whatever is not cached), rebuilt after any write
        to the database, by this process or another (cached vectors make that cheap)."""
        with self._matcher_lock:
            if self._matcher_store is None:
                self._matcher_store = self.reader.reopen()
            version = self._matcher_store.data_version()
            if self._matcher is None or self._matcher_version != version:
                embedders = load_embedders(self.model)
                index = ClaimIndex.build(self._matcher_store, embedders)
                self._matcher = Matcher(self._matcher_store, embedders, index)
                self._matcher_version = self._matcher_store.data_version()
            return self._matcher

    def related_if_ready(self, case_id: str, k: int = 8) -> list[tuple[str, str, float]] | None:
        """Cases with the closest claims, if the matcher is built; else None (and the
        build starts in the background), so a page never waits minutes for embeddings."""
        if not self._matcher_lock.acquire(blocking=False):
            return None
        try:
            matcher = self._matcher
            if matcher is None:
                self.warm_up()
                return None
            try:
                return matcher.related(case_id, k)
            except CaseNotFound:  # newer than the index: the next match request rebuilds it
                return None
        finally:
            self._matcher_lock.release()

    def warm_up(self) -> threading.Thread:
        """Build the matcher in the background, so the first match request is fast."""
        def build() -> None:
            try:
                self.matcher()
            except Exception:  # the next match request tries again and reports the error
                log.exception("building the matching index failed")

        thread = threading.Thread(target=build, name="disinfodb-matcher", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.writer.close()
        if self._matcher_store is not None:
            self._matcher_store.close()
