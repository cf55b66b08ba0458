"""The search indexes after a write: caught up from the audit trail, against a full reload.

Run: .venv/bin/python -m bench.term_index [--sizes 13665 100000] [--repeat 7]

For each size, a copy of the benchmark database (bench/.cache: the real cases, plus
synthetic ones up to the size, as bench.import_search builds them) is opened twice, as two
server processes would: a writer edits 1, 10 or 100 cases (new keywords, a new date; one
in ten edits a new case in, one in ten deletes one), then the reader's index is brought up
to date both ways in one snapshot, in the same process: `TermIndex.caught_up` (what every
search after a write now pays) and `TermIndex.load` (what it paid before). Both indexes
must give the same facet counts over every case. The same for the ranking index of broad
queries (`RankIndex.caught_up` against `RankIndex.load`, which a write used to send to a
background build of seconds, FTS5 ranking meanwhile): the same scores for a broad query.
Reports medians in ms (the ranking index's full read once per size).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.web_pages import database, real_database
from disinfodb.cases import Case
from disinfodb.store import SQLiteStore
from disinfodb.store.ranking import RankIndex
from disinfodb.store.term_index import TermIndex

EDITS = (1, 10, 100)


def source_file(size: int) -> Path:
    """The cached benchmark database of `size` cases (built once)."""
    store = real_database() if size <= 13_665 else database(size)[0]
    location = Path(store.location)
    store.close()
    return location


def edit(store: SQLiteStore, rng: random.Random, ids: list[str], count: int) -> None:
    for n in range(count):
        kind = rng.random()
        if kind < 0.1:
            ids.append(store.create(Case(title=f"Benchmark claim {rng.random()}", keywords=["NATO", f"New {n}"])).id)
        elif kind < 0.2:
            store.delete(ids.pop(rng.randrange(len(ids))))
        else:
            case = store.get(rng.choice(ids))
            store.replace(case.id, case.model_copy(update={"keywords": [*case.keywords[:2], f"Edited {n % 5}"]}))


def measure(size: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cases.sqlite"
        shutil.copy(source_file(size), path)
        writer, reader = SQLiteStore(path), SQLiteStore(path)
        rng = random.Random(7)
        ids = [case.id for case in writer.iter_cases()]
        db = sqlite3.connect(path, isolation_level=None)
        started = time.perf_counter()
        ranking = RankIndex.load(db)
        rank_load = (time.perf_counter() - started) * 1000
        matches = reader.text_matches("Ukraine")
        print(f"\n{writer.count():,} cases; ranking index read whole: {rank_load:,.0f} ms")
        print(f"{'edits':>6}{'terms caught up':>17}{'reloaded':>11}{'ratio':>8}{'ranking caught up':>19}{'ratio':>8}")
        for count in EDITS:
            caught: list[float] = []
            loaded: list[float] = []
            ranked: list[float] = []
            for _ in range(repeat):
                before = reader.term_index()
                edit(writer, rng, ids, count)
                with reader.snapshot():
                    started = time.perf_counter()
                    index = before.caught_up(reader)
                    caught.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    fresh = TermIndex.load(reader)
                    loaded.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    caught_ranking = ranking.caught_up(reader, index.case_pks)
                    ranked.append(time.perf_counter() - started)
                    matches = reader.text_matches("Ukraine")
                if index.facet_counts(index.case_pks, 1000) != fresh.facet_counts(fresh.case_pks, 1000):
                    raise SystemExit(f"the caught-up term index differs from a reload after {count} edits")
                if caught_ranking is None or matches is None or caught_ranking.page("Ukraine", matches, 0, 20) != \
                        RankIndex.load(db).page("Ukraine", matches, 0, 20):
                    raise SystemExit(f"the caught-up ranking index differs from a full read after {count} edits")
                ranking = caught_ranking
                reader.term_index()
            up, full, rank_up = (statistics.median(values) * 1000 for values in (caught, loaded, ranked))
            print(f"{count:>6}{up:>15.2f}ms{full:>9.1f}ms{full / up:>7.0f}x"
                  f"{rank_up:>17.2f}ms{rank_load / rank_up:>7.0f}x")
        db.close()
        writer.close()
        reader.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[13_665, 100_000])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for size in args.sizes:
        measure(size, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
