"""The hostile-traffic probe, repeatable: what each attack costs a server, measured over HTTP.

Run: .venv/bin/python -m bench.hostile [--checkout PATH] [--imported 30000]

`--checkout` serves another tree of disinfodb (e.g. a `git worktree` of an older commit)
with this venv's packages, so the figures before and after a change come from the same
machine in the same session; by default this tree is served. Everything goes through
`disinfodb serve` on loopback over a copy of the 13,665 real cases (bench/.cache/real.sqlite,
narratives built with use-m), except what has to be planted as an older release would have
stored it (two cases dated 0001-01-01 and 9999-12-31). Measured:

- the narratives page and the weekly trends page with those two cases: seconds and size;
- `GET /api/me` with a token while `POST /api/import` writes --imported synthetic cases:
  the slowest answer during the import;
- three concurrent 59 MB `POST /api/match` bodies: the server's peak RSS growth;
- the probe query (`t* OR t* ...`, 64 terms): its answer and time, and the p50 of a
  plain search while one client loops it;
- a case with 300,000 keywords: accepted or refused, and the p50 of a plain search after
  it is deleted, against the same search before;
- a CSV export of a title that starts with `=`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.measure import rss_mb
from bench.web_pages import CACHE, real_database

ROOT = Path(__file__).resolve().parents[1]
PROBE_QUERY = " OR ".join(["t*"] * 64)
PLAIN_QUERY = {"q": "nato military"}
TWO_DATES = ("0001-01-01", "9999-12-31")
MB = 1 << 20


def run(checkout: Path, *args: str, stdin: str | None = None) -> str:
    """A disinfodb command of the checkout, with this venv's packages."""
    return subprocess.run([sys.executable, "-m", "disinfodb", *args], cwd=checkout, env=_env(checkout), input=stdin,
                          text=True, capture_output=True, check=True).stdout


def _env(checkout: Path) -> dict[str, str]:
    """The environment that imports disinfodb from the checkout (with `cwd=checkout`: `-m`
    puts the working folder first on the path, before the venv's editable install)."""
    return {**os.environ, "PYTHONPATH": str(checkout)}


def plant(checkout: Path, db: str) -> None:
    """Two cases with implausible dates, stored as an older release would have stored them."""
    code = (
        "import sys; from disinfodb.cases import Case; from disinfodb.store import open_store\n"
        "store = open_store(sys.argv[1])\n"
        "for n, day in enumerate(sys.argv[2:]):\n"
        "    store.upsert(Case.model_validate({'id': f'odd-date-{n}', 'title': f'Odd date {day}',"
        " 'published': day}, context={'stored': True}))\n"
        "store.close()\n")
    subprocess.run([sys.executable, "-c", code, db, *TWO_DATES], cwd=checkout, env=_env(checkout), check=True)


