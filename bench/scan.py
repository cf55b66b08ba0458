"""Scan throughput: docs/s of `disinfodb scan` on 1 and 2 local workers and on a local Ray.

Run: .venv/bin/python -m bench.scan [--docs 100000] [--sample 20000] [--runs local-1,local-2,ray-2]

A run is ENGINE-WORKERS[xBATCH]: `local-1x1` matches one document at a time (the path
before batching), `local-1` the default batch (disinfodb.scan.BATCH). Runs of the same
engine and workers at several batches give `batch_speedup`: each batch's docs/s over
batch 1's, runs of the same name averaged (alternate them, `local-1x1,local-1,local-1x1,
local-1`, on a machine others share).

Database: every real case of ../shared (the seeds and both CSV files, 13.6k cases), use-m
vectors cached (bench/.cache/scan-cases.sqlite, built once). Model: use-m (the fast one).

Corpus (bench/.cache/scan-corpus-<docs>.jsonl, built once, seeded): 20% of the documents
repeat a real case, its title and up to three sentences of its summary (the 2015-2021
cases have titles only) shuffled among 2-6 unrelated sentences; 80% are 3-8 unrelated
sentences only. The unrelated sentences come from templates about sport, weather, food,
markets, transport and culture (no case talks about those). Each document also carries the
case it repeats (`source`), which scan ignores and this bench uses to count how many of
the repeats were found (recall) and how many unrelated documents wrote a row.

Throughput is measured on the first --sample documents (default 20,000; the whole
--docs with --sample 0): each run starts afresh (--restart) and its wall clock includes
starting the workers (and Ray). Results go to bench/results/scan-<scanned docs>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.import_search import real_files
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.scan import BATCH, Corpus, ScanJob, ScanSummary, read_rows
from disinfodb.store import SQLiteStore
from disinfodb.text import claim_sentences

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results"
MODEL = "use-m"
REPEAT_SHARE = 0.2
# The price a cost per million documents is given at: an assumption, not a measurement.
PRICE_PER_HOUR = 0.085  # USD, AWS c6i.large on demand (2 vCPU, us-east-1, list price)
PRICE_NOTE = "a 2-vCPU VM at $0.085/h (AWS c6i.large on-demand list price, us-east-1), assumed to run like this machine"

CITIES = ["Lisbon", "Oslo", "Toronto", "Nairobi", "Osaka", "Lima", "Perth", "Seville", "Ghent", "Tampere",
          "Porto", "Cork", "Leeds", "Bergen", "Malmo", "Graz", "Bologna", "Lyon", "Utrecht", "Aarhus"]
TEAMS = ["the home side", "the visitors", "the league leaders", "the youth team", "the women's team",
         "the cup holders", "the local club", "the newly promoted side"]
FOODS = ["lentil soup", "apple pie", "grilled trout", "mushroom risotto", "rye bread", "plum jam",
         "pumpkin curry", "lemon cake", "bean salad", "oat biscuits"]
THINGS = ["the tram line", "the city library", "the swimming pool", "the ring road", "the old market hall",
          "the river ferry", "the botanical garden", "the concert hall", "the cycling lane", "the harbour"]
DAYS = ["on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "at the weekend", "next week",
        "this morning", "last night", "in the spring"]
TEMPLATES = [
    "{team} won {n} to {m} against {team2} in {city} {day}.",
    "The coach said {team} had played their best football of the season.",
    "Forecasters expect {n} millimetres of rain in {city} {day}, with sunny spells later.",
    "Temperatures in {city} will stay around {n} degrees {day}.",
    "To make {food}, simmer the ingredients for {n} minutes and season to taste.",
    "The recipe for {food} calls for {n} grams of flour and a pinch of salt.",
    "A bakery in {city} sold out of {food} {day}.",
    "{thing} in {city} reopens {day} after {n} months of repairs.",
    "Work on {thing} will close two streets in {city} {day}.",
    "Shares in the regional bakery chain rose {n} percent {day}.",
    "The price of coffee beans fell for the {ord} week in a row.",
    "The orchestra of {city} will play a programme of {n} short pieces {day}.",
    "An exhibition of {n} paintings by local artists opens at {thing} {day}.",
    "Volunteers planted {n} trees along {thing} in {city}.",
    "The marathon in {city} drew {n} hundred runners {day}.",
    "A new cycling route links {city} with the coast, {n} kilometres long.",
    "Students from {city} built a small robot that sorts {n} kinds of recycled plastic.",
    "The {ord} edition of the {city} food festival will feature {food}.",
    "Parking near {thing} will be free {day}.",
    "A heron has nested near {thing} for the {ord} year running.",
]
ORDINALS = ["second", "third", "fourth", "fifth", "sixth", "seventh"]


def filler(rng: random.Random) -> str:
    team, team2 = rng.sample(TEAMS, 2)
    sentence = rng.choice(TEMPLATES).format(
        team=team, team2=team2, city=rng.choice(CITIES), day=rng.choice(DAYS), food=rng.choice(FOODS),
        thing=rng.choice(THINGS), n=rng.randint(2, 90), m=rng.randint(0, 5), ord=rng.choice(ORDINALS))
    return sentence[0].upper() + sentence[1:]


def build_db() -> Path:
    path = CACHE / "scan-cases.sqlite"
    CACHE.mkdir(exist_ok=True)
    store = SQLiteStore(path)
    try:
        if store.count() == 0:
            import_records(store, (record for file in real_files() for record in read_file(str(file))))
    finally:
        store.close()
    return path


def build_corpus(db: Path, docs: int, seed: int = 11) -> Path:
    path = CACHE / f"scan-corpus-{docs}.jsonl"
    if path.exists():
        return path
    store = SQLiteStore(db)
    try:
        cases = [(case.id, case.title, claim_sentences(case.summary)) for case in store.iter_cases()]
    finally:
        store.close()
    rng = random.Random(seed)
    partial = path.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as stream:
        for number in range(docs):
            source = None
            if rng.random() < REPEAT_SHARE:
                source, title, summary = rng.choice(cases)
                parts = [title, *summary[:rng.randint(1, 3)]] if summary else [title]
                parts += [filler(rng) for _ in range(rng.randint(2, 6))]
            else:
                parts = [filler(rng) for _ in range(rng.randint(3, 8))]
            rng.shuffle(parts)
            stream.write(json.dumps({"id": f"doc-{number:06d}", "text": " ".join(parts), "lang": "en",
                                     "source": source}, ensure_ascii=False) + "\n")
    partial.replace(path)
    return path


def first_docs(corpus: Path, count: int) -> Path:
    path = corpus.with_name(f"{corpus.stem}-first{count}.jsonl")
    if not path.exists():
        with open(corpus, encoding="utf-8") as source, open(path, "w", encoding="utf-8") as sink:
            for number, line in enumerate(source):
                if number == count:
                    break
                sink.write(line)
    return path


def quality(corpus: Path, out: Path) -> dict[str, Any]:
    """Repeats whose own case was among their rows; unrelated documents that wrote any row."""
    with open(corpus, encoding="utf-8") as stream:
        sources = {doc["id"]: doc["source"] for doc in map(json.loads, stream)}
    found: dict[str, set[str]] = {}
    for row in read_rows(out):
        found.setdefault(row["doc_id"], set()).add(row["case_id"])
    repeats = [doc for doc, source in sources.items() if source]
    unrelated = [doc for doc, source in sources.items() if not source]
    return {"repeats": len(repeats), "repeats_found": sum(sources[d] in found.get(d, ()) for d in repeats),
            "unrelated": len(unrelated), "unrelated_with_rows": sum(d in found for d in unrelated)}


def run(name: str, corpus: Path, db: Path, reference: Path | None) -> dict[str, Any]:
    engine, workers_batch = name.rsplit("-", 1)
    workers, _, batch = workers_batch.partition("x")
    out = CACHE / "scan-out" / f"{corpus.stem}-{name}.jsonl"
    out.parent.mkdir(exist_ok=True)
    job = ScanJob(Corpus.open(corpus), out, str(db), MODEL, batch=int(batch or BATCH))
    summary: ScanSummary = job.run(engine, int(workers), restart=True)
    result = {"run": name, "engine": f"{engine}-{workers}", "batch": job.batch, "docs": summary.scanned,
              "seconds": summary.seconds,
              "docs_per_s": round(summary.docs_per_s, 1),
              "worker_docs_per_s": round(summary.scanned / summary.worker_seconds, 1),
              "matched": summary.matched, "rows": summary.rows,
              "peak_worker_rss_mb": summary.peak_worker_rss_mb, **quality(corpus, out),
              "same_bytes_as_first_run": None if reference is None else out.read_bytes() == reference.read_bytes(),
              "out": str(out)}
    print(json.dumps(result), flush=True)
    return result


def averaged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs of one name as one: their docs/s averaged."""
    return {**runs[0], "docs_per_s": round(sum(r["docs_per_s"] for r in runs) / len(runs), 1), "repeats": len(runs)}


