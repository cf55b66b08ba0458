"""Telling another system about new hits: each is POSTed as JSON to a webhook URL from a
thread of its own, retried a bounded number of times with growing pauses, so a slow or
failing receiver never holds up the watch; what cannot be delivered is logged."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import httpx

log = logging.getLogger(__name__)

ATTEMPTS = 3
FIRST_PAUSE_S = 0.5  # then twice as long before each further attempt
TIMEOUT_S = 10.0
BACKLOG = 10_000  # hits waiting to be sent, at most: beyond, new ones are dropped (and logged)
_STOP = object()


class Webhook:
    """Delivers payloads to one URL in the background, in the order they were given."""

    def __init__(self, url: str, attempts: int = ATTEMPTS, first_pause_s: float = FIRST_PAUSE_S,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.url = url
        self.attempts = attempts
        self.first_pause_s = first_pause_s
        self.delivered = 0
        self.failed = 0
        self._client = httpx.Client(timeout=timeout_s)
        self._queue: queue.Queue[object] = queue.Queue(BACKLOG)
        self._thread = threading.Thread(target=self._run, name="disinfodb-webhook", daemon=True)
        self._thread.start()

    def notify(self, payload: dict[str, Any]) -> None:
        """Queue one payload; never waits."""
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.failed += 1
            log.error("webhook %s: %d hits wait already; one is dropped", self.url, BACKLOG)

    def close(self, wait_s: float = 30.0) -> None:
        """Deliver what is queued (waiting at most `wait_s`), then stop."""
        self._queue.put(_STOP)
        self._thread.join(wait_s)
        self._client.close()

    def _run(self) -> None:
        while (payload := self._queue.get()) is not _STOP:
            assert isinstance(payload, dict)
            self._deliver(payload)

    def _deliver(self, payload: dict[str, Any]) -> None:
        pause = self.first_pause_s
        for attempt in range(1, self.attempts + 1):
            try:
                self._client.post(self.url, json=payload).raise_for_status()
            except httpx.HTTPError as error:
                log.warning("webhook %s: attempt %d of %d failed: %s", self.url, attempt, self.attempts, error)
                if attempt < self.attempts:
                    time.sleep(pause)
                    pause *= 2
                continue
            self.delivered += 1
            return
        self.failed += 1
        log.error("webhook %s: hit %s not delivered after %d attempts", self.url, payload.get("id"), self.attempts)
