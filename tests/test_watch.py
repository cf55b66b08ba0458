"""`disinfodb watch`: a folder watched twice (the second pass adds nothing), a near copy
not matched or queued, a feed at a URL (a local server), kill -9 in the middle of a
Telegram export and the resume, and the webhook (delivered after a failure, retried a
bounded number of times, never holding up the watch). Real models (use-m), real SQLite
files, real processes and HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import REPO, raw
from typer.testing import CliRunner
from web_support import COUP_EN, KAZAKH_COUP

from disinfodb.cli import app
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.store import SQLStore, open_store
from disinfodb.store.triage import QueuedHit, SeenDocument
from disinfodb.watch import Webhook
from disinfodb.watch.fingerprint import NEAR_BITS, simhash, text_hash

runner = CliRunner(env={"COLUMNS": "200", "DISINFODB_DB": None})
MODEL = "use-m"
REPEATS = (f"{KAZAKH_COUP}. The weather in Almaty stayed cold all week and the markets were calm. Officials in"
           " Astana said that the talks would go on, and that the border crossings to the south stayed open for"
           " trade and for the many families who travel between the two countries every summer.")
UNRELATED = "Preheat the oven to 180 degrees. Mix the flour, the sugar and three eggs, then bake for forty minutes."


@pytest.fixture
def db(tmp_path: Path, seed_path: Path) -> Path:
    """The four seed cases in a SQLite file."""
    path = tmp_path / "watch.sqlite"
    store = open_store(str(path))
    assert import_records(store, read_file(str(seed_path))).created == 4
    store.close()
    return path


def watch(db: Path, *args: str) -> str:
    result = runner.invoke(app, ["watch", *args, "--once", "--model", MODEL, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    store = open_store(str(db))
    try:
        return store.fetch_all(sql)
    finally:
        store.close()


def test_fingerprints_see_copies_and_tell_texts_apart() -> None:
    assert text_hash("NATO is  planning a coup!") == text_hash("nato is planning a coup")
    footer = f"{REPEATS} Read more at example.com."
    assert bin((simhash(REPEATS) ^ simhash(footer)) & (2**64 - 1)).count("1") <= NEAR_BITS
    assert bin((simhash(REPEATS) ^ simhash(UNRELATED)) & (2**64 - 1)).count("1") > NEAR_BITS


def test_a_folder_watched_twice_is_matched_once_and_a_near_copy_not_at_all(db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "collected"
    folder.mkdir()
    (folder / "a.txt").write_text(REPEATS, encoding="utf-8")
    (folder / "b.txt").write_text(UNRELATED, encoding="utf-8")
    (folder / "c.txt").write_text(f"BREAKING: {REPEATS} Read more at example.com.", encoding="utf-8")
    first = watch(db, str(folder), "--min-label", "related")
    assert "Read 3 documents: 0 known, 1 copies of others, 2 matched, 1 with hits" in first
    documents = rows(db, "SELECT doc_id, duplicate_of, seen_at FROM watched_documents ORDER BY doc_id")
    assert [(d, dup is not None) for d, dup, _ in documents] == [("a.txt", False), ("b.txt", False),
                                                                 ("c.txt", True)]
    queued = rows(db, "SELECT d.doc_id, c.title, t.label FROM triage t JOIN watched_documents d ON d.pk = t.document_pk"
                      " JOIN cases c ON c.pk = t.case_pk")
    assert [(doc, title) for doc, title, _ in queued] == [("a.txt", KAZAKH_COUP)]

    again = watch(db, str(folder))
    assert "Read 0 documents" in again and "3 unchanged files not opened" in again
    (folder / "b.txt").write_text(UNRELATED + " Serve warm.", encoding="utf-8")  # changed: read again
    third = watch(db, str(folder))
    assert "Read 1 documents: 1 known" in third
    assert rows(db, "SELECT doc_id, duplicate_of, seen_at FROM watched_documents ORDER BY doc_id") == documents
    assert len(rows(db, "SELECT id FROM triage")) == 1


class _Recorder(BaseHTTPRequestHandler):
    """Serves `body` on GET; on POST records the JSON and answers the next of `statuses`."""

    body: ClassVar[bytes] = b""
    statuses: ClassVar[list[int]] = []
    received: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        self.wfile.write(self.body)

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.received.append(payload)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


@contextmanager
def http_server(body: bytes = b"", statuses: tuple[int, ...] = ()) -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"body": body, "statuses": list(statuses), "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _rss(items: list[tuple[str, str]]) -> bytes:
    entries = "".join(f"<item><title>Item {n}</title><link>{link}</link><description>{text}</description>"
                      f"<pubDate>Mon, 03 Jan 2022 10:00:00 GMT</pubDate></item>"
                      for n, (link, text) in enumerate(items))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{entries}</channel></rss>'.encode()


def test_a_feed_url_and_its_webhook(db: Path) -> None:
    """Items are known by their link: new items on top of the feed are the only ones matched.
    The webhook's first answer is a 500: the hit is delivered on the retry."""
    first = [("https://news.example/1", UNRELATED)]
    with http_server(_rss(first)) as (feed, handler), http_server(statuses=(500,)) as (hook, received):
        assert "1 matched" in watch(db, feed, "--webhook", hook)
        handler.body = _rss([("https://news.example/2", f"{COUP_EN} {REPEATS}"), *first])
        output = watch(db, feed, "--webhook", hook)
        assert "Read 2 documents: 1 known" in output and "1 with hits" in output
        assert [hit["document"]["id"] for hit in received.received] == ["https://news.example/2"]
        hit = received.received[0]
        assert hit["case"]["title"] == KAZAKH_COUP and hit["status"] == "open"
        assert hit["document"]["published"] == "2022-01-03T10:00:00Z" and hit["evidence"]


