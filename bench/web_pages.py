"""Server time of the search page on 100k cases, against the bare library search.

Run: .venv/bin/python -m bench.web_pages [--size 100000] [--queries 200]

Builds the same database as bench.import_search (every real case of ../shared/data and the
seed, plus synthetic cases up to --size; kept in bench/.cache between runs), then requests
`GET /?...` for the same query mix through the real app in-process (Starlette's
TestClient: routing, the search, facets, Jinja2 rendering, no network) and, as the
baseline in the same run, `store.search` for the same query. Both after a warm-up pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from bench.import_search import SHARED, build, percentile, query_mix, real_files
from disinfodb.cases import Case
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.search import SearchQuery
from disinfodb.server.app import create_app
from disinfodb.server.service import Settings
from disinfodb.store import SQLiteStore

CACHE = Path(__file__).resolve().parent / ".cache"


def page_params(query: SearchQuery) -> list[tuple[str, str]]:
    """The search page's query string for a library query."""
    params = [("q", query.text)] if query.text else []
    params += [("keyword", k) for k in query.keywords] + [("country", c) for c in query.countries]
    params += [("since", query.since.isoformat())] if query.since else []
    params += [("until", query.until.isoformat())] if query.until else []
    return [*params, ("sort", query.sort)]


def real_database() -> SQLiteStore:
    """Every real case (seed + both scrapes) in bench/.cache/real.sqlite (imported once)."""
    CACHE.mkdir(exist_ok=True)
    real = SQLiteStore(CACHE / "real.sqlite")
    import_records(real, (r for f in real_files() for r in read_file(str(f))))  # unchanged after the first run
    return real


def database(size: int) -> tuple[SQLiteStore, list[Case]]:
    """The benchmark database (built once, then cached) and the real cases in it."""
    real = real_database()
    real_cases = list(real.iter_cases())
    real.close()
    path = CACHE / f"bench-{size}.sqlite"
    if path.exists():
        return SQLiteStore(path), real_cases
    store, _, _ = build(size, real_cases, CACHE)
    return store, real_cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    if not (SHARED / "data").is_dir():
        print(f"needs the real data in {SHARED / 'data'}", file=sys.stderr)
        return 1
    store, real_cases = database(args.size)
    queries = [q for _, q in query_mix(real_cases, args.queries)]
    client = TestClient(create_app(store, settings=Settings(search_seconds_per_minute=0)))  # no budget: it times pages
    page_ms: list[float] = []
    library_ms: list[float] = []
    for warm_up in (True, False):
        for query in queries:
            started = time.perf_counter()
            store.search(query)
            library = (time.perf_counter() - started) * 1000
            response = client.get("/", params=page_params(query))
            page = float(response.headers["server-timing"].removeprefix("app;dur="))
            if response.status_code != 200:
                print(f"page failed ({response.status_code}) for {page_params(query)}", file=sys.stderr)
                return 1
            if not warm_up:
                library_ms.append(library)
                page_ms.append(page)
    p50, p99 = statistics.median(page_ms), percentile(page_ms, 99)
    base50, base99 = statistics.median(library_ms), percentile(library_ms, 99)
    print(f"{store.count():,} cases, {len(queries)} queries (the bench.import_search mix), after a warm-up pass")
    print(f"  search page (GET /, server time): p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {max(page_ms):.1f} ms")
    print(f"  library search (baseline):     p50 {base50:.1f} ms  p99 {base99:.1f} ms")
    print(f"  page / library at p50: {p50 / base50:.2f}x; pages over 100 ms: "
          f"{sum(t > 100 for t in page_ms)}/{len(page_ms)}")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
