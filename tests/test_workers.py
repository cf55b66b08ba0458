"""`disinfodb serve --workers 2`: two server processes on one socket and one database
(a SQLite file, then a PostgreSQL database) behave as one server. A write through one is
seen by searches, facets and matches in the other; a sign-in on one is a session on the
other, and a form's CSRF token from one is accepted by the other; and their rate limits
are one budget, shared through the database.

Every request goes on a fresh connection, so the kernel hands it to either process;
`Server-Timing` says which one answered (`worker;desc=<pid>`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_concurrency import _free_port
from typer.testing import CliRunner

from disinfodb.accounts import Accounts
from disinfodb.cases import Case
from disinfodb.cli import app
from disinfodb.errors import RateLimited
from disinfodb.server.limits import RateLimiter, SharedRateLimiter
from disinfodb.store import Store, open_store

WORKERS = 2
PASSWORD = "correct horse battery"
SEEN_WITHIN_S = 1.0  # a write is visible to searches in every worker within this
MATCHED_WITHIN_S = 30.0  # a claim edit is matched once each worker has rebuilt its index (embedding it)
_WORKER = re.compile(r"worker;desc=(\d+)")


class Workers:
    """The server under test: its address, an editor's API token, its workers' pids."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.pids: set[int] = set()

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, httpx.Response]:
        """One request on a fresh connection: (the pid that answered, the response)."""
        response = httpx.request(method, self.base + path, timeout=30, **kwargs)
        found = _WORKER.search(response.headers.get("server-timing", ""))
        assert found, response.headers.get("server-timing")
        return int(found.group(1)), response

    def wait_for(self, count: int, server: subprocess.Popen[bytes], log: Path) -> None:
        """Ask on fresh connections until `count` workers have answered a search (each has
        then loaded its term index once), while the server runs."""
        deadline = time.monotonic() + 120
        while len(self.pids) < count:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"only workers {sorted(self.pids)} answered"
            try:
                pid, response = self.request("GET", "/api/cases?q=harbour")
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if response.status_code == 200:
                self.pids.add(pid)

    def until_each(self, method: str, path: str, seen: Callable[[httpx.Response], bool], within: float,
                   **kwargs: Any) -> dict[int, float]:
        """Ask again on fresh connections until every worker has answered `seen`; the
        seconds each took (after which it failed the test)."""
        started = time.monotonic()
        took: dict[int, float] = {}
        while set(took) != self.pids:
            elapsed = time.monotonic() - started
            assert elapsed < within, f"after {elapsed:.2f} s only workers {sorted(took)} of {sorted(self.pids)}"
            pid, response = self.request(method, path, **kwargs)
            assert pid in self.pids, f"an answer from {pid}, not one of the workers {sorted(self.pids)}"
            if pid not in took and seen(response):
                took[pid] = time.monotonic() - started
        return took


@contextmanager
def _serving(location: str, log: Path, match_workers: int = 0) -> Iterator[tuple[Workers, subprocess.Popen[bytes]]]:
    """`serve --workers 2` on a free port over a database with two cases and an editor,
    its log in `log` (a pipe nobody reads would fill and stop the server); stopped with
    SIGTERM after, which must end it cleanly."""
    store = open_store(location)
    store.create(Case(id="harbour", title="The harbour was sold to a foreign fleet",
                      summary="A foreign fleet now owns the harbour.", keywords=["Harbour"]))
    store.create(Case(id="vaccine", title="Vaccines carry tracking chips",
                      summary="Each dose hides a tracking chip.", keywords=["Vaccines"]))
    Accounts(store).add_user("ed", "editor", PASSWORD)
    token = Accounts(store).create_token("ed")
    store.close()
    port = _free_port()
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "disinfodb", "serve", "--db", location, "--port", str(port),
             "--workers", str(WORKERS), "--match-workers", str(match_workers), "--model", "use-m",
             "--match-per-minute", "0"], stdout=output, stderr=subprocess.STDOUT)
    served = Workers(f"http://127.0.0.1:{port}", token)
    try:
        served.wait_for(WORKERS, server, log)
        yield served, server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode == 0, log.read_text()


