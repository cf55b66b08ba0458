"""Match requests in worker processes, off the search path.

A match is mostly Python around the models (sentence splitting, scoring, calibration):
in the server's process it holds the GIL in front of every search. Here each worker is a
process of its own (spawned: no copy of the server's threads, connections or onnxruntime
sessions) with its own connection,
models and index (server.matchers, rebuilt there when the database changes), so a
search never waits behind a match.

The queue is bounded: at most `match_queue` requests are in the workers at once, waiting
included; one more is answered at once with a 503 and Retry-After (MatchingUnavailable)
instead of making every match slower. A worker that dies breaks its executor: the
requests in it are answered with the same 503 and a new executor replaces it, so no
request waits on a process that is gone.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from disinfodb.errors import MatchingUnavailable
from disinfodb.server.matchers import IndexStatus, MatchAnswer, Matchers, MatchRequest
from disinfodb.store import open_store

if TYPE_CHECKING:
    from disinfodb.server.service import Settings

log = logging.getLogger(__name__)

BUSY_RETRY_AFTER_S = 1  # a match takes tens of milliseconds: a full queue drains within a second
RESTART_RETRY_AFTER_S = 5  # a new worker loads its models and index first
FAILED_RETRY_AFTER_S = 60  # workers that cannot start need someone to read the log
MAX_FAILED_STARTS = 3
STATUS_WAIT_S = 2.0  # the check page's banner waits this long for a busy worker
ORPHAN_CHECK_S = 1.0  # how often a worker looks whether its server is still there

_matchers: Matchers | None = None  # a worker process's own matcher (set by _open_worker)


def _open_worker(server: int, location: str, model: str | None, index_wait_seconds: float) -> None:
    """A worker's start: its own connection and matcher, built at once in the background.

    Ctrl-C and a SIGTERM sent to the whole process group are the server's to handle: a
    worker that died of them first would be replaced in the middle of the shutdown. The
    server stops its workers itself (MatchPool.close)."""
    global _matchers  # noqa: PLW0603 - one matcher per worker process, for every request it runs
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(server,), name="disinfodb-orphan-check",
                     daemon=True).start()
    _matchers = Matchers(open_store(location), model, index_wait_seconds)
    _matchers.warm_up()
    atexit.register(_matchers.close)  # the build stops and its connection closes when the pool shuts down


def _exit_when_orphaned(server: int) -> None:
    """End this worker once its server process is gone. A server killed outright (kill -9,
    out of memory: one of `serve --workers N` that its supervisor replaces) cannot stop its
    workers, and they ignore the signals that would: without this they would live on, each
    holding its models and a connection."""
    while os.getppid() == server:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(1)


def _worker() -> Matchers:
    assert _matchers is not None, "a match worker runs _open_worker first"
    return _matchers


def _answer(request: MatchRequest) -> MatchAnswer:
    return _worker().answer(request)


def _index_status() -> IndexStatus:
    return _worker().index_status()


def _started() -> None:
    """Nothing: submitted once per worker so that the executor starts its processes now."""


class MatchPool:
    """Worker processes that answer match requests, each with its own matcher."""

    def __init__(self, location: str, model: str | None, settings: Settings) -> None:
        # The server's pid, not the worker's getppid(): a server that died while the worker
        # was still starting would leave it watching whoever adopted it.
        self._args = (os.getpid(), location, model, settings.index_wait_seconds)
        self.index_wait_seconds = settings.index_wait_seconds
        self.workers = settings.match_workers
        self.queue_size = settings.match_queue
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self._failed_starts = 0  # executors in a row that broke before answering anything
        self._status: IndexStatus | None = None  # the last status a worker gave
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_open_worker, initargs=self._args)

    def warm_up(self) -> None:
        """Start the workers (each loads its models and builds its index) before the first match."""
        with self._lock:
            executor = self._executor
        for _ in range(self.workers):
            try:
                executor.submit(_started)
            except (BrokenProcessPool, RuntimeError):  # broken, or shut down: the next match replaces it
                return

    def answer(self, request: MatchRequest) -> MatchAnswer:
        """Match a text in a worker (waiting for it, off the event loop); MatchingUnavailable
        when the queue is full, the worker died on it or cannot start, or the server is
        stopping. Its index wait counts from now, not from when a worker takes it."""
        with self._lock:
            self._check_open()
            if self._pending >= self.queue_size:
                raise MatchingUnavailable(f"all {self.queue_size} places in the match queue are taken",
                                          BUSY_RETRY_AFTER_S)
            self._pending += 1
            executor = self._executor
        timed = dataclasses.replace(request, deadline=time.time() + self.index_wait_seconds)
        try:
            answer: MatchAnswer = self._run(executor, _answer, timed)
        finally:
            with self._lock:
                self._pending -= 1
        with self._lock:
            self._status = answer.index
        return answer

    def index_status(self) -> IndexStatus:
        """What a match would be answered from now, as a worker says (for the check page's
        banner). A busy worker answers it after the matches queued before it: past
        STATUS_WAIT_S the last status a worker gave is shown instead, so a page view never
        holds a thread for long."""
        with self._lock:
            self._check_open()
            executor = self._executor
        try:
            status: IndexStatus = self._run(executor, _index_status, timeout=STATUS_WAIT_S)
        except TimeoutError:
            with self._lock:
                if self._status is not None:
                    return self._status
            raise MatchingUnavailable("the match worker is busy", BUSY_RETRY_AFTER_S) from None
        with self._lock:
            self._status = status
        return status

    def _check_open(self) -> None:
        """Under the lock: refuse a request when the pool is closed or its workers cannot start."""
        if self._closed:
            raise MatchingUnavailable("the server is stopping", RESTART_RETRY_AFTER_S)
        if self._failed_starts >= MAX_FAILED_STARTS:
            raise MatchingUnavailable(f"the match workers failed to start {self._failed_starts} times in a row:"
                                      " the server's log says why", FAILED_RETRY_AFTER_S)

    def _run(self, executor: ProcessPoolExecutor, call: Callable[..., Any], *args: Any,
             timeout: float | None = None) -> Any:
        """Run a call in a worker: a broken executor is replaced and the request answered
        with a 503, as is a call the shut-down executor no longer takes."""
        try:
            result = executor.submit(call, *args).result(timeout)
        except BrokenProcessPool:
            self._replace(executor)
            raise MatchingUnavailable("the match worker stopped and is being restarted",
                                      RESTART_RETRY_AFTER_S) from None
        except RuntimeError:  # submitted after close(): the executor is shut down
            raise MatchingUnavailable("the server is stopping", RESTART_RETRY_AFTER_S) from None
        with self._lock:
            if executor is self._executor:
                self._failed_starts = 0
        return result

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A new executor for the broken one (once, whichever request noticed first); after
        MAX_FAILED_STARTS executors in a row broke before answering, none (a worker that
        cannot open the database or load its models would only fail again)."""
        with self._lock:
            if self._executor is not broken or self._closed:
                return
            self._failed_starts += 1
            if self._failed_starts >= MAX_FAILED_STARTS:
                log.error("the match workers failed %d times in a row without answering; not starting another",
                          self._failed_starts)
                return
            log.error("a match worker died; starting a new one")
            self._executor = self._start()
        broken.shutdown(wait=False, cancel_futures=True)
        self.warm_up()

    def close(self) -> None:
        """Stop the workers: requests not started are cancelled, each worker's build stops."""
        with self._lock:
            self._closed = True
            executor = self._executor
        executor.shutdown(wait=True, cancel_futures=True)
