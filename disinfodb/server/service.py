"""What the server holds: connections to the database, the matcher, accounts, settings.

Reads and writes use separate connections, so every search goes on while an import
writes (SQLite's WAL, PostgreSQL's MVCC). The matcher has a third connection and is built
in the background (embedding the 13,665 real cases the first time takes about a minute):
a match request waits for it a few seconds, then answers with what is indexed and says
so (IndexStatus); nothing else waits.
"""

from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from disinfodb.accounts import Accounts, Role, User
from disinfodb.cases import Case
from disinfodb.errors import CaseNotFound, InputTooLarge, NotAllowed, VersionRequired
from disinfodb.export import DEFAULT_PUBLISHER, Publisher
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import ImportReport, import_records
from disinfodb.matching import Matcher, meaning, open_matcher
from disinfodb.related import RelatedCase, related_cases
from disinfodb.search import Results, SearchMode, SearchQuery
from disinfodb.server.limits import RateLimiter
from disinfodb.store import Store

log = logging.getLogger(__name__)

MB = 1 << 20
HOUSEKEEPING_SECONDS = 30.0
SEARCH_CONNECTIONS = 3
CLOSE_WAIT_SECONDS = 30.0
PARTIAL_REFRESH_SECONDS = 20.0  # how often a partial matcher takes in the cases embedded since


class _Stopping(Exception):
    """The service is closing: a background build gives up."""


@dataclass(frozen=True)
class IndexStatus:
    """How much of the database a match was answered from: all of it, or (while the server
    still embeds new cases, or after a write it has not indexed yet) the cases indexed."""

    complete: bool
    cases: int  # cases in the index that answered
    total: int  # cases in the database
    embedding: str | None  # what the background build does now ("e5-small: 2,048 of 13,665 cases")

    @property
    def note(self) -> str | None:
        """The sentence a page shows when the answer is partial."""
        if self.complete:
            return None
        doing = f" (embedding with {self.embedding})" if self.embedding else ""
        return (f"The matching index is still being built{doing}: these answers cover {self.cases:,} of"
                f" {self.total:,} cases.")


@dataclass(frozen=True)
class Settings:
    """How a server behaves; `disinfodb serve` flags and DISINFODB_* variables set them."""

    private: bool = False  # reads need a signed-in user or a token too
    max_body_bytes: int = 64 * MB  # uploads (and any other request body)
    max_match_chars: int = 200_000
    match_per_minute: int = 60  # per client (token user, else IP address)
    import_per_minute: int = 10
    login_per_minute: int = 10  # per address: slows password guessing
    search_seconds_per_minute: float = 3.0  # CPU an anonymous client's searches may take (per address)
    secure_cookies: bool = False  # set when served over HTTPS (behind a proxy)
    public_url: str = "http://127.0.0.1:8000"  # absolute links (feed, review files) start here, never at Host
    index_wait_seconds: float = 5.0  # a match request waits this long for the index to cover every case
    publisher_name: str = DEFAULT_PUBLISHER.name  # who the ClaimReviews (JSON-LD, Fact Check API) name
    rating_label: str = DEFAULT_PUBLISHER.rating  # their textual rating of every case
    review_language: str = DEFAULT_PUBLISHER.language  # the language the debunks are written in

    @property
    def publisher(self) -> Publisher:
        """The instance as the reviewer of its cases: its name and its public site."""
        return Publisher(self.publisher_name, self.public_url, self.rating_label, self.review_language)

    @property
    def max_match_body_bytes(self) -> int:
        """The largest body of a match request: its text limit, each character JSON-escaped
        (\\uXXXX, 6 bytes), plus room for the other fields. Checked before reading."""
        return self.max_match_chars * 6 + 64 * 1024


