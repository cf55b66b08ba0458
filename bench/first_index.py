"""The first matching index of a fresh database: embedding every real case with the default models.

Run: .venv/bin/python -m bench.first_index [--model use-m+e5-small]

Imports the 13,665 real cases of ../shared/data into a new SQLite file (not timed), then
times `ClaimIndex.build` from nothing cached, per model (each model's vectors are embedded
and written to the store in turn), and a second build that reads them all back.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.import_search import real_files
from bench.measure import rss_mb
from disinfodb.embed import DEFAULT_MODEL, load_embedders
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import ClaimIndex
from disinfodb.store import SQLiteStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    embedders = load_embedders(args.model)
    for embedder in embedders:
        embedder.embed(["warm up"], "passage")
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "fresh.sqlite")
        import_records(store, (r for f in real_files() for r in read_file(str(f))))
        before = rss_mb()
        total = 0.0
        for embedder in embedders:
            started = time.perf_counter()
            index = ClaimIndex.build(store, [embedder])
            seconds = time.perf_counter() - started
            total += seconds
            chars = sum(map(len, index.unit_text))
            print(f"{embedder.name:<10} {store.count():,} cases, {len(index.unit_text):,} units ({chars:,} chars): "
                  f"{seconds:5.1f} s, {len(index.unit_text) / seconds:,.0f} units/s")
        started = time.perf_counter()
        ClaimIndex.build(store, embedders)
        print(f"first index, every model: {total:.1f} s; a second build (all cached): "
              f"{time.perf_counter() - started:.1f} s; RSS +{rss_mb() - before:.0f} MiB")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
