"""Several writers at once never lose an update; a server killed mid-write leaves a
consistent database. Real processes, a real SQLite file, a real uvicorn server."""

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

from disinfodb.accounts import Accounts
from disinfodb.cases import Case
from disinfodb.errors import VersionConflict
from disinfodb.store import SQLiteStore

WRITERS = 4
INCREMENTS = 15


def _bump(path: str, writer: int) -> int:
    """Add this writer's marks to one shared case, read-modify-write with the version as a
    lock; a refused (stale) edit is re-read and retried. Returns the retries it needed."""
    store = SQLiteStore(path)
    retries = 0
    try:
        for number in range(INCREMENTS):
            while True:
                case = store.get("shared-case")
                edited = case.model_copy(update={"keywords": [*case.keywords, f"w{writer}-{number}"]})
                try:
                    store.replace("shared-case", edited, actor=f"writer-{writer}", expected_version=case.version)
                    break
                except VersionConflict:
                    retries += 1
    finally:
        store.close()
    return retries


def test_concurrent_writers_lose_no_update(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    store = SQLiteStore(path)
    store.create(Case(id="shared-case", title="A case everyone edits"))
    store.close()
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
        retries = pool.starmap(_bump, [(path, w) for w in range(WRITERS)])
    store = SQLiteStore(path)
    case = store.get("shared-case")
    expected = {f"w{w}-{n}" for w in range(WRITERS) for n in range(INCREMENTS)}
    assert set(case.keywords) == expected and case.version == 1 + WRITERS * INCREMENTS
    assert len(store.history("shared-case")) == 1 + WRITERS * INCREMENTS
    assert sum(retries) > 0, "the writers never collided: the test proved nothing"
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
def test_kill_9_during_an_import_leaves_all_or_nothing(tmp_path: Path, seed_path: Path) -> None:
    db = str(tmp_path / "served.sqlite")
    store = SQLiteStore(db)
    Accounts(store).add_user("ed", "editor")
    token = Accounts(store).create_token("ed")
    store.close()
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

    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    cases = connection.execute("SELECT count(*) FROM cases").fetchone()[0]
    audit = connection.execute("SELECT count(*) FROM audit").fetchone()[0]
    connection.close()
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