class Service:
    """The database and the models behind the API and the web pages."""

    def __init__(self, store: Store, model: str | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.model = model
        self.reader = store
        self.writer = store.reopen()
        self.accounts = Accounts(self.writer, self.reader)
        self.match_limiter = RateLimiter("match", self.settings.match_per_minute)
        self.import_limiter = RateLimiter("import", self.settings.import_per_minute)
        self.login_limiter = RateLimiter("sign-in", self.settings.login_per_minute)
        self.search_budget = RateLimiter("anonymous search time", self.settings.search_seconds_per_minute,
                                         unit="seconds")
        # Searches (and the trend pages' counts) run on connections of their own, so a slow
        # one holds back only its connection, not every page that reads the database.
        self._searchers: queue.SimpleQueue[Store] = queue.SimpleQueue()
        for _ in range(SEARCH_CONNECTIONS):
            self._searchers.put(store.sibling())
        self._stopping = threading.Event()
        self._housekeeper = threading.Thread(target=self._keep_house, name="disinfodb-housekeeping", daemon=True)
        self._housekeeper.start()
        self._matcher_store: Store | None = None
        self._matcher: Matcher | None = None  # the newest complete matcher (of _matcher_version)
        self._matcher_version: tuple[int, int] | None = None
        self._partial: Matcher | None = None  # cases with cached vectors, while no complete one exists
        self._partial_at = 0.0
        self._embedding: str | None = None
        self._builder: threading.Thread | None = None
        self._matcher_lock = threading.Lock()

    def matcher(self) -> Matcher:
        """The matcher over the database as it is now, if it is built within
        `index_wait_seconds`; else the best one there is: the last complete one (a write not
        indexed yet), or one over the cases already embedded. `index_status` says which."""
        builder = self.warm_up()
        if builder is not None:
            builder.join(self.settings.index_wait_seconds)
        with self._matcher_lock:
            if self._matcher is not None:
                return self._matcher
            if self._partial is None or time.monotonic() - self._partial_at > PARTIAL_REFRESH_SECONDS:
                self._partial = open_matcher(self._store(), self.model, embed=False)
                self._partial_at = time.monotonic()
            return self._partial

    def index_status(self, matcher: Matcher | None = None) -> IndexStatus:
        """How much of the database `matcher` (from `matcher()`) covers; without one, what a
        request would be answered from now (for a page that does not match)."""
        if matcher is None:
            self.warm_up()
        with self._matcher_lock:
            current = self._matcher_version == self._store().data_version()
            if matcher is None:
                matcher = self._matcher or self._partial
            complete = matcher is not None and matcher is self._matcher and current
            embedding = self._embedding
        cases = len(matcher.index.case_pks) if matcher is not None else 0
        return IndexStatus(complete, cases, cases if complete else self.reader.count(), embedding)

    def search(self, query: SearchQuery, budget_key: str | None) -> Results:
        """A search in its mode (matching.meaning). `meaning` waits for the index as a match
        does; `auto` takes the matcher there is and is a words search until one exists, so
        the search box never waits for embeddings."""
        matcher: Matcher | None = None
        if query.mode == SearchMode.MEANING:
            matcher = self.matcher()
        elif query.mode == SearchMode.AUTO:
            self.warm_up()
            with self._matcher_lock:
                matcher = self._matcher or self._partial
        with self.searching(budget_key) as store:
            return meaning.search(store, query, matcher)

    def related_if_ready(self, case_id: str, k: int = 8) -> list[RelatedCase] | None:
        """The related cases (disinfodb.related), if a matcher is built; else None (and the
        build starts in the background), so a page never waits for embeddings."""
        self.warm_up()
        with self._matcher_lock:
            matcher = self._matcher
        if matcher is None:
            return None
        try:
            return related_cases(matcher, self.reader, case_id, k)
        except CaseNotFound:  # newer than the index: the build under way takes it in
            return None

    def warm_up(self) -> threading.Thread | None:
        """Start building the matcher in the background if the database changed since the
        last build (and none is under way); the build running, or None when all is current."""
        with self._matcher_lock:
            if self._builder is not None and self._builder.is_alive():
                return self._builder
            store = self._store()
            if self._matcher is not None and self._matcher_version == store.data_version():
                return None
            self._builder = threading.Thread(target=self._build, args=(store,), name="disinfodb-matcher",
                                             daemon=True)
            self._builder.start()
            return self._builder

    def _build(self, store: Store) -> None:
        """Embed what is not cached and build the matcher, again while writes keep coming."""
        try:
            while not self._stopping.is_set():
                version = store.data_version()
                matcher = open_matcher(store, self.model, self._note_embedding)
                with self._matcher_lock:
                    self._matcher, self._matcher_version = matcher, version
                    self._partial, self._embedding = None, None
                if store.data_version() == version:
                    return
        except _Stopping:
            return
        except Exception:  # the next match request tries again; the log says why
            if not self._stopping.is_set():
                log.exception("building the matching index failed")
            with self._matcher_lock:
                self._embedding = None

    def _note_embedding(self, model: str, done: int, total: int) -> None:
        if self._stopping.is_set():  # closing: stop between two batches, before the connection goes
            raise _Stopping
        with self._matcher_lock:
            self._embedding = f"{model}: {done:,} of {total:,} cases"

    def _store(self) -> Store:
        """The matcher's connection (opened on first use, under the matcher lock)."""
        if self._matcher_store is None:
            self._matcher_store = self.reader.reopen()
        return self._matcher_store

    def admit_text(self, text: str, client: str) -> None:
        """What every request that matches a text passes first: the client's rate of match
        requests (RateLimited: 429) and the text's length (InputTooLarge: 413)."""
        self.match_limiter.check(client)
        if len(text) > self.settings.max_match_chars:
            raise InputTooLarge(f"the text has {len(text):,} characters;"
                                f" at most {self.settings.max_match_chars:,} are matched in one request")

    def import_upload(self, upload: BinaryIO, filename: str | None, fmt: str | None, actor: str, *,
                      dry_run: bool = False, skip_invalid: bool = False) -> ImportReport:
        """Import an uploaded file through the writer connection (spooled to a temporary file
        first, so that the readers can sniff its format and stream it)."""
        name = Path(filename or "upload").name
        with tempfile.NamedTemporaryFile(suffix=Path(name).suffix) as spooled:
            shutil.copyfileobj(upload, spooled)
            spooled.flush()
            records = read_file(spooled.name, fmt, source=name)
            return import_records(self.writer, records, actor=actor, dry_run=dry_run, skip_invalid=skip_invalid)

    def replace_case(self, case_id: str, case: Case, user: User, version: int | None, force: bool = False) -> Case:
        """An editor's edit of a case: based on `version`, or refused (VersionConflict when
        that is not the stored one, VersionRequired when none is given, unless an admin forces
        the overwrite), so two editors' blind saves cannot lose one of them."""
        self._check_version(case_id, user, version, force)
        return self.writer.replace(case_id, case, actor=user.name, expected_version=version)[1]

    def delete_case(self, case_id: str, user: User, version: int | None, force: bool = False) -> None:
        """An editor's deletion of a case, under the same rule as `replace_case`."""
        self._check_version(case_id, user, version, force)
        self.writer.delete(case_id, actor=user.name, expected_version=version)

    def _check_version(self, case_id: str, user: User, version: int | None, force: bool) -> None:
        if version is not None:
            return
        if not force:
            raise VersionRequired(case_id, self.reader.get(case_id).version)
        if user.role is not Role.ADMIN:
            raise NotAllowed(f"user {user.name!r} has role {user.role.value}: only an admin may force a write"
                             " without a version")

    @contextmanager
    def searching(self, budget_key: str | None) -> Iterator[Store]:
        """A connection for a search, its CPU time charged to an anonymous client's budget
        (None: a signed-in user, not metered). CPU time of this thread, not wall time:
        waiting behind others' work costs a client nothing."""
        store = self._searchers.get()
        started = time.thread_time()
        try:
            yield store
        finally:
            if budget_key is not None:
                self.search_budget.charge(budget_key, time.thread_time() - started)
            self._searchers.put(store)

    def _keep_house(self) -> None:
        """Write the tokens' last uses every half minute, off the request path."""
        while not self._stopping.wait(HOUSEKEEPING_SECONDS):
            try:
                self.accounts.flush_uses()
            except Exception:  # the database may be away for a moment: the next round retries
                log.exception("recording token uses failed")

    def close(self) -> None:
        self._stopping.set()
        try:
            self.accounts.flush_uses()
        except Exception:
            log.exception("recording token uses failed")
        self.writer.close()
        while not self._searchers.empty():
            self._searchers.get().close()
        builder = self._builder
        if builder is not None:
            builder.join(CLOSE_WAIT_SECONDS)  # it stops at its next batch; its connection closes after it
        if self._matcher_store is not None:
            self._matcher_store.close()
