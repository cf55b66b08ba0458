"""The API under a bounded load from another process: throughput, latency, errors and
lost writes.

Run: .venv/bin/python -m bench.load [--clients 8] [--seconds 60] [--attacker] [--real PATH] [--search-mode auto]
     [--match-workers 0 1] [--workers 1 2]
     [--db postgresql://... [--restart-after 30 --restart-command "pg_ctl ... restart"]]

Serves a copy of every real case (bench/.cache/real.sqlite or --real, copied into --db
when that is a PostgreSQL URL: its contents are replaced) with `disinfodb serve` (one
uvicorn process, model use-m, `--match-workers N`: with several values, one fresh server
and database after another, so that configurations compare in one run on one machine's
load; `--workers N`, `serve --workers N`, likewise: every pair of the two lists is run, and
each server's every worker has a complete matching index before the load starts) and runs
N client threads against it over loopback for the
given time, each picking at random: a search from the bench.import_search mix (70%), a
case (10%), a match of a case title (10%), an edit of a random case with its version
(10%: a stale version is a 409 and is retried once after re-reading). Counts every
response; an error is a 5xx or a failed connection. Afterwards every acknowledged edit
must be in the database: its marker in the case (unless a later acknowledged edit of the
same case replaced it) and one audit row per acknowledged edit.

Each client is a team member (an editor's token on every request) with an address of its
own (X-Forwarded-For, trusted from loopback through `serve --forwarded-allow-ips`), as
behind a reverse proxy. With --attacker the same mix runs twice on one server, first
alone, then with one more anonymous client (metered per address) looping the costliest
search the parser accepts (disinfodb.search.COSTLIEST_QUERY) as fast as it is answered;
both are reported, and the attacker's own answers are counted apart.

With --restart-after, a shell command (e.g. restarting the PostgreSQL server with
`pg_ctl -m immediate restart`) runs that many seconds into the load; the report then
gives the outage as the clients saw it (503s, from first to last) and the time from the
restart until every kind of request succeeded again.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

from bench.import_search import percentile, query_mix
from bench.web_pages import page_params, real_database
from disinfodb.accounts import Accounts
from disinfodb.cases import Case
from disinfodb.search import COSTLIEST_QUERY
from disinfodb.store import SQLiteStore, is_postgres_url, open_store
from disinfodb.store.transfer import copy_database

KINDS = ("search", "case", "match", "edit")
WEIGHTS = (70, 10, 10, 10)
WORKER = re.compile(r"worker;desc=(\d+)")  # serve --workers N names the process that answered


def worker_of(response: httpx.Response) -> str:
    """The pid of the server process that answered ("server" when there is only one)."""
    found = WORKER.search(response.headers.get("server-timing", ""))
    return found.group(1) if found else "server"
class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[int, int] = defaultdict(int)
        self.errors = 0
        self.failures: list[tuple[float, int | None]] = []  # (monotonic time, status) of each error
        self.successes: list[float] = []  # monotonic times of 2xx answers
        self.acked: dict[str, tuple[int, str]] = {}  # case id -> (version, marker) of its last acknowledged edit
        self.acked_edits = 0
        self.workers: dict[str, int] = defaultdict(int)  # answers per server process

    def count_worker(self, response: httpx.Response) -> None:
        """An httpx response hook: which process answered."""
        with self.lock:
            self.workers[worker_of(response)] += 1

    def add(self, kind: str, seconds: float, status: int | None) -> None:
        with self.lock:
            self.latency[kind].append(seconds * 1000)
            if status is None or status >= 500:
                self.errors += 1
                self.failures.append((time.monotonic(), status))
            elif status < 300:
                self.successes.append(time.monotonic())
            if status is not None:
                self.statuses[status] += 1


def address(number: int) -> dict[str, str]:
    """The X-Forwarded-For header of client `number`: an address of its own."""
    return {"X-Forwarded-For": f"10.0.{number // 250}.{number % 250 + 1}"}


def client(base: str, token: str, ids: list[str], titles: list[str], queries: list[httpx.QueryParams],
           until: float, tally: Tally, seed: int, phase: int = 0) -> None:
    """One client: a signed-in team member (the editor's token on every request), making
    the same requests in every phase (the seed), with edits that always change the case
    (the phase is in their marker)."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=30, headers=address(seed) | headers,
                      event_hooks={"response": [tally.count_worker]}) as http:
        while time.monotonic() < until:
            kind = rng.choices(KINDS, WEIGHTS)[0]
            started = time.perf_counter()
            status = None
            try:
                if kind == "search":
                    status = http.get("/api/cases", params=rng.choice(queries)).status_code
                elif kind == "case":
                    status = http.get(f"/api/cases/{rng.choice(ids)}").status_code
                elif kind == "match":
                    status = http.post("/api/match", json={"text": rng.choice(titles), "limit": 5}).status_code
                else:
                    status = edit(http, headers, rng.choice(ids), f"load-{phase}-{seed}-{rng.random():.12f}", tally)
            except httpx.HTTPError:
                status = None
            tally.add(kind, time.perf_counter() - started, status)


