"""The term index after a write: caught up from the audit trail, against a full reload.

Run: .venv/bin/python -m bench.term_index [--sizes 13665 100000] [--repeat 7]

For each size, a copy of the benchmark database (bench/.cache: the real cases, plus
synthetic ones up to the size, as bench.import_search builds them) is opened twice, as two
server processes would: a writer edits 1, 10 or 100 cases (new keywords, a new date; one
in ten edits a new case in, one in ten deletes one), then the reader's index is brought up
to date both ways in one snapshot, in the same process: `TermIndex.caught_up` (what every
search after a write now pays) and `TermIndex.load` (what it paid before). Both indexes
must give the same facet counts over every case. Reports medians in ms.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.web_pages import database, real_database
from disinfodb.cases import Case
from disinfodb.store import SQLiteStore
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
        print(f"\n{writer.count():,} cases")
        print(f"{'edits':>6}{'caught up':>12}{'reloaded':>11}{'ratio':>8}")
        for count in EDITS:
            caught: list[float] = []
            loaded: list[float] = []
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
                if index.facet_counts(index.case_pks, 1000) != fresh.facet_counts(fresh.case_pks, 1000):
                    raise SystemExit(f"the caught-up index differs from a reload after {count} edits")
                reader.term_index()
            up, full = statistics.median(caught) * 1000, statistics.median(loaded) * 1000
            print(f"{count:>6}{up:>10.2f}ms{full:>9.1f}ms{full / up:>7.0f}x")
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