def batch_speedup(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per engine and workers: each batch's docs/s over batch 1's (where both ran)."""
    base = {r["engine"]: r["docs_per_s"] for r in results if r["batch"] == 1}
    return {engine: {str(r["batch"]): round(r["docs_per_s"] / base[engine], 2)
                     for r in results if r["engine"] == engine and r["batch"] != 1} for engine in base}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000, help="corpus size built")
    parser.add_argument("--sample", type=int, default=20_000, help="documents scanned per run (0: all)")
    parser.add_argument("--runs", default="local-1,local-2,ray-2")
    args = parser.parse_args()
    db = build_db()
    started = time.perf_counter()
    corpus = build_corpus(db, args.docs)
    print(f"corpus {corpus} ({args.docs:,} documents, {corpus.stat().st_size / 1e6:.0f} MB) ready in "
          f"{time.perf_counter() - started:.1f}s; database {db}; {os.cpu_count()} cores", flush=True)
    scanned = first_docs(corpus, args.sample) if 0 < args.sample < args.docs else corpus
    runs: list[dict[str, Any]] = []
    for name in args.runs.split(","):
        runs.append(run(name, scanned, db, Path(runs[0]["out"]) if runs else None))
    results = {name: averaged([r for r in runs if r["run"] == name]) for name in dict.fromkeys(r["run"] for r in runs)}
    report: dict[str, Any] = {"corpus_docs": args.docs, "scanned_docs": args.sample or args.docs,
                              "model": MODEL, "runs": runs, "batch_speedup": batch_speedup(list(results.values()))}
    one, two = results.get("local-1"), results.get("local-2")
    if one and two:
        report["scaling_efficiency_1_to_2"] = round(two["docs_per_s"] / (2 * one["docs_per_s"]), 3)
    best = two or one
    if best:
        machine_hours = 1e6 / best["docs_per_s"] / 3600
        report["per_million_docs"] = {
            "from_run": best["run"], "machine_hours": round(machine_hours, 2),
            "core_hours": round(machine_hours * (os.cpu_count() or 1), 2),
            "usd": round(machine_hours * PRICE_PER_HOUR, 2), "price_assumed": PRICE_NOTE}
        report["full_corpus_minutes_extrapolated"] = round(args.docs / best["docs_per_s"] / 60, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"scan-{report['scanned_docs']}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({key: value for key, value in report.items() if key != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