def attacker(base: str, until: float, tally: Tally) -> None:
    """One anonymous client looping the costliest accepted search, ignoring Retry-After."""
    with httpx.Client(base_url=base, timeout=30, headers=address(999)) as http:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                status: int | None = http.get("/api/cases", params={"q": COSTLIEST_QUERY}).status_code
            except httpx.HTTPError:
                status = None
            tally.add("search", time.perf_counter() - started, status)


def edit(http: httpx.Client, headers: dict[str, str], case_id: str, marker: str, tally: Tally) -> int:
    for _attempt in range(2):
        read = http.get(f"/api/cases/{case_id}")
        if read.status_code != 200:
            return read.status_code
        case = read.json()
        case["reported_by"] = marker
        response = http.put(f"/api/cases/{case_id}", json=case, headers=headers)
        if response.status_code == 200:
            version = response.json()["version"]
            with tally.lock:
                tally.acked_edits += 1
                if version > tally.acked.get(case_id, (0, ""))[0]:
                    tally.acked[case_id] = (version, marker)
        if response.status_code != 409:
            return response.status_code
    return 409


def prepare(postgres_url: str | None, real_path: Path | None) -> tuple[str, list[Case], str, int]:
    """The database to serve (a fresh copy of the real cases, beside them), its cases, an
    editor's token and the audit count before the load."""
    real = SQLiteStore(real_path) if real_path else real_database()
    source = Path(real.path)
    real_cases = list(real.iter_cases())
    if postgres_url and is_postgres_url(postgres_url):
        db = postgres_url
        target = open_store(db)
        copy_database(real, target, replace=True)
        target.close()
    else:
        db = str(source.with_name("load.sqlite"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.copy(source, db)
    real.close()
    store = open_store(db)
    Accounts(store).add_user("loader", "editor")
    token = Accounts(store).create_token("loader")
    audit_before = store.audit_count()
    store.close()
    return db, real_cases, token, audit_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--attacker", action="store_true",
                        help="run the mix again with one more client looping the costliest search")
    parser.add_argument("--db", help="a postgresql:// URL to load instead of a SQLite copy (replaced!)")
    parser.add_argument("--real", type=Path, help="the real cases' SQLite file (default bench/.cache/real.sqlite);"
                                                 " the copy served is made beside it")
    parser.add_argument("--match-workers", type=int, nargs="+", default=[1],
                        help="`serve --match-workers` (several: one server after another, in this order)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="`serve --workers` (several: one server after another, in this order)")
    parser.add_argument("--search-mode", choices=("auto", "words", "meaning"), default="auto",
                        help="the searches' mode (auto, the default, embeds every query with the models)")
    parser.add_argument("--restart-after", type=float, help="run --restart-command this many seconds in")
    parser.add_argument("--restart-command", help="a shell command, e.g. restarting the PostgreSQL server")
    args = parser.parse_args()
    if min(args.workers) < 1:
        parser.error("--workers: every value must be 1 or more")
    for workers in args.workers:
        for match_workers in args.match_workers:
            print(f"serve --workers {workers} --match-workers {match_workers}:")
            load(args, match_workers, workers)
    return 0


def load(args: argparse.Namespace, match_workers: int, workers: int = 1) -> None:
    """One fresh database and server with `workers` processes of `match_workers` each,
    under the load (each phase)."""
    db, real_cases, token, audit_before = prepare(args.db, args.real)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "disinfodb", "serve", "--db", db, "--port", str(port),
                               "--model", "use-m", "--match-per-minute", "0", "--forwarded-allow-ips", "127.0.0.1",
                               "--match-workers", str(match_workers), "--workers", str(workers)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        built: set[str] = set()  # the processes whose index is complete (a fresh connection each time)
        for _ in range(600):
            try:
                warm = httpx.post(f"{base}/api/match", json={"text": "warm up"}, timeout=120)
                if warm.status_code == 200 and warm.json()["index"]["complete"]:
                    built.add(worker_of(warm))
                    if len(built) == workers:
                        break
                    continue
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        mode = [("mode", args.search_mode)] if args.search_mode != "auto" else []  # auto: the API's default
        queries = [httpx.QueryParams((*page_params(q)[:-1], *mode)) for _, q in query_mix(real_cases, 400)]
        ids, titles = [c.id for c in real_cases], [c.title for c in real_cases]
        phases = [False, True] if args.attacker else [False]
        for phase, with_attacker in enumerate(phases):
            tally, attacks = Tally(), Tally()
            until = time.monotonic() + args.seconds
            threads = [threading.Thread(target=client, args=(base, token, ids, titles, queries, until, tally, n,
                                                             phase)) for n in range(args.clients)]
            if with_attacker:
                threads.append(threading.Thread(target=attacker, args=(base, until, attacks)))
            restart: list[float] = []
            if args.restart_after is not None and args.restart_command and not with_attacker:
                threads.append(threading.Thread(target=run_later, args=(args.restart_after, args.restart_command,
                                                                        restart)))
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            if args.attacker:
                print("with one more client looping the costliest accepted search:" if with_attacker else
                      "the mix alone:")
            report(tally, elapsed, args.clients, db, audit_before)
            audit_before = audit_count(db)
            if with_attacker:
                report_attacker(attacks, elapsed)
            if restart:
                report_outage(tally, restart)
    finally:
        server.terminate()
        server.wait(timeout=30)


def audit_count(db: str) -> int:
    store = open_store(db)
    try:
        return store.audit_count()
    finally:
        store.close()


def report_attacker(attacks: Tally, elapsed: float) -> None:
    total = sum(len(v) for v in attacks.latency.values())
    answered = attacks.statuses.get(200, 0)
    print(f"  the attacker ({COSTLIEST_QUERY[:40]}...): {total:,} requests in {elapsed:.0f} s,"
          f" {answered:,} answered (200), {attacks.statuses.get(429, 0):,} refused (429);"
          f" statuses {dict(sorted(attacks.statuses.items()))}")


def run_later(delay: float, command: str, times: list[float]) -> None:
    """Run a shell command after `delay` seconds; record when it started and ended."""
    time.sleep(delay)
    times.append(time.monotonic())
    subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL)
    times.append(time.monotonic())


def report_outage(tally: Tally, restart: list[float]) -> None:
    began, ended = restart
    during = [(at, status) for at, status in tally.failures if at >= began - 1]
    back = next((at for at in sorted(tally.successes) if at > ended), None)
    kinds = sorted({str(status) for _, status in tally.failures})
    print(f"  restart command ran {ended - began:.2f} s; errors after it began: {len(during)} ({', '.join(kinds)})")
    if during:
        print(f"  clients saw errors from {during[0][0] - began:+.2f} s to {during[-1][0] - began:+.2f} s"
              " (relative to the restart)")
    if back is not None:
        print(f"  first success {back - ended:.2f} s after the restart command finished")


def report(tally: Tally, elapsed: float, clients: int, db: str, audit_before: int) -> None:
    total = sum(len(v) for v in tally.latency.values())
    backend = "PostgreSQL" if is_postgres_url(db) else "SQLite"
    print(f"{clients} clients for {elapsed:.0f} s on loopback against `disinfodb serve` ({backend}, 13,665 cases):"
          f" {total:,} requests, {total / elapsed:,.1f} req/s, errors {tally.errors}")
    print(f"  statuses: {dict(sorted(tally.statuses.items()))}")
    if len(tally.workers) > 1:
        print(f"  answers per worker process: {', '.join(f'{n:,}' for n in sorted(tally.workers.values()))}")
    for kind in KINDS:
        values = tally.latency[kind]
        if values:
            print(f"  {kind:<7} {len(values):>6,}  p50 {statistics.median(values):7.1f} ms"
                  f"  p99 {percentile(values, 99):7.1f} ms")
    store = open_store(db)
    lost = [cid for cid, (version, marker) in tally.acked.items()
            if store.get(cid).version < version
            or (store.get(cid).version == version and store.get(cid).reported_by != marker)]
    audits = store.audit_count() - audit_before
    print(f"  acknowledged edits {tally.acked_edits:,}, audit rows written {audits:,};"
          f" cases whose last acknowledged edit is missing: {len(lost)}")
    store.close()


if __name__ == "__main__":
    sys.exit(main())
