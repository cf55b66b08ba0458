"""What the server holds: connections to the database, the matcher, accounts, settings.

Reads and writes use separate connections, so every search goes on while an import
writes (SQLite's WAL, PostgreSQL's MVCC). The matcher has a connection of its own and is
built in the background (server.matchers); match requests run in worker processes
(server.match_pool) unless `match_workers` is 0, so a match's Python (splitting, scoring,
calibration) does not hold the GIL in front of the searches. The server still keeps a
matcher of its own for what is not a match request: search by meaning (and `auto`),
related cases and suggestions; each worker holds another (its models and index again).
A worker opens the database by its location, so an in-memory SQLite database is matched
in the server's process whatever `match_workers` says.
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
from disinfodb.matching import Matcher, meaning
from disinfodb.related import RelatedCase, related_cases
from disinfodb.search import Results, SearchMode, SearchQuery
from disinfodb.server.limits import RateLimiter, SharedRateLimiter
from disinfodb.server.match_pool import MatchPool
from disinfodb.server.matchers import IndexStatus, MatchAnswer, Matchers, MatchRequest
from disinfodb.store import Store

log = logging.getLogger(__name__)

MB = 1 << 20
HOUSEKEEPING_SECONDS = 30.0
SEARCH_CONNECTIONS = 3


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
    # Processes that answer match requests (0: the server's own threads). `serve` starts one;
    # a library app (tests, a script) starts none unasked.
    match_workers: int = 0
    match_queue: int = 16  # match requests in the workers at once, waiting included; more are a 503
    # Server processes answering on one socket against this database (`serve --workers`):
    # above 1, the rate limits are shared through the database (server.limits.SharedRateLimiter)
    # and responses say which process answered (Server-Timing).
    workers: int = 1
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
        # One server keeps its clients' buckets in memory; the processes of `serve --workers N`
        # share theirs through the database, on a connection of their own.
        self._limits = store.reopen() if self.settings.workers > 1 else None
        self.match_limiter = self._limiter("match", self.settings.match_per_minute)
        self.import_limiter = self._limiter("import", self.settings.import_per_minute)
        self.login_limiter = self._limiter("sign-in", self.settings.login_per_minute)
        self.search_budget = self._limiter("anonymous search time", self.settings.search_seconds_per_minute,
                                           unit="seconds")
        # Searches (and the trend pages' counts) run on connections of their own, so a slow
        # one holds back only its connection, not every page that reads the database.
        self._searchers: queue.SimpleQueue[Store] = queue.SimpleQueue()
        for _ in range(SEARCH_CONNECTIONS):
            self._searchers.put(store.sibling())
        self._stopping = threading.Event()
        self._housekeeper = threading.Thread(target=self._keep_house, name="disinfodb-housekeeping", daemon=True)
        self._housekeeper.start()
        self.matchers = Matchers(store, model, self.settings.index_wait_seconds)
        in_memory = store.location in ("", ":memory:")  # a worker's own connection would see another database
        self.match_pool = (MatchPool(store.location, model, self.settings)
                           if self.settings.match_workers > 0 and not in_memory else None)

    def _limiter(self, what: str, per_minute: float, unit: str = "requests") -> RateLimiter:
        if self._limits is None:
            return RateLimiter(what, per_minute, unit=unit)
        return SharedRateLimiter(what, per_minute, self._limits, self.settings.workers, unit=unit)

    def match(self, request: MatchRequest) -> MatchAnswer:
        """Match a text: in a worker process (MatchingUnavailable, a 503, when the queue is
        full or the worker died), or with the server's own matcher."""
        if self.match_pool is not None:
            return self.match_pool.answer(request)
        return self.matchers.answer(request)

    def matcher(self) -> Matcher:
        """The server's own matcher (meaning searches, related cases, suggestions):
        Matchers.matcher."""
        return self.matchers.matcher()

    def index_status(self) -> IndexStatus:
        """What a match request would be answered from now (for a page that does not match)."""
        if self.match_pool is not None:
            return self.match_pool.index_status()
        return self.matchers.index_status()

    def search(self, query: SearchQuery, budget_key: str | None) -> Results:
        """A search in its mode (matching.meaning). `meaning` waits for the index as a match
        does; `auto` takes the matcher there is and is a words search until one exists, so
        the search box never waits for embeddings."""
        matcher: Matcher | None = None
        if query.mode == SearchMode.MEANING:
            matcher = self.matcher()
        elif query.mode == SearchMode.AUTO:
            matcher = self.matchers.current()
        with self.searching(budget_key) as store:
            return meaning.search(store, query, matcher)

    def related_if_ready(self, case_id: str, k: int = 8) -> list[RelatedCase] | None:
        """The related cases (disinfodb.related), if a matcher is built; else None (and the
        build starts in the background), so a page never waits for embeddings."""
        matcher = self.matchers.current(complete_only=True)
        if matcher is None:
            return None
        try:
            return related_cases(matcher, self.reader, case_id, k)
        except CaseNotFound:  # newer than the index: the build under way takes it in
            return None

    def warm_up(self) -> None:
        """Start what matches: the workers and their builds, or the server's own build."""
        if self.match_pool is not None:
            self.match_pool.warm_up()
        else:
            self.matchers.warm_up()

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
        if self._limits is not None:
            self._limits.close()
        while not self._searchers.empty():
            self._searchers.get().close()
        if self.match_pool is not None:
            self.match_pool.close()
        self.matchers.close()
