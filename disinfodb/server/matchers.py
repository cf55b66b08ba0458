"""The matcher a process answers from, built in the background over its own connection.

Embedding the 13,665 real cases the first time takes about a minute, and every write
makes the index stale, so the matcher is (re)built on a thread of its own: a match waits
for it a few seconds, then answers with what is indexed and says so (IndexStatus). The
server holds one (meaning searches, related cases, suggestions; matches too with
`--match-workers 0`) and each match worker process holds its own (server.match_pool):
one home for the build and the partial answer, whichever process matches.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from disinfodb.documents import Document
from disinfodb.matching import Label, Match, Matcher, open_matcher
from disinfodb.search import SearchQuery
from disinfodb.store import Store
from disinfodb.store.trail import TrailMark

log = logging.getLogger(__name__)

CLOSE_WAIT_SECONDS = 30.0
PARTIAL_REFRESH_SECONDS = 20.0  # how often a partial matcher takes in the cases embedded since


class _Stopping(Exception):
    """The holder is closing: a background build gives up."""


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
class MatchRequest:
    """A text to match (the API's text is a plain Document) and how: what crosses to a
    match worker, so it must pickle."""

    document: Document
    query: SearchQuery | None = None
    limit: int = 10
    min_label: Label = Label.NONE
    deadline: float | None = None  # time.time() after which it waits for no index build (None: the full wait)


@dataclass(frozen=True)
class MatchAnswer:
    """The matches, the index they came from, and the thresholds of its labels (the check
    page shows them): all a face needs, so no matcher object leaves the process that matched."""

    matches: list[Match]
    index: IndexStatus
    thresholds: tuple[float, float] | None


class Matchers:
    """The newest matcher over one connection to the database, rebuilt in the background
    whenever the database changed since the last build."""

    def __init__(self, reader: Store, model: str | None, index_wait_seconds: float) -> None:
        self._reader = reader  # counts the cases (an index status's total)
        self._own: Store | None = None  # a build reads and caches vectors through a connection of its own
        self.model = model
        self.index_wait_seconds = index_wait_seconds
        self._stopping = threading.Event()
        self._matcher: Matcher | None = None  # the newest complete matcher (of _matcher_version)
        self._matcher_version: tuple[int, int] | None = None
        self._matcher_claims: Claims | None = None  # what _matcher indexes (None: unknown)
        self._partial: Matcher | None = None  # cases with cached vectors, while no complete one exists
        self._partial_at = 0.0
        self._embedding: str | None = None
        self._builder: threading.Thread | None = None
        self._lock = threading.Lock()

    def answer(self, request: MatchRequest) -> MatchAnswer:
        """Match a text with `matcher()`: what a match request runs, in a worker or here. A
        request that queued for a worker waits only for what is left of its index wait, so a
        build does not hold every queued match for the whole wait in turn."""
        wait = None if request.deadline is None else max(0.0, request.deadline - time.time())
        matcher = self.matcher(wait)
        matches = matcher.match_document(request.document, request.query, request.limit, request.min_label)
        return MatchAnswer(matches, self.index_status(matcher), matcher.thresholds(request.document))

    def matcher(self, wait: float | None = None) -> Matcher:
        """The matcher over the database as it is now, if it is built within `wait` seconds
        (default `index_wait_seconds`); else the best one there is: the last complete one (a
        write not indexed yet), or one over the cases already embedded. `index_status` says which."""
        builder = self.warm_up()
        if builder is not None:
            builder.join(self.index_wait_seconds if wait is None else wait)
        with self._lock:
            if self._matcher is not None:
                return self._matcher
            if self._partial is None or time.monotonic() - self._partial_at > PARTIAL_REFRESH_SECONDS:
                self._partial = open_matcher(self._store, self.model, embed=False)
                self._partial_at = time.monotonic()
            return self._partial

    def current(self, complete_only: bool = False) -> Matcher | None:
        """The matcher there is now, without waiting (starting a build if the database
        changed): the last complete one, else (unless `complete_only`) the partial one."""
        self.warm_up()
        with self._lock:
            return self._matcher if complete_only else self._matcher or self._partial

    def index_status(self, matcher: Matcher | None = None) -> IndexStatus:
        """How much of the database `matcher` (from `matcher()`) covers; without one, what a
        request would be answered from now (for a page that does not match)."""
        if matcher is None:
            self.warm_up()
        with self._lock:
            current = self._matcher_version == self._store.data_version()
            if matcher is None:
                matcher = self._matcher or self._partial
            complete = matcher is not None and matcher is self._matcher and current
            embedding = self._embedding
        cases = len(matcher.index.case_pks) if matcher is not None else 0
        return IndexStatus(complete, cases, cases if complete else self._reader.count(), embedding)

    def warm_up(self) -> threading.Thread | None:
        """Start building the matcher in the background if the database changed since the
        last build (and none is under way); the build running, or None when all is current."""
        with self._lock:
            if self._builder is not None and self._builder.is_alive():
                return self._builder
            if self._stopping.is_set() or (self._matcher is not None
                                           and self._matcher_version == self._store.data_version()):
                return None
            self._builder = threading.Thread(target=self._build, args=(self._store,), name="disinfodb-matcher",
                                             daemon=True)
            self._builder.start()
            return self._builder

    def _build(self, store: Store) -> None:
        """Embed what is not cached and build the matcher, again while writes keep coming.

        The index is a function of the cases' claims (title and summary) alone, and most
        writes change neither (a verdict, a keyword, a reporter): then the matcher built is
        the matcher there is, and taking it as current costs a read of the claims the audit
        trail names since (`Claims.now`), where rebuilding costs a second of CPU after every
        edit (and a match waits for it)."""
        try:
            while not self._stopping.is_set():
                version = store.data_version()
                with self._lock:
                    indexed = self._matcher_claims if self._matcher is not None else None
                claims = indexed.now(store) if indexed is not None else Claims.read(store)
                unchanged = indexed is not None and claims.texts == indexed.texts
                with self._lock:
                    if unchanged:
                        self._matcher_version, self._matcher_claims = version, claims
                if not unchanged:
                    matcher = open_matcher(store, self.model, self._note_embedding)
                    # None: a claim changed during the build (the next round finds out which)
                    built_from = claims if claims.now(store).texts == claims.texts else None
                    with self._lock:
                        self._matcher, self._matcher_version, self._matcher_claims = matcher, version, built_from
                        self._partial, self._embedding = None, None
                if store.data_version() == version:
                    return
        except _Stopping:
            return
        except Exception:  # the next match request tries again; the log says why
            if not self._stopping.is_set():
                log.exception("building the matching index failed")
            with self._lock:
                self._embedding = None

    def _note_embedding(self, model: str, done: int, total: int) -> None:
        if self._stopping.is_set():  # closing: stop between two batches, before the connection goes
            raise _Stopping
        with self._lock:
            self._embedding = f"{model}: {done:,} of {total:,} cases"

    @property
    def _store(self) -> Store:
        """The builds' connection (opened on first use, under the lock); its data version
        is the one an index's is compared with (a connection sees others' commits as changes)."""
        if self._own is None:
            self._own = self._reader.reopen()
        return self._own

    def close(self) -> None:
        """Stop the build (at its next batch) and close its connection after it."""
        self._stopping.set()
        builder = self._builder
        if builder is not None:
            builder.join(CLOSE_WAIT_SECONDS)
        if self._own is not None:
            self._own.close()


@dataclass(frozen=True)
class Claims:
    """Every case's claim (pk -> title and summary: what a matching index is built from; a
    claim's vectors are cached by its text), as of one entry of the audit trail."""

    texts: dict[int, str]
    mark: TrailMark

    @classmethod
    def read(cls, store: Store) -> Claims:
        with store.snapshot():
            return cls(store.claim_texts(), store.trail_end())

    def now(self, store: Store) -> Claims:
        """The claims as they are now: only those of the cases the trail names since are read
        again (all of them when it cannot say, or a case was deleted)."""
        with store.snapshot():
            changes = store.changes_since(self.mark)
            if changes is None or changes.deleted:
                return Claims.read(store)
            if not changes.case_ids:
                return self
            return Claims(self.texts | store.claim_texts(changes.case_ids), changes.end)
