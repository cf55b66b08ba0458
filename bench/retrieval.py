"""Retrieval quality of claim matching on gold-labelled data no one here wrote.

Run: .venv/bin/python -m bench.retrieval [--model use-m+e5-small]

CLEF 2020 CheckThat! Task 2 (../shared/benchmarks/checkthat2020-task2): 10,373 Snopes
verified claims become cases through our own CSV importer; each tweet is matched with
`Matcher.candidates`. Configurations, side by side on the test split:
  lexical  BM25 (bm25s) of the tweet against title + claim;
  dense    the model's best-pair cosine;
  rrf      reciprocal-rank fusion of the two;
  calibrated  the shipped calibration (resources/calibration.json, fitted by bench.verdicts
              on the train split among others; dev for the thresholds).
Only the test split is reported here.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from disinfodb.embed import DEFAULT_MODEL, load_embedders
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import Candidates, Matcher
from disinfodb.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "benchmarks" / "checkthat2020-task2"
CACHE = ROOT / "bench" / ".cache"
CALIBRATION = ROOT / "disinfodb" / "resources" / "calibration.json"
PUBLISHED_BEST_MAP5 = 0.929  # Buster.AI, CheckThat! 2020 Task 2 overview (Shaar et al.)
COLUMNS = ("MAP@1", "MAP@5", "MRR", "R@1", "R@5", "R@20")
Scorer = Callable[[Candidates], npt.NDArray[np.float64]]


@dataclass
class Query:
    id: str
    text: str
    gold: set[str]


def read_queries(split: str) -> list[Query]:
    qrels: dict[str, set[str]] = {}
    for line in (DATA / split / "tweet-vclaim-pairs.qrels").read_text().splitlines():
        if line.strip():
            tweet, _, claim, relevance = line.split("\t")
            if int(relevance) > 0:
                qrels.setdefault(tweet, set()).add(f"vclaim-{claim}")
    with open(DATA / split / "tweets.queries.tsv", encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [Query(tweet, text, qrels[tweet]) for tweet, text in rows if tweet in qrels]


def build_store() -> SQLiteStore:
    """The verified claims as cases (title = Snopes headline, summary = the claim), imported once."""
    CACHE.mkdir(exist_ok=True)
    store = SQLiteStore(CACHE / "checkthat.sqlite")
    if store.count() == 0:
        converted = CACHE / "verified_claims.csv"
        with open(DATA / "verified_claims.docs.tsv", encoding="utf-8", newline="") as source, \
                open(converted, "w", encoding="utf-8", newline="") as target:
            writer = csv.writer(target)
            writer.writerow(["id", "title", "summary"])
            for row in list(csv.reader(source, delimiter="\t"))[1:]:
                claim_id, claim, *rest = row
                title = rest[0] if rest else ""
                writer.writerow([f"vclaim-{claim_id}", title or claim, claim])
        report = import_records(store, read_file(str(converted)))
        print(f"imported {report.created:,} verified claims", file=sys.stderr)
    return store


def ranks_of(ids: list[str], order: Iterable[int], gold: set[str]) -> list[int]:
    return [rank for rank, i in enumerate(order, start=1) if ids[i] in gold]


def metrics(all_ranks: list[list[int]], gold_sizes: list[int]) -> dict[str, float]:
    """MAP@1/@5, MRR and Recall@1/5/20 from the ranks at which gold items were found."""
    def average_precision(ranks: list[int], size: int, k: int) -> float:
        hits = sorted(r for r in ranks if r <= k)
        return sum((n + 1) / r for n, r in enumerate(hits)) / min(size, k) if size else 0.0
    out = {f"MAP@{k}": float(np.mean([average_precision(r, s, k) for r, s in zip(all_ranks, gold_sizes,
                                                                                  strict=True)]))
           for k in (1, 5)}
    out["MRR"] = float(np.mean([1 / min(r) if r else 0.0 for r in all_ranks]))
    for k in (1, 5, 20):
        found = [len([x for x in r if x <= k]) / s for r, s in zip(all_ranks, gold_sizes, strict=True)]
        out[f"R@{k}"] = float(np.mean(found))
    return out


def candidate_sets(matcher: Matcher, queries: list[Query]) -> list[Candidates]:
    return [matcher.candidates(q.text) for q in queries]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    store = build_store()
    embedders = load_embedders(args.model)
    started = time.perf_counter()
    matcher = Matcher(store, embedders)
    print(f"index: {len(matcher.index.case_pks):,} cases, {len(matcher.index.unit_text):,} units, "
          f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
    ids_by_pk = {pk: cid for pk, (cid, _) in store.case_ids(matcher.index.case_pks.tolist()).items()}
    ids = [ids_by_pk[int(pk)] for pk in matcher.index.case_pks]
    test = read_queries("test")
    found = candidate_sets(matcher, test)
    configurations: dict[str, Scorer] = {
        "lexical (BM25)": lambda c: c.lexical,
        f"dense ({args.model})": lambda c: c.dense,
        "rrf": lambda c: c.rrf(),
        "calibrated (shipped)": matcher.scores,
    }
    print(f"\nCheckThat! 2020 Task 2, test split ({len(test)} tweets, "
          f"{len(ids):,} verified claims), model {args.model}")
    print(f"{'configuration':<24}" + "".join(f"{m:>8}" for m in COLUMNS))
    for name, score in configurations.items():
        ranks = []
        for f, q in zip(found, test, strict=True):
            order = f.rows[np.argsort(-score(f), kind="stable")]
            position = {int(r): n for n, r in enumerate(order)}
            gold_rows = [ids.index(g) for g in q.gold if g in ids]
            ranks.append([position[i] + 1 for i in gold_rows if i in position])
        result = metrics(ranks, [len(q.gold) for q in test])
        print(f"{name:<24}" + "".join(f"{result[m]:>8.3f}" for m in COLUMNS))
    print(f"{'best published (MAP@5)':<24}{'':>8}{PUBLISHED_BEST_MAP5:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