def serve(checkout: Path, db: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "disinfodb", "serve", "--db", db, "--port", str(port),
                               "--model", "use-m", "--import-per-minute", "0", "--match-per-minute", "0"],
                              cwd=checkout, env=_env(checkout), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{base}/api/stats", timeout=5)
            return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def timed_get(http: httpx.Client, path: str, **params: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    response = http.get(path, params=params, timeout=300)
    return time.perf_counter() - started, len(response.content), response.status_code


def search_p50(http: httpx.Client, rounds: int = 40) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        http.get("/api/cases", params=PLAIN_QUERY)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def synthetic_jsonl(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            out.write(json.dumps({"id": f"bulk-{n}", "title": f"Bulk case number {n} about NATO and the EU",
                                  "summary": "A synthetic claim for the import benchmark.",
                                  "published": "2020-01-01", "keywords": ["bulk"]}) + "\n")


def me_during_import(base: str, token: str, folder: Path, count: int) -> tuple[float, float, int, str]:
    """(import seconds, slowest GET /api/me during it in ms, answers seen, the import's outcome)."""
    bulk = folder / "bulk.jsonl"
    synthetic_jsonl(bulk, count)
    auth = {"Authorization": f"Bearer {token}"}
    done = threading.Event()
    took: list[float] = []
    outcome: list[str] = []

    def upload() -> None:
        started = time.perf_counter()
        with open(bulk, "rb") as stream:
            answer = httpx.post(f"{base}/api/import", files={"file": ("bulk.jsonl", stream)}, headers=auth,
                                timeout=3600)
        took.append(time.perf_counter() - started)
        outcome.append(f"{answer.status_code}, {answer.json().get('created', 0):,} created")
        done.set()

    uploader = threading.Thread(target=upload)
    uploader.start()
    time.sleep(1.0)  # the upload is read; the import runs
    slowest, answers = 0.0, 0
    with httpx.Client(base_url=base, headers=auth, timeout=3600) as http:
        while not done.is_set():
            started = time.perf_counter()
            http.get("/api/me")
            slowest = max(slowest, time.perf_counter() - started)
            answers += 1
            time.sleep(0.05)
    uploader.join()
    return took[0], slowest * 1000, answers, outcome[0]


def big_matches(base: str, pid: int) -> tuple[float, list[int]]:
    """Peak RSS growth (MB) of three concurrent 59 MB match bodies, and their statuses."""
    body = b'{"text": "' + b"a" * (59 * MB) + b'"}'
    statuses: list[int] = []
    before = rss_mb(pid, "VmHWM")

    def post() -> None:
        try:
            statuses.append(httpx.post(f"{base}/api/match", content=body, timeout=300,
                                       headers={"Content-Type": "application/json"}).status_code)
        except httpx.HTTPError:
            statuses.append(0)

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return rss_mb(pid, "VmHWM") - before, sorted(statuses)


def looping_probe(base: str, seconds: float) -> tuple[float, dict[int, int]]:
    """p50 of a plain search (ms) while another client loops the probe query, and the probe's statuses."""
    stop = time.monotonic() + seconds
    statuses: dict[int, int] = {}

    def attack() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while time.monotonic() < stop:
                status = http.get("/api/cases", params={"q": PROBE_QUERY}).status_code
                statuses[status] = statuses.get(status, 0) + 1

    attacker = threading.Thread(target=attack)
    attacker.start()
    time.sleep(1.0)
    with httpx.Client(base_url=base, headers={"X-Forwarded-For": "10.9.9.9"}, timeout=60) as http:
        times = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            http.get("/api/cases", params=PLAIN_QUERY)
            times.append(time.perf_counter() - started)
    attacker.join()
    return statistics.median(times) * 1000, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the disinfodb tree to serve")
    parser.add_argument("--imported", type=int, default=30_000, help="cases the concurrent import writes")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    real_database().close()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = str(folder / "hostile.sqlite")
        shutil.copy(CACHE / "real.sqlite", db)
        run(checkout, "narratives", "build", "--db", db, "--model", "use-m")
        plant(checkout, db)
        run(checkout, "user", "add", "ed", "--role", "editor", "--db", db)
        token = run(checkout, "token", "create", "ed", "--db", db).strip()
        server, base = serve(checkout, db)
        auth = {"Authorization": f"Bearer {token}"}
        try:
            with httpx.Client(base_url=base, timeout=300) as http:
                served = subprocess.run([sys.executable, "-c", "import disinfodb; print(disinfodb.__file__)"],
                                        cwd=checkout, env=_env(checkout), capture_output=True, text=True,
                                        check=True).stdout.strip()
                print(f"serving {served} (13,665 real cases + 2 with dates {' and '.join(TWO_DATES)})")
                for path, params in (("/narratives", {}), ("/trends", {"period": "week"})):
                    timed_get(http, path, **params)  # warm: the matcher, the term index
                    seconds, size, status = timed_get(http, path, **params)
                    print(f"  GET {path}{'?period=week' if params else ''}: {status}, {seconds:.2f} s, "
                          f"{size / 1024:,.0f} KB")
                seconds, size, status = timed_get(http, "/api/cases", q=PROBE_QUERY)
                print(f"  probe query (64 x t*): {status} in {seconds * 1000:,.0f} ms")
                print(f"  plain search p50 alone: {search_p50(http):.1f} ms")
                p50, statuses = looping_probe(base, 15)
                print(f"  plain search p50 while one client loops the probe: {p50:.1f} ms (probe answers: {statuses})")
                before = search_p50(http)
                many = {"title": "Three hundred thousand keywords", "keywords": [f"kw{i}" for i in range(300_000)]}
                created = http.post("/api/cases", json=many, headers=auth)
                print(f"  a case with 300,000 keywords: {created.status_code}"
                      f" ({created.json().get('detail', '')[:80] if created.status_code >= 400 else 'accepted'})")
                if created.status_code == 201:
                    page = timed_get(http, f"/cases/{created.json()['id']}")
                    print(f"    its page: {page[0]:.2f} s, {page[1] / MB:.1f} MB")
                    http.delete(f"/api/cases/{created.json()['id']}", params={"version": 1}, headers=auth)
                print(f"  plain search p50 before it / after deleting it: {before:.1f} / {search_p50(http):.1f} ms")
                formula = http.post("/api/cases", json={"title": "=HYPERLINK(\"https://evil.example\")"},
                                    headers=auth)
                csv_text = http.get("/api/export", params={"format": "csv"}).text
                row = next(line for line in csv_text.splitlines() if "HYPERLINK" in line)
                cell = row[row.index("HYP") - 3:][:24]
                print(f"  CSV export of a title starting with '=' ({formula.status_code}): ...{cell}")
            growth, statuses_ = big_matches(base, server.pid)
            print(f"  three concurrent 59 MB match bodies: statuses {statuses_}, server peak RSS +{growth:,.0f} MB")
            seconds, slowest, answers, outcome = me_during_import(base, token, folder, args.imported)
            print(f"  GET /api/me during a {args.imported:,}-case import ({outcome}, {seconds:.1f} s):"
                  f" slowest {slowest:,.0f} ms of {answers} answers")
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