def test_the_webhook_gives_up_after_its_attempts_without_holding_up_anyone() -> None:
    with http_server(statuses=(500, 500, 500, 500)) as (hook, received):
        webhook = Webhook(hook, attempts=3, first_pause_s=0.05)
        started = time.monotonic()
        webhook.notify({"id": 1})
        assert time.monotonic() - started < 0.05  # queued, not sent, by notify
        webhook.close()
        assert (webhook.delivered, webhook.failed, received.received, received.statuses) == (0, 1, [], [500])


def _export(messages: int) -> dict[str, Any]:
    """A channel of varied messages (words drawn at random: no two are near copies), every
    50th repeating a case."""
    pick = random.Random(7)
    vocabulary = [*UNRELATED.replace(".", "").replace(",", "").split(), "council", "budget", "road", "river"]
    texts = [REPEATS if n % 50 == 7 else " ".join(pick.choice(vocabulary) for _ in range(25)) for n in range(messages)]
    return {"name": "Channel", "type": "public_channel", "id": 42, "username": "channel",
            "messages": [{"id": n + 1, "type": "message", "date": "2022-01-06T10:00:00", "text": text}
                         for n, text in enumerate(texts)]}


def test_kill_9_in_the_middle_loses_nothing_and_reads_nothing_twice(db: Path, tmp_path: Path) -> None:
    export = tmp_path / "export" / "result.json"
    export.parent.mkdir()
    export.write_text(json.dumps(_export(400)), encoding="utf-8")
    command = [sys.executable, "-m", "disinfodb", "watch", str(export.parent), "--once", "--model", MODEL,
               "--db", str(db)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = open_store(str(db))
    try:
        deadline = time.monotonic() + 60
        while int(store.fetch_all("SELECT count(*) FROM watched_documents")[0][0]) < 20:
            assert process.poll() is None and time.monotonic() < deadline, "the watch ended before it was killed"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = dict(raw(store).execute("SELECT doc_id, seen_at FROM watched_documents").fetchall())
        queued_before = store.fetch_all("SELECT document_pk, case_pk FROM triage")
    finally:
        store.close()
    assert 20 <= len(before) < 400, "the watch ended before it was killed: give it more messages"
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=120)
    assert f"Read 400 documents: {len(before)} known" in resumed.stderr
    after = dict(rows(db, "SELECT doc_id, seen_at FROM watched_documents"))
    assert len(after) == 400 and {k: after[k] for k in before} == before  # none recorded twice, none lost
    queued = rows(db, "SELECT document_pk, case_pk FROM triage")
    assert set(queued_before) <= set(queued) and len(queued) == len(set(queued))
    # one message in 50 repeats a case: the first is queued, the 7 others are its copies
    assert len(rows(db, "SELECT 1 FROM triage")) == 1
    assert len(rows(db, "SELECT 1 FROM watched_documents WHERE duplicate_of IS NOT NULL")) == 7
    assert rows(db, "SELECT doc_id FROM watched_documents d JOIN triage t ON t.document_pk = d.pk") == [
        ("https://t.me/channel/8",)]


def test_both_engines_record_a_document_and_its_hits_once(store: SQLStore, seed_path: Path) -> None:
    """One document and its hits in one transaction, never twice (SQLite and PostgreSQL)."""
    assert import_records(store, read_file(str(seed_path))).created == 4
    case_id = next(c.id for c in store.iter_cases() if c.title == KAZAKH_COUP)
    seen = SeenDocument("src", "doc-1", text_hash(REPEATS), simhash(REPEATS), text=REPEATS)
    hit = QueuedHit(case_id, 0.9, "match", [{"input_sentence": "a", "case_sentence": "b", "score": 0.9, "at": None}])
    pk, queued = store.triage.record(seen, [hit, hit])
    assert pk is not None and len(queued) == 1
    assert store.triage.record(seen, [hit]) == (None, [])
    assert store.triage.fingerprints() == [(pk, simhash(REPEATS))]
    assert store.triage.with_text_hash(text_hash(REPEATS.upper())) == pk
