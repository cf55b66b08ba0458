"""Import throughput and search latency on the real cases plus synthetic ones.

Run: .venv/bin/python bench/import_search.py [--sizes 10000 100000] [--queries 300]

For each size it builds a fresh SQLite file with every real case of ../shared/data (and
the seed) plus synthetic cases up to that size, written as JSON Lines and imported
through the real importer. It then times a fixed mix of searches (text, phrases, prefixes,
filters, filter-only) through `store.search` (count + page + facets) and, as the baseline
in the same run, the bare FTS5 query for the same text (`MATCH ... ORDER BY rank LIMIT 20`).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.synthetic import CaseSampler
from disinfodb.cases import Case
from disinfodb.export import EXPORTERS
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.search import SearchQuery, Sort, to_fts
from disinfodb.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def real_files() -> list[Path]:
    return sorted(SHARED.glob("seeds/*.txt")) + sorted(SHARED.glob("data/*/cases.csv"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


KINDS = ("word", "two words", "phrase", "prefix*", "word+country", "word+keyword",
         "country+year", "keyword by date")


def query_mix(real: list[Case], count: int, seed: int = 11) -> list[tuple[str, SearchQuery]]:
    """A reproducible mix of what analysts type: words, phrases, prefixes and filters."""
    rng = random.Random(seed)
    queries: list[tuple[str, SearchQuery]] = []
    with_meta = [c for c in real if c.keywords and c.countries and c.published]
    for number in range(count):
        case = rng.choice(with_meta)
        words = [w for w in case.title.split() if len(w) > 3 and w.isalpha()] or ["Ukraine"]
        kind = KINDS[number % len(KINDS)]
        word, country, keyword = rng.choice(words), rng.choice(case.countries), rng.choice(case.keywords)
        year = case.published.year if case.published else 2017
        start = rng.randrange(max(1, len(words) - 1))
        query = {
            "word": SearchQuery(text=word),
            "two words": SearchQuery(text=" ".join(rng.sample(words, min(2, len(words))))),
            "phrase": SearchQuery(text='"' + " ".join(words[start:start + 2]) + '"'),
            "prefix*": SearchQuery(text=word[:4] + "*"),
            "word+country": SearchQuery(text=word, countries=(country,)),
            "word+keyword": SearchQuery(text=word, keywords=(keyword,)),
            "country+year": SearchQuery(countries=(country,), since=date(year, 1, 1),
                                        until=date(year, 12, 31)),
            "keyword by date": SearchQuery(keywords=(keyword,), sort=Sort.DATE),
        }[kind]
        queries.append((kind, query))
    return queries


def build(size: int, real_cases: list[Case], workdir: Path) -> tuple[SQLiteStore, float, float | None]:
    """A fresh store with the real cases and synthetic ones up to `size`; import rates."""
    store = SQLiteStore(workdir / f"bench-{size}.sqlite")
    started = time.perf_counter()
    import_records(store, (r for f in real_files() for r in read_file(str(f))))
    real_rate = store.count() / (time.perf_counter() - started)
    missing = size - store.count()
    if missing <= 0:
        return store, real_rate, None
    synthetic = workdir / f"synthetic-{size}.jsonl"
    with open(synthetic, "w", encoding="utf-8") as out:
        EXPORTERS["jsonl"](CaseSampler(real_cases).cases(missing), out)
    started = time.perf_counter()
    report = import_records(store, read_file(str(synthetic)))
    return store, real_rate, report.created / (time.perf_counter() - started)


def time_queries(store: SQLiteStore, queries: list[tuple[str, SearchQuery]]
                 ) -> dict[str, list[tuple[float, float | None, int]]]:
    """Per kind: (ms for disinfodb's full search, ms for the bare FTS5 query or None, hits)."""
    bare = sqlite3.connect(store.path)
    timings: dict[str, list[tuple[float, float | None, int]]] = {kind: [] for kind in KINDS}
    for warm_up in (True, False):  # the first pass warms the page cache and the term index
        for kind, query in queries:
            started = time.perf_counter()
            results = store.search(query)
            ours = (time.perf_counter() - started) * 1000
            baseline = None
            fts = to_fts(query.text)
            if fts:
                started = time.perf_counter()
                bare.execute("SELECT rowid FROM cases_fts WHERE cases_fts MATCH ? ORDER BY rank LIMIT 20",
                             (fts,)).fetchall()
                baseline = (time.perf_counter() - started) * 1000
            if not warm_up:
                timings[kind].append((ours, baseline, results.total))
    bare.close()
    return timings


def _ms(values: list[float]) -> str:
    if not values:
        return f"{'-':>8} {'-':>8}"
    return f"{statistics.median(values):>6.2f}ms {percentile(values, 99):>6.2f}ms"


def report(size: int, timings: dict[str, list[tuple[float, float | None, int]]]) -> None:
    """Overall and per-kind latency; the ratio compares text queries with their bare FTS5 query."""
    rows = [(kind, t) for kind, values in timings.items() for t in values]
    ours = [t[0] for _, t in rows]
    text = [(t[0], t[1]) for _, t in rows if t[1] is not None]
    ratio = statistics.median(o for o, _ in text) / statistics.median(b for _, b in text if b is not None)
    print(f"\n{size:,} cases: search p50/p99 {_ms(ours)} over {len(ours)} queries; "
          f"text queries: ours {_ms([o for o, _ in text])}, bare FTS5 {_ms([b for _, b in text if b])}"
          f" -> p50 ratio {ratio:.2f}x")
    print(f"  {'kind':<16} {'p50':>8} {'p99':>8}   {'bare p50':>8} {'p99':>8}   {'median hits':>11}")
    for kind, values in timings.items():
        bare = [b for _, b, _ in values if b is not None]
        hits = statistics.median(n for _, _, n in values)
        print(f"  {kind:<16} {_ms([o for o, _, _ in values])}   {_ms(bare)}   {hits:>11,.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=400)
    args = parser.parse_args()
    if not (SHARED / "data").is_dir():
        print(f"needs the real data in {SHARED / 'data'}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        seed_store = SQLiteStore(Path(tmp) / "real.sqlite")
        import_records(seed_store, (r for f in real_files() for r in read_file(str(f))))
        real_cases = list(seed_store.iter_cases())
        seed_store.close()
        queries = query_mix(real_cases, args.queries)
        print(f"real cases: {len(real_cases):,}; query mix: {len(queries)} queries "
              f"({', '.join(KINDS)})")
        for size in args.sizes:
            store, real_rate, synthetic_rate = build(size, real_cases, Path(tmp))
            rates = f"import: real files {real_rate:,.0f} cases/s"
            if synthetic_rate is not None:
                rates += f", synthetic JSONL {synthetic_rate:,.0f} cases/s"
            print(f"\n== {store.count():,} cases ({rates})")
            report(store.count(), time_queries(store, queries))
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
