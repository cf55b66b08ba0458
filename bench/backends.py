"""SQLite and PostgreSQL side by side on the real cases: import, copy and search speed.

Run: .venv/bin/python -m bench.backends --postgres postgresql://USER@HOST:PORT/DB

The PostgreSQL database given is emptied and reused (make one for this). Both stores get
every real case (seeds + both scrapes, 13,665) through the real importer, timed; then the
PostgreSQL database is emptied and the SQLite file copied into it with `disinfodb migrate`'s
`copy_database` (timed, verified); then the 400-query mix of bench.import_search runs
through `store.search` on both, in the same process, the same queries in the same order.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.import_search import KINDS, percentile, query_mix, real_files
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.search import SearchQuery
from disinfodb.store import SQLStore, open_store
from disinfodb.store.schema import TABLES
from disinfodb.store.transfer import copy_database


def empty(store: SQLStore) -> None:
    with store.transaction():
        for table in reversed(TABLES):
            store._db.execute(f"DELETE FROM {table}")  # a benchmark resets its database


def timed_import(store: SQLStore) -> tuple[int, float]:
    started = time.perf_counter()
    created = 0
    for path in real_files():
        created += import_records(store, read_file(str(path))).created
    return created, time.perf_counter() - started


def search_times(store: SQLStore, queries: list[tuple[str, SearchQuery]]) -> dict[str, list[float]]:
    for _, query in queries[:20]:  # warm the term index and the caches
        store.search(query)
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for kind, query in queries:
        started = time.perf_counter()
        store.search(query)
        times[kind].append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", required=True, help="a PostgreSQL URL whose database may be emptied")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sqlite_store = open_store(str(Path(folder) / "bench.sqlite"))
        postgres = open_store(args.postgres)
        empty(postgres)
        for name, store in (("SQLite", sqlite_store), ("PostgreSQL", postgres)):
            created, seconds = timed_import(store)
            print(f"import {name:<10} {created:,} cases in {seconds:5.1f} s = {created / seconds:,.0f} cases/s")
        empty(postgres)
        started = time.perf_counter()
        census = copy_database(sqlite_store, postgres)
        seconds = time.perf_counter() - started
        print(f"copy SQLite -> PostgreSQL: {sum(census.rows.values()):,} rows ({census.cases:,} cases)"
              f" in {seconds:.1f} s, verified")
        queries = query_mix(list(sqlite_store.iter_cases()), 400)
        results = {name: search_times(store, queries)
                   for name, store in (("SQLite", sqlite_store), ("PostgreSQL", postgres))}
        print(f"search, 400 queries on {census.cases:,} cases: p50 / p99 ms")
        for kind in (*KINDS, "all"):
            cells = []
            for name, per_kind in results.items():
                values = [v for vs in per_kind.values() for v in vs] if kind == "all" else per_kind[kind]
                cells.append(f"{name} {statistics.median(values):6.2f} / {percentile(values, 99):6.1f}")
            print(f"  {kind:<16} " + "   ".join(cells))
        sqlite_store.close()
        postgres.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
