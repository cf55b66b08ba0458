"""Indexes read from the database and shared by sibling connections: when one is current,
and building one that takes seconds off the request path.

An index is a snapshot: it is current for a connection when it was read in a snapshot that
began after the last change that connection has noticed (`SQLStore._noticed_changes`).
The term index catches up from the audit trail in milliseconds, on the spot; the ranking index takes
seconds at 100k cases, so it is built on a thread of its own while searches do without it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

#: After a background build, the next one waits this many times as long as the last took:
#: a stream of edits (each makes the index stale) keeps at most 1/(1 + this) of a core busy.
BUILD_PAUSE_FACTOR = 4.0


@dataclass
class SharedSnapshot(Generic[T]):
    """A value loaded from the database, and when the snapshot it was loaded in began
    (time.monotonic())."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    value: T | None = None
    loaded_at: float = -math.inf

    def current(self, changed_before: float) -> T | None:
        """The value if it was loaded after every change the caller has noticed, else None."""
        with self.lock:
            return self.value if self.value is not None and self.loaded_at >= changed_before else None

    def latest(self) -> T | None:
        """The value last kept, current or not (what a catch-up starts from)."""
        with self.lock:
            return self.value

    def offer(self, value: T, loaded_at: float) -> None:
        """Keep `value` unless the one kept was loaded in a later snapshot."""
        with self.lock:
            if loaded_at >= self.loaded_at:
                self.value, self.loaded_at = value, loaded_at


class BackgroundSnapshot(SharedSnapshot[T]):
    """A shared snapshot too slow to load on a request: built on a thread of its own, one
    build at a time, with a pause after each (BUILD_PAUSE_FACTOR); until a current one is
    there, callers get None and use their slower exact way."""

    def __init__(self) -> None:
        super().__init__()
        self._building: threading.Thread | None = None
        self._not_before = -math.inf  # no new build starts before this (time.monotonic())

    def get(self, changed_before: float, load: Callable[[], tuple[T, float]], wait_seconds: float = 0.0
            ) -> T | None:
        """The current value, or None (having started a build unless one runs or it pauses).

        `load` returns a value and when the snapshot it was read in began; it runs on the
        build's thread, on a connection of its own. With `wait_seconds`, waits up to that
        long for a current value (tests and benchmarks; a request never waits)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            value = self.current(changed_before)
            if value is not None:
                return value
            building = self._start(load)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if building is not None:
                building.join(remaining)
            else:
                time.sleep(min(remaining, max(self._not_before - time.monotonic(), 0.001)))

    def _start(self, load: Callable[[], tuple[T, float]]) -> threading.Thread | None:
        """The build under way, a new one, or None while pausing."""
        with self.lock:
            if self._building is not None and self._building.is_alive():
                return self._building
            if time.monotonic() < self._not_before:
                return None
            self._building = threading.Thread(target=self._build, args=(load,), name="disinfodb-index-build",
                                              daemon=True)
            self._building.start()
            return self._building

    def _build(self, load: Callable[[], tuple[T, float]]) -> None:
        began = time.monotonic()
        try:
            self.offer(*load())
        except Exception:  # the database went away, say: callers keep their exact way
            log.exception("building an index in the background failed")
        finally:
            with self.lock:
                self._not_before = time.monotonic() + BUILD_PAUSE_FACTOR * (time.monotonic() - began)
