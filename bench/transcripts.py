"""Claims inside spoken text: CheckThat! 2021 Task 2B (debate sentences -> PolitiFact fact-checks).

Run: .venv/bin/python -m bench.transcripts [--model use-m+e5-small] [--max-context 4]

The 19,250 PolitiFact fact-checks become cases through our CSV importer (title = the
fact-check's headline, summary = the checked claim). Each query is one sentence of a debate
or speech; its transcript gives the sentences said before it. For each number of preceding
sentences N (0 = the sentence alone), the sentence and the window "N sentences + the
sentence" are the input units, exactly as `disinfodb match` builds them for a transcript
(`--context N`), and every configuration ranks the cases:
  lexical     BM25 (bm25s) alone: our run of the lab's n-gram baseline (0.32 MAP@5 on test);
  dense       the models' best-pair cosine;
  calibrated  the shipped ranking (resources/calibration.json).
N is chosen on the train split (the best calibrated MAP@5); dev is reported for N = 0 and
that N. The official metric is MAP@5 over all fact-checks; the best systems of the 2021
task reached about 0.35 on its test split (not in ../shared).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.retrieval import metrics
from disinfodb.embed import DEFAULT_MODEL, load_embedders
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import Candidates, Matcher
from disinfodb.matching.transcript import with_context
from disinfodb.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "benchmarks" / "checkthat2021-task2b"
CACHE = ROOT / "bench" / ".cache"
LAB_BM25_TEST = 0.3207
Scorer = Callable[[Candidates], npt.NDArray[np.float64]]


@dataclass
class Query:
    id: str
    sentence: str
    before: list[str]  # the transcript's sentences before it, nearest last
    gold: set[str]


def build_store() -> SQLiteStore:
    CACHE.mkdir(exist_ok=True)
    store = SQLiteStore(CACHE / "politifact.sqlite")
    if store.count() == 0:
        converted = CACHE / "politifact.csv"
        with open(DATA / "claims.jsonl", encoding="utf-8") as source, \
                open(converted, "w", encoding="utf-8", newline="") as target:
            writer = csv.writer(target)
            writer.writerow(["id", "title", "summary"])
            for line in source:
                claim = json.loads(line)
                writer.writerow([claim["id"], claim["title"] or claim["claim"], claim["claim"]])
        report = import_records(store, read_file(str(converted)))
        print(f"imported {report.created:,} fact-checks", file=sys.stderr)
    return store


def transcripts() -> dict[str, list[str]]:
    """Debate name -> its sentences by line (line n at index n - 1)."""
    out = {}
    for path in sorted((DATA / "transcripts").glob("*.tsv")):
        lines = [row.split("\t") for row in path.read_text(encoding="utf-8").splitlines() if row.strip()]
        out[path.stem] = [row[-1].strip() for row in lines]
    return out


def read_queries(split: str, debates: dict[str, list[str]], before: int) -> list[Query]:
    """The split's sentences, each found in its transcript (ids may misspell the debate: the closest
    name whose line holds the same sentence is taken)."""
    gold: dict[str, set[str]] = {}
    for row in (DATA / f"{split}-qrels.tsv").read_text(encoding="utf-8").splitlines():
        if row.strip():
            query_id, claim = row.split("\t")[:2]
            gold.setdefault(query_id, set()).add(claim)
    names = {name.casefold(): name for name in debates}
    queries = []
    for row in (DATA / f"{split}-queries.tsv").read_text(encoding="utf-8").splitlines():
        if not row.strip():
            continue
        query_id, sentence = row.split("\t")[:2]
        debate, _, number = query_id.rpartition("_")
        line = int(number) - 1
        candidates = difflib.get_close_matches(debate.casefold(), names, n=5, cutoff=0.6)
        found = next((names[c] for c in candidates if line < len(debates[names[c]])
                      and debates[names[c]][line].strip() == sentence.strip()), None)
        context = debates[found][max(0, line - before):line] if found else []
        queries.append(Query(query_id, sentence, context, gold.get(query_id, set())))
    return queries


def map_at_5(matcher: Matcher, ids: list[str], queries: list[Query], context: int,
             scorers: dict[str, Scorer]) -> dict[str, float]:
    results: dict[str, list[list[int]]] = {name: [] for name in scorers}
    for query in queries:
        said = [*query.before[len(query.before) - context:], query.sentence] if context else [query.sentence]
        units = [query.sentence, *with_context(said, context)[len(said):][-1:]]
        found = matcher.candidates_of(units)
        for name, score in scorers.items():
            order = found.rows[np.argsort(-score(found), kind="stable")]
            results[name].append([n + 1 for n, row in enumerate(order) if ids[int(row)] in query.gold])
    return {name: metrics(ranks, [len(q.gold) for q in queries])["MAP@5"] for name, ranks in results.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--max-context", type=int, default=4)
    args = parser.parse_args()
    store = build_store()
    matcher = Matcher(store, load_embedders(args.model))
    names = store.case_ids(matcher.index.case_pks.tolist())
    ids = [names[int(pk)][0] for pk in matcher.index.case_pks]
    debates = transcripts()
    split_queries = {split: read_queries(split, debates, args.max_context) for split in ("train", "dev")}
    located = sum(bool(q.before) for qs in split_queries.values() for q in qs)
    print(f"{len(ids):,} fact-checks; {sum(map(len, split_queries.values()))} queries, {located} located in "
          f"their transcript; model {args.model}")
    scorers: dict[str, Scorer] = {"lexical (BM25)": lambda c: c.lexical, "dense": lambda c: c.dense,
                                  "calibrated": matcher.scores}
    print(f"{'split':<6}{'context':>8}" + "".join(f"{name:>16}" for name in scorers))
    train = {}
    for context in range(args.max_context + 1):
        train[context] = map_at_5(matcher, ids, split_queries["train"], context, scorers)
        print(f"{'train':<6}{context:>8}" + "".join(f"{train[context][name]:>16.4f}" for name in scorers))
    best = max(train, key=lambda n: train[n]["calibrated"])
    for context in sorted({0, best}):
        dev = map_at_5(matcher, ids, split_queries["dev"], context, scorers)
        print(f"{'dev':<6}{context:>8}" + "".join(f"{dev[name]:>16.4f}" for name in scorers))
    print(f"context chosen on train: {best} sentences; the lab's BM25 baseline on test: {LAB_BM25_TEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
