"""Matching in worker processes (server.match_pool): the same answers as the server's own
matcher, searches not held behind matches, a bounded queue, a dead worker replaced, and
`serve` stopping its workers.

Real parts throughout: a SQLite file with the seed cases and their vectors cached, the
default models, spawned worker processes, uvicorn on loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import seed_case
from fastapi.testclient import TestClient
from pg_cluster import free_port
from web_support import COUP_EN, KAZAKH_COUP, MODEL, served

from disinfodb.cases import Case
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import open_matcher
from disinfodb.server.app import create_app
from disinfodb.server.matchers import Claims, Matchers
from disinfodb.server.service import Settings
from disinfodb.store import SQLiteStore, SQLStore

POOL = Settings(match_workers=1, match_per_minute=0)


@pytest.fixture
def seeded(tmp_path: Path, seed_path: Path) -> Iterator[SQLiteStore]:
    """The seed cases with the default models' vectors cached: a worker's index builds in
    a moment."""
    store = SQLiteStore(tmp_path / "cases.sqlite")
    import_records(store, read_file(str(seed_path)))
    open_matcher(store, MODEL)
    yield store
    store.close()


def long_text(sentences: int) -> str:
    """A text that takes a worker a while to match: many distinct sentences, each close to a case."""
    return " ".join(f"Report {n}: {COUP_EN} It said {n} times that Russia was the target." for n in range(sentences))


def workers_of(parent: int) -> set[int]:
    """The match worker processes of a process (spawned children running spawn_main)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def test_workers_answer_as_the_server_itself_does(seeded: SQLiteStore) -> None:
    """The same JSON, `index` included, for plain texts, filters and labels, and the same
    problem (a 422 raised in the worker) for a text with no words; the check page answers
    from the worker too."""
    requests = [{"text": COUP_EN}, {"text": COUP_EN, "limit": 2, "min_label": "related"},
                {"text": COUP_EN, "countries": ["Kazakhstan"]}, {"text": long_text(30), "limit": 10},
                {"text": "1234 !!! 5678"}]
    answers = {}
    for workers in (0, 1):
        app = create_app(seeded, MODEL, Settings(match_workers=workers))
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                answers[workers] = [client.post("/api/match", json=body).json() for body in requests]
                assert "still being built" not in client.get("/check").text
        finally:
            app.state.service.close()
    assert answers[1] == answers[0]
    assert answers[1][0]["matches"][0]["title"] == KAZAKH_COUP
    assert answers[1][0]["index"] == {"complete": True, "cases": 4, "total": 4, "embedding": None}
    assert answers[1][-1]["status"] == 422


def test_searches_are_not_held_behind_matches(seeded: SQLiteStore) -> None:
    """With the worker stopped (SIGSTOP) in the middle of a match and more matches queued
    behind it, searches are answered, each in well under a second; once the worker goes on,
    every match is answered. A match in the server's own process would stop the server."""
    with served(seeded, POOL) as base, httpx.Client(base_url=base, timeout=60) as http:
        assert http.post("/api/match", json={"text": COUP_EN}).status_code == 200  # the worker is up
        [worker] = workers_of(os.getpid())
        answers: list[httpx.Response] = []

        def match() -> None:
            with httpx.Client(base_url=base, timeout=60) as own:
                answers.append(own.post("/api/match", json={"text": long_text(300)}))

        matches = [threading.Thread(target=match) for _ in range(4)]
        for thread in matches:
            thread.start()
        time.sleep(0.3)
        os.kill(worker, signal.SIGSTOP)
        try:
            times = []
            for n in range(20):
                started = time.perf_counter()
                found = http.get("/api/cases", params={"q": ["Kazakhstan", "Russia", "coup"][n % 3]})
                times.append(time.perf_counter() - started)
                assert found.status_code == 200 and found.json()["total"] > 0
            held = len(answers)
        finally:
            os.kill(worker, signal.SIGCONT)
        for thread in matches:
            thread.join(60)
    assert held < 4, "every match was answered before the worker stopped: nothing was held"
    assert max(times) < 1.0, times
    assert sorted(a.status_code for a in answers) == [200] * 4


