"""Several writers at once never lose an update; a server killed mid-write leaves a
consistent database; a PostgreSQL server restarted under load loses no acknowledged
write. Real processes, a real SQLite file and PostgreSQL server, a real uvicorn server."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import raw
from pg_cluster import PostgresCluster

from disinfodb.accounts import Accounts
from disinfodb.cases import Case
from disinfodb.errors import VersionConflict
from disinfodb.store import SQLStore, open_store

WRITERS = 4
INCREMENTS = 15


def _bump(location: str, writer: int, start: threading.Barrier) -> int:
    """Add this writer's marks to one shared case, read-modify-write with the version as a
    lock; a refused (stale) edit is re-read and retried. Returns the retries it needed.

    The writers start together (a process takes a second to start: without the barrier
    the first could finish before the last begins), and each thinks for a millisecond
    between reading and writing, as an editor does for much longer."""
    store = open_store(location)
    retries = 0
    try:
        start.wait(timeout=60)
        for number in range(INCREMENTS):
            while True:
                case = store.get("shared-case")
                time.sleep(0.001)
                edited = case.model_copy(update={"keywords": [*case.keywords, f"w{writer}-{number}"]})
                try:
                    store.replace("shared-case", edited, actor=f"writer-{writer}", expected_version=case.version)
                    break
                except VersionConflict:
                    retries += 1
    finally:
        store.close()
    return retries


def test_concurrent_writers_lose_no_update(store_location: str) -> None:
    store = open_store(store_location)
    store.create(Case(id="shared-case", title="A case everyone edits"))
    store.close()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(WRITERS) as pool:
        start = manager.Barrier(WRITERS)
        retries = pool.starmap(_bump, [(store_location, w, start) for w in range(WRITERS)])
    store = open_store(store_location)
    case = store.get("shared-case")
    expected = {f"w{w}-{n}" for w in range(WRITERS) for n in range(INCREMENTS)}
    assert set(case.keywords) == expected and case.version == 1 + WRITERS * INCREMENTS
    assert len(store.history("shared-case")) == 1 + WRITERS * INCREMENTS
    assert sum(retries) > 0, "the writers never collided: the test proved nothing"
    store.close()


def _editor_token(location: str) -> str:
    store = open_store(location)
    try:
        Accounts(store).add_user("ed", "editor")
        return Accounts(store).create_token("ed")
    finally:
        store.close()


def _counts(location: str) -> tuple[int, int]:
    """(cases, audit entries), after an integrity check of a SQLite file."""
    store = open_store(location)
    try:
        if isinstance(raw(store), sqlite3.Connection):
            assert raw(store).execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return store.count(), store.audit_count()
    finally:
        store.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(db: str, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "disinfodb", "serve", "--db", db, "--port", str(port), "--model", "use-m",
         "--import-per-minute", "0", "--max-upload-mb", "200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/stats", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError("the server did not start")


@pytest.mark.skipif(os.name != "posix", reason="kill -9 needs POSIX signals")
def test_kill_9_during_an_import_leaves_all_or_nothing(store_location: str, tmp_path: Path,
                                                        seed_path: Path) -> None:
    db = store_location
    token = _editor_token(db)
    big = tmp_path / "big.jsonl"
    with open(big, "w", encoding="utf-8") as out:
        for number in range(30_000):
            out.write(json.dumps({"title": f"Claim {number} of a big import", "summary": "text " * 40,
                                  "keywords": [f"k{number % 50}"], "countries": ["Ukraine"]}) + "\n")
    port = _free_port()
    server = _serve(db, port)
    failures: list[BaseException] = []

    def upload() -> None:
        try:
            with open(big, "rb") as body:
                httpx.post(f"http://127.0.0.1:{port}/api/import", files={"file": ("big.jsonl", body)},
                           headers={"Authorization": f"Bearer {token}"}, timeout=120)
        except httpx.HTTPError as error:  # the connection dies with the server: expected
            failures.append(error)

    sender = threading.Thread(target=upload)
    sender.start()
    time.sleep(3.0)  # uploaded and part-way through the import transaction
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    sender.join(timeout=30)
    assert failures, "the import finished before the kill: make the file bigger"

    cases, audit = _counts(db)
    assert cases in (0, 30_000) and audit == cases  # no partial batch; every case has its audit row

    restarted = _serve(db, port)
    try:
        with open(seed_path, "rb") as body:
            response = httpx.post(f"http://127.0.0.1:{port}/api/import", files={"file": ("seed.txt", body)},
                                  headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert response.status_code == 200 and response.json()["created"] == 4
        assert httpx.get(f"http://127.0.0.1:{port}/api/stats").json()["cases"] == cases + 4
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)


class _Editor(threading.Thread):
    """An API client editing its own case in a loop: each edit writes a new mark as the
    summary (a keyword per edit would meet the 100-keyword limit on a fast machine), sent
    with the version it read. It records the marks the server acknowledged (200) and every
    status."""

    def __init__(self, port: int, token: str, case_id: str, stop: threading.Event) -> None:
        super().__init__()
        self.url = f"http://127.0.0.1:{port}/api/cases/{case_id}"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.stop = stop
        self.acknowledged: list[str] = []
        self.statuses: list[tuple[float, int | str]] = []

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            number = 0
            while not self.stop.is_set():
                number += 1
                try:
                    case = http.get(self.url)
                    if case.status_code != 200:
                        self.statuses.append((time.monotonic(), case.status_code))
                        time.sleep(0.05)
                        continue
                    doc = case.json()
                    mark = f"{self.name}-{number}"
                    doc["summary"] = mark
                    response = http.put(self.url, json=doc, headers=self.headers)
                except httpx.HTTPError as error:
                    self.statuses.append((time.monotonic(), type(error).__name__))
                    time.sleep(0.05)
                    continue
                self.statuses.append((time.monotonic(), response.status_code))
                if response.status_code == 200:
                    self.acknowledged.append(mark)


def _check_acknowledged(location: str, editors: list[_Editor]) -> None:
    """Every acknowledged mark is stored; each stored edit is one version and one audit row."""
    store: SQLStore = open_store(location)
    try:
        for editor in editors:
            case = store.get(editor.url.rsplit("/", 1)[1])
            marks = stored_marks(store, case.id)
            assert set(editor.acknowledged) <= set(marks), "an acknowledged edit was lost"
            assert case.version == 1 + len(marks) == len(store.history(case.id))  # one version, one row each
    finally:
        store.close()


def stored_marks(store: SQLStore, case_id: str) -> list[str]:
    """The marks of every stored edit of a case, oldest first: each version's summary (the
    audit trail keeps the versions before the current one)."""
    versions = [entry.previous for entry in store.history(case_id) if entry.previous is not None]
    return [version.summary for version in [*versions, store.get(case_id)] if version.summary]


def _start_editors(db: str, count: int) -> tuple[subprocess.Popen[bytes], int, list[_Editor], threading.Event]:
    token = _editor_token(db)
    store = open_store(db)
    for number in range(count):
        store.create(Case(id=f"edited-{number}", title=f"A case edited under load, number {number}"))
    store.close()
    port = _free_port()
    server = _serve(db, port)
    stop = threading.Event()
    editors = [_Editor(port, token, f"edited-{number}", stop) for number in range(count)]
    for editor in editors:
        editor.start()
    return server, port, editors, stop


@pytest.mark.skipif(os.name != "posix", reason="kill -9 needs POSIX signals")
def test_kill_9_during_edits_loses_no_acknowledged_edit(store_location: str) -> None:
    server, port, editors, stop = _start_editors(store_location, 4)
    time.sleep(3.0)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    stop.set()
    for editor in editors:
        editor.join(timeout=30)
    assert all(len(editor.acknowledged) >= 3 for editor in editors), "too few edits before the kill"
    _check_acknowledged(store_location, editors)
    restarted = _serve(store_location, port)
    try:
        case = httpx.get(f"http://127.0.0.1:{port}/api/cases/edited-0").json()
        reopened = open_store(store_location)
        try:
            assert case["summary"] == reopened.get("edited-0").summary == stored_marks(reopened, "edited-0")[-1]
        finally:
            reopened.close()
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)


def test_postgres_restarted_under_load(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    """The server keeps running while PostgreSQL restarts (immediate mode: a crash and
    recovery): requests fail with 503 during the outage, then succeed again on new
    connections, and no edit that was acknowledged is lost."""
    server, _port, editors, stop = _start_editors(postgres_url, 4)
    try:
        time.sleep(2.0)
        postgres_cluster.restart("immediate")
        restarted_at = time.monotonic()
        time.sleep(3.0)
        stop.set()
        for editor in editors:
            editor.join(timeout=30)
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=10)
    statuses = [status for editor in editors for _, status in editor.statuses]
    assert set(statuses) <= {200, 503}, f"unexpected answers: {sorted(set(map(str, statuses)))}"
    assert 503 in statuses, "no request met the outage: the test proved nothing"
    for editor in editors:
        assert any(at > restarted_at and status == 200 for at, status in editor.statuses), \
            f"{editor.name} never succeeded after the restart"
    _check_acknowledged(postgres_url, editors)
