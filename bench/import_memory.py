"""Peak memory of an import against input size: readers must stream.

Run: .venv/bin/python -m bench.import_memory [--megabytes 50 400]

For each size it writes a JSON Lines file of synthetic cases (bench/synthetic.py) of about
that many MB, then imports it into a fresh SQLite file in a child process and reports the
child's peak RSS (ru_maxrss) next to the same child's RSS before reading a record (the
baseline: interpreter + libraries). Flat peak RSS across sizes means constant memory.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.import_search import real_files
from bench.synthetic import CaseSampler
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.store import SQLiteStore

CHILD = """
import resource, sys, time
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.store import SQLiteStore
store = SQLiteStore(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
report = import_records(store, read_file(sys.argv[1]))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(report.created, before, peak, seconds)
"""


def write_corpus(path: Path, megabytes: int, sampler: CaseSampler) -> None:
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        while out.tell() < megabytes * 1_000_000:
            out.write(sampler.case(count).model_dump_json() + "\n")
            count += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, nargs="+", default=[50, 400])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        real_store = SQLiteStore(Path(tmp) / "real.sqlite")
        import_records(real_store, (r for f in real_files() for r in read_file(str(f))))
        sampler = CaseSampler(list(real_store.iter_cases()))
        real_store.close()
        print(f"{'input MB':>9} {'cases':>9} {'RSS before':>11} {'peak RSS':>9} {'growth':>8} {'cases/s':>8}")
        for megabytes in args.megabytes:
            corpus = Path(tmp) / f"corpus-{megabytes}.jsonl"
            write_corpus(corpus, megabytes, sampler)
            output = subprocess.run(
                [sys.executable, "-c", CHILD, str(corpus), str(Path(tmp) / f"db-{megabytes}.sqlite")],
                check=True, capture_output=True, text=True).stdout.split()
            created, before, peak, seconds = int(output[0]), int(output[1]), int(output[2]), float(output[3])
            print(f"{megabytes:>9} {created:>9,} {before / 1024:>9.0f}MB {peak / 1024:>7.0f}MB "
                  f"{(peak - before) / 1024:>6.0f}MB {created / seconds:>8,.0f}")
            corpus.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