def test_a_full_match_queue_is_a_503_with_retry_after(seeded: SQLiteStore) -> None:
    """One place in the queue, six matches at once: the one in the worker is answered, the
    others at once with a problem document and Retry-After; then the queue takes matches again."""
    with served(seeded, Settings(match_workers=1, match_queue=1, match_per_minute=0)) as base:
        text = long_text(150)
        start = threading.Barrier(6)
        answers: list[httpx.Response] = []

        def post() -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                start.wait()
                answers.append(http.post("/api/match", json={"text": text}))

        threads = [threading.Thread(target=post) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(a.status_code for a in answers)
        assert 200 in statuses and 503 in statuses and set(statuses) == {200, 503}, statuses
        for refused in (a for a in answers if a.status_code == 503):
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["status"] == 503 and "match queue" in refused.json()["detail"]
        assert httpx.post(f"{base}/api/match", json={"text": COUP_EN}, timeout=60).status_code == 200


def test_a_killed_worker_is_replaced(seeded: SQLiteStore) -> None:
    """The match in a worker that dies is answered with a 503 (never a hang); the next
    match is answered by a new worker, as before."""
    with served(seeded, POOL) as base, httpx.Client(base_url=base, timeout=60) as http:
        first = http.post("/api/match", json={"text": COUP_EN}).json()
        [worker] = workers_of(os.getpid())
        answers: list[httpx.Response] = []
        os.kill(worker, signal.SIGSTOP)  # the match is surely in the worker when it dies, however fast
        held = threading.Thread(target=lambda: answers.append(http.post("/api/match",
                                                                        json={"text": long_text(600)})))
        held.start()
        time.sleep(0.5)
        assert held.is_alive()  # waiting on the stopped worker
        os.kill(worker, signal.SIGKILL)
        held.join(60)
        assert not held.is_alive()
        [killed] = answers
        assert killed.status_code == 503 and killed.headers["retry-after"] == "5", killed.text
        assert "restarted" in killed.json()["detail"]
        again = http.post("/api/match", json={"text": COUP_EN})
        assert again.status_code == 200 and again.json() == first
        assert workers_of(os.getpid()) - {worker}


def test_serve_stops_its_workers_on_sigterm(seeded: SQLiteStore) -> None:
    """`disinfodb serve` exits through its clean-up on SIGTERM (exit status 143, not killed
    by the signal), and its match worker with it."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "disinfodb", "serve", "--db", seeded.path, "--port", str(port),
                               "--model", MODEL], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.post(f"http://127.0.0.1:{port}/api/match", json={"text": COUP_EN}).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not answer"
            time.sleep(0.2)
        workers = workers_of(server.pid)
        assert len(workers) == 1
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 128 + signal.SIGTERM
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_write_that_leaves_the_claims_is_indexed_without_a_rebuild(seeded: SQLiteStore) -> None:
    """After an edit of a case's reporter the matcher built is current at once (the same
    one, complete); after an edit of its title it is rebuilt and finds the new title."""
    matchers = Matchers(seeded, MODEL, index_wait_seconds=60)
    try:
        built = matchers.matcher()
        case = seed_case(seeded, "A coup in Kazakhstan")
        seeded.replace(case.id, case.model_copy(update={"reported_by": "someone else"}), actor="test")
        assert matchers.matcher() is built
        assert matchers.index_status(built).complete
        seeded.replace(case.id, case.model_copy(update={"title": "A putsch in Astana, staged by the West"}),
                       actor="test")
        rebuilt = matchers.matcher()
        assert rebuilt is not built and matchers.index_status(rebuilt).complete
        [found] = rebuilt.match("a putsch in Astana", limit=1)
        assert found.title == "A putsch in Astana, staged by the West"
    finally:
        matchers.close()


def test_claims_caught_up_from_the_trail_are_the_claims(store: SQLStore) -> None:
    """What a server reads to know whether its matching index is current: after each kind
    of write the claims caught up from the audit trail equal the claims read whole, and a
    write that changes no claim leaves them as they were."""
    first = store.create(Case(title="The West staged the coup", summary="It did.", keywords=["Coup"]))
    claims = Claims.read(store)
    store.replace(first.id, first.model_copy(update={"keywords": ["Kazakhstan"], "reported_by": "someone"}))
    unchanged = claims.now(store)
    assert unchanged.texts == claims.texts and unchanged.mark != claims.mark
    for step in ("create", "edit a summary", "delete"):
        if step == "create":
            store.create(Case(title="NATO prepares a war", summary="Says who."))
        elif step == "edit a summary":
            store.replace(first.id, store.get(first.id).model_copy(update={"summary": "Now longer."}))
        else:
            store.delete(first.id)
        caught_up = claims.now(store)
        assert caught_up.texts == Claims.read(store).texts != claims.texts
        claims = caught_up
