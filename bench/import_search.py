"""Import throughput and search latency on the real cases plus synthetic ones.

Run: .venv/bin/python -m bench.import_search [--sizes 10000 100000] [--queries 300]
     .venv/bin/python -m bench.import_search --database bench/.cache/bench-100000.sqlite

For each size it builds a fresh SQLite file with every real case of ../shared/data (and
the seed) plus synthetic cases up to that size, written as JSON Lines and imported
through the real importer (or, with --database, searches a file built before: no import
is timed). It then times a fixed mix of searches (text, phrases, prefixes, filters,
filter-only) through `store.search` (count + page + facets) three ways in the same run,
query by query: as it is (broad text queries ranked by the ranking index,
disinfodb.store.ranking), with FTS5's bm25 for every ranking (what searches did before
it), and the bare FTS5 query for the same text (`MATCH ... ORDER BY rank LIMIT 20`). It
reports the ranking index's build time and memory, and how many of the top 20 the two
rankings share (overlap@20) where the index ranks.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
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


@dataclass
class Timing:
    """One query of the mix: ms as it is, ms with FTS5's bm25 for every ranking, ms for the
    bare FTS5 query (None without text), its hits, and overlap@20 of the two rankings as a
    fraction of the top 20 (or of all hits, when fewer; None where the index does not rank it)."""

    ours: float
    fts5_ranked: float
    bare: float | None
    hits: int
    overlap: float | None


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


def build_rank_index(store: SQLiteStore) -> None:
    """Build the ranking index (what the first broad search starts in the background), timed
    with the process's memory around it."""
    rss, started = _rss_mb(), time.perf_counter()
    index = store.rank_index(wait_seconds=600)
    if index is None:
        raise SystemExit("the ranking index was not built")
    print(f"ranking index: built in {time.perf_counter() - started:.2f} s, {len(index.terms):,} terms,"
          f" {len(index.cases):,} term-case pairs, arrays {index.nbytes / 1e6:.0f} MB; RSS {rss:.0f} ->"
          f" {_rss_mb():.0f} MB, peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


def ranked_by_index(store: SQLiteStore, query: SearchQuery) -> bool:
    """Whether the ranking index ranks this query's page."""
    index, matches = store.rank_index(), store.text_matches(query.text)
    return (query.sort == Sort.RELEVANCE and index is not None and matches is not None
            and len(matches) >= store.rank_index_from and index.page(query.text, matches, 0, 1) is not None)


def time_queries(store: SQLiteStore, queries: list[tuple[str, SearchQuery]]) -> dict[str, list[Timing]]:
    """Per kind, each query's timings (see Timing)."""
    bare = sqlite3.connect(store.path)
    timings: dict[str, list[Timing]] = {kind: [] for kind in KINDS}
    index_from = store.rank_index_from
    build_rank_index(store)  # before any search: searches would start it, and rank with FTS5 meanwhile
    for warm_up in (True, False):  # the first pass warms the page cache and the term index
        for kind, query in queries:
            started = time.perf_counter()
            results = store.search(query)
            ours = (time.perf_counter() - started) * 1000
            store.rank_index_from = sys.maxsize
            started = time.perf_counter()
            fts5_ranked = store.search(query)
            old = (time.perf_counter() - started) * 1000
            store.rank_index_from = index_from
            baseline = None
            fts = to_fts(query.text)
            if fts:
                started = time.perf_counter()
                bare.execute("SELECT rowid FROM cases_fts WHERE cases_fts MATCH ? ORDER BY rank LIMIT 20",
                             (fts,)).fetchall()
                baseline = (time.perf_counter() - started) * 1000
            overlap = None
            if ranked_by_index(store, query):  # of the top min(20, hits)
                overlap = len({h.id for h in results.hits[:20]} & {h.id for h in fts5_ranked.hits[:20]}
                              ) / max(1, min(20, results.total))
            if not warm_up:
                timings[kind].append(Timing(ours, old, baseline, results.total, overlap))
    bare.close()
    return timings


def _ms(values: list[float]) -> str:
    if not values:
        return f"{'-':>8} {'-':>8}"
    return f"{statistics.median(values):>6.2f}ms {percentile(values, 99):>6.2f}ms"


def report(size: int, timings: dict[str, list[Timing]]) -> None:
    """Overall and per-kind latency, as it is and with FTS5 ranking all; the ratio compares
    text queries with their bare FTS5 query."""
    rows = [t for values in timings.values() for t in values]
    text = [t for t in rows if t.bare is not None]
    ratio = statistics.median(t.ours for t in text) / statistics.median(t.bare for t in text if t.bare is not None)
    overlaps = [t.overlap for t in rows if t.overlap is not None]
    print(f"\n{size:,} cases: search p50/p99 {_ms([t.ours for t in rows])} (FTS5 ranking all:"
          f" {_ms([t.fts5_ranked for t in rows])}) over {len(rows)} queries; text queries: ours"
          f" {_ms([t.ours for t in text])} (FTS5 ranking all: {_ms([t.fts5_ranked for t in text])}), bare FTS5"
          f" {_ms([t.bare for t in text if t.bare])} -> p50 ratio {ratio:.2f}x")
    if overlaps:
        print(f"  ranked by the index: {len(overlaps)} queries; overlap@20 with FTS5's ranking: mean"
              f" {statistics.mean(overlaps):.1%}, min {min(overlaps):.1%}")
    print(f"  {'kind':<16} {'p50':>8} {'p99':>8}   {'FTS5 p50':>8} {'p99':>8}   {'bare p50':>8} {'p99':>8}"
          f"   {'median hits':>11}")
    for kind, values in timings.items():
        hits = statistics.median(t.hits for t in values)
        print(f"  {kind:<16} {_ms([t.ours for t in values])}   {_ms([t.fts5_ranked for t in values])}"
              f"   {_ms([t.bare for t in values if t.bare is not None])}   {hits:>11,.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--database", type=Path, help="search this benchmark file (built before) instead")
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
        if args.database:
            store = SQLiteStore(args.database)
            print(f"\n== {store.count():,} cases ({args.database}, built before)")
            report(store.count(), time_queries(store, queries))
            store.close()
            return 0
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
