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
from pathlib import Path

from bench.synthetic import CaseSampler
from disinfodb.cases import Case
from disinfodb.export import export_jsonl
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.search import SearchQuery, to_fts
from disinfodb.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def real_files() -> list[Path]:
    return sorted(SHARED.glob("seeds/*.txt")) + sorted(SHARED.glob("data/*/cases.csv"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def query_mix(real: list[Case], count: int, seed: int = 11) -> list[SearchQuery]:
    """A reproducible mix of what analysts type: words, phrases, prefixes and filters."""
    rng = random.Random(seed)
    queries: list[SearchQuery] = []
    with_meta = [c for c in real if c.keywords and c.countries and c.published]
    for number in range(count):
        case = rng.choice(with_meta)
        words = [w for w in case.title.split() if len(w) > 3 and w.isalpha()] or ["Ukraine"]
        kind = number % 8
        if kind == 0:
            queries.append(SearchQuery(text=rng.choice(words)))
        elif kind == 1:
            queries.append(SearchQuery(text=" ".join(rng.sample(words, min(2, len(words))))))
        elif kind == 2:
            start = rng.randrange(max(1, len(words) - 1))
            queries.append(SearchQuery(text='"' + " ".join(words[start:start + 2]) + '"'))
        elif kind == 3:
            queries.append(SearchQuery(text=rng.choice(words)[:4] + "*"))
        elif kind == 4:
            queries.append(SearchQuery(text=rng.choice(words), countries=(rng.choice(case.countries),)))
        elif kind == 5:
            queries.append(SearchQuery(text=rng.choice(words), keywords=(rng.choice(case.keywords),)))
        elif kind == 6:
            year = case.published.year if case.published else 2017
            queries.append(SearchQuery(countries=(rng.choice(case.countries),),
                                       since=case.published.replace(month=1, day=1) if case.published else None,
                                       until=case.published.replace(year=year, month=12, day=31)
                                       if case.published else None))
        else:
            queries.append(SearchQuery(keywords=(rng.choice(case.keywords),), sort="date"))
    return queries


def build(size: int, real_cases: list[Case], workdir: Path) -> tuple[SQLiteStore, float, float]:
    """A fresh store with the real cases and synthetic ones up to `size`; import times."""
    db = workdir / f"bench-{size}.sqlite"
    store = SQLiteStore(db)
    started = time.perf_counter()
    import_records(store, (r for f in real_files() for r in read_file(str(f))))
    real_seconds = time.perf_counter() - started
    synthetic = workdir / f"synthetic-{size}.jsonl"
    with open(synthetic, "w", encoding="utf-8") as out:
        export_jsonl(CaseSampler(real_cases).cases(max(0, size - store.count())), out)
    started = time.perf_counter()
    report = import_records(store, read_file(str(synthetic)))
    synthetic_rate = report.created / (time.perf_counter() - started)
    return store, store.count() / real_seconds if real_seconds else 0.0, synthetic_rate


def time_queries(store: SQLiteStore, queries: list[SearchQuery]) -> tuple[list[float], list[float]]:
    """Milliseconds per query: disinfodb's full search, and the bare FTS5 baseline."""
    bare = sqlite3.connect(store.path)
    ours, baseline = [], []
    for query in queries * 2:  # first pass warms the page cache; keep the second
        started = time.perf_counter()
        store.search(query)
        ours.append((time.perf_counter() - started) * 1000)
        fts = to_fts(query.text)
        if fts:
            started = time.perf_counter()
            bare.execute("SELECT rowid FROM cases_fts WHERE cases_fts MATCH ? ORDER BY rank LIMIT 20",
                         (fts,)).fetchall()
            baseline.append((time.perf_counter() - started) * 1000)
    bare.close()
    return ours[len(queries):], baseline[len(baseline) // 2:]


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
              "(words, 2 words, phrases, prefixes, +country, +keyword, filter-only, keyword by date)")
        print(f"{'cases':>8} {'import real/s':>14} {'import synth/s':>15} {'search p50':>11} "
              f"{'p99':>8} {'bare FTS p50':>13} {'p99':>8} {'p50 ratio':>10}")
        for size in args.sizes:
            store, real_rate, synth_rate = build(size, real_cases, Path(tmp))
            ours, bare = time_queries(store, queries)
            print(f"{store.count():>8,} {real_rate:>14,.0f} {synth_rate:>15,.0f} "
                  f"{statistics.median(ours):>9.2f}ms {percentile(ours, 99):>6.2f}ms "
                  f"{statistics.median(bare):>11.2f}ms {percentile(bare, 99):>6.2f}ms "
                  f"{statistics.median(ours) / statistics.median(bare):>9.1f}x")
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