@pytest.fixture
def workers(store_location: str, tmp_path: Path) -> Iterator[Workers]:
    with _serving(store_location, tmp_path / "serve.log") as (served, _):
        yield served


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _running(pid: int) -> bool:
    """Whether a process is there and not a zombie waiting for whoever adopted it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads a process's children from Linux's /proc")
def test_a_worker_that_dies_is_replaced_and_its_match_workers_exit(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with _serving(str(tmp_path / "cases.sqlite"), log, match_workers=1) as (served, server):
        victim, survivor = sorted(served.pids)
        deadline = time.monotonic() + 60
        while not (orphans := _children(victim)):  # its match worker, started as it began serving
            assert time.monotonic() < deadline, "the worker started no match worker"
            time.sleep(0.2)
        os.kill(victim, signal.SIGKILL)
        served.pids = {survivor}
        served.wait_for(WORKERS, server, log)
        assert victim not in served.pids and f"Child process [{victim}] died" in log.read_text()
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in orphans):
            assert time.monotonic() < deadline, ("the dead worker's children live on: " + "; ".join(
                Path(f"/proc/{pid}/cmdline").read_text()[:200] for pid in orphans if _running(pid)))
            time.sleep(0.2)


@pytest.mark.parametrize("count", ["0", "-2"])
def test_a_worker_count_below_one_is_refused(count: str) -> None:
    result = CliRunner().invoke(app, ["serve", "--workers", count])
    words = " ".join(word for word in result.output.split() if word != "│")  # the error's box, unwrapped
    assert result.exit_code == 2 and f"{count} is not in the range x>=1" in words


def test_several_workers_cannot_share_an_in_memory_database() -> None:
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--db", ":memory:"])
    assert result.exit_code == 1
    assert "an in-memory database cannot be shared by several processes" in " ".join(result.output.split())


def _total(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def _keyword_count(response: httpx.Response, value: str) -> int:
    facets = response.json()["facets"]["keyword"]
    return next((int(f["count"]) for f in facets if f["label"] == value), 0)


def test_a_write_in_one_worker_is_seen_by_every_worker_within_a_second(workers: Workers) -> None:
    auth = {"Authorization": f"Bearer {workers.token}"}
    assert len(workers.pids) == WORKERS
    _, created = workers.request("POST", "/api/cases", headers=auth, json={
        "title": "Lighthouses jam the radio of fishermen", "summary": "Every lighthouse jams radios.",
        "keywords": ["Harbour"]})
    assert created.status_code == 201, created.text
    searched = workers.until_each("GET", "/api/cases?q=lighthouses", lambda r: _total(r) == 1, SEEN_WITHIN_S)
    counted = workers.until_each("GET", "/api/cases", lambda r: _keyword_count(r, "Harbour") == 2, SEEN_WITHIN_S)
    assert max(searched.values()) <= SEEN_WITHIN_S and max(counted.values()) <= SEEN_WITHIN_S

    # A claim edit through one worker rebuilds the matching index of each.
    case = workers.request("GET", "/api/cases/vaccine")[1].json()
    _, edited = workers.request("PUT", "/api/cases/vaccine", headers=auth, json={
        **case, "title": "Windmills spread a sleeping sickness", "summary": "Windmills make people sleep."})
    assert edited.status_code == 200, edited.text

    def matched(response: httpx.Response) -> bool:
        assert response.status_code == 200, response.text
        body = response.json()
        return bool(body["index"]["complete"] and body["matches"]
                    and body["matches"][0]["case_id"] == "vaccine"
                    and body["matches"][0]["title"] == "Windmills spread a sleeping sickness")

    workers.until_each("POST", "/api/match", matched, MATCHED_WITHIN_S,
                       json={"text": "Windmills spread a sleeping sickness."})


def test_a_sign_in_on_one_worker_is_a_session_on_every_worker(workers: Workers) -> None:
    form_pid, form = workers.request("GET", "/login")
    csrf = form.cookies["disinfodb_csrf"]
    # The form came from one worker; the sign-in (double-submit CSRF) is sent until another answers it.
    for _ in range(20):
        pid, signed_in = workers.request("POST", "/login", cookies={"disinfodb_csrf": csrf},
                                         data={"name": "ed", "password": PASSWORD, "csrf": csrf, "next": "/"})
        assert signed_in.status_code == 303, signed_in.text
        if pid != form_pid:
            break
    assert pid != form_pid, "every sign-in went to the worker that gave the form"
    cookies = {"disinfodb_csrf": csrf, **dict(signed_in.cookies)}
    workers.until_each("GET", "/cases/new", lambda r: r.status_code == 200 and "New case" in r.text, 10.0,
                       cookies=cookies)
    _, saved = workers.request("POST", "/cases/new", cookies=cookies,
                                 data={"csrf": csrf, "title": "Bridges are painted with mind-control paint"})
    assert saved.status_code == 303, saved.text
    assert workers.request("GET", "/api/cases?q=bridges")[1].json()["total"] == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _admitted(limiters: Sequence[RateLimiter], requests: int) -> tuple[int, RateLimited | None]:
    """Requests of one client taking turns between the limiters: how many were let through,
    and the first refusal."""
    admitted, refused = 0, None
    for number in range(requests):
        try:
            limiters[number % len(limiters)].check("ip:203.0.113.9")
            admitted += 1
        except RateLimited as error:
            refused = refused or error
    return admitted, refused


def test_two_workers_limiters_share_one_budget_through_the_database(store: Store) -> None:
    clock = _Clock()
    other = store.reopen()
    try:
        # Two processes' limiters of 60 matches a minute, each with its own connection.
        shared = [SharedRateLimiter("match", 60, connection, WORKERS, clock=clock) for connection in (store, other)]
        admitted, refused = _admitted(shared, 200)
        # One budget, give or take what the leases hold (60 / 8 each): not 2 x 60.
        alone, alone_refused = _admitted([RateLimiter("match", 60, clock=clock)], 200)
        assert alone == 60 and abs(admitted - alone) <= WORKERS * shared[0].lease
        assert refused is not None and alone_refused is not None
        assert str(refused) == str(alone_refused) == ("too many match requests: at most 60 a minute per client;"
                                                      " retry in 1 s")
        assert refused.retry_after == alone_refused.retry_after == 1
        # Both refuse until the shared bucket refills: 30 s later, half a budget for the pair.
        clock.now += 30
        assert abs(_admitted(shared, 200)[0] - 30) <= WORKERS * shared[0].lease
        # Anonymous search time: admitted while there is budget, charged after, debts kept.
        budget = [SharedRateLimiter("anonymous search time", 3.0, connection, WORKERS, clock=clock, unit="seconds")
                  for connection in (store, other)]
        spent = 0.0
        with pytest.raises(RateLimited, match="too much anonymous search time: at most 3 seconds a minute"):
            for number in range(100):
                budget[number % 2].admit("ip:198.51.100.7")
                budget[number % 2].charge("ip:198.51.100.7", 0.1)
                spent += 0.1
        assert 3.0 - WORKERS * budget[0].lease <= spent <= 3.0 + WORKERS * (budget[0].lease + 0.1)
    finally:
        other.close()
