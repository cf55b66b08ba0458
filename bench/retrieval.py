"""Retrieval quality of claim matching on gold-labelled data no one here wrote.

Run: .venv/bin/python -m bench.retrieval [--model use-m+e5-small] [--write-calibration]

CLEF 2020 CheckThat! Task 2 (../shared/benchmarks/checkthat2020-task2): 10,373 Snopes
verified claims become cases through our own CSV importer; each tweet is matched with
`Matcher.candidates`. Configurations, side by side on the test split:
  lexical  BM25 (bm25s) of the tweet against title + claim;
  dense    the model's best-pair cosine;
  rrf      reciprocal-rank fusion of the two;
  calibrated  the logistic model over both channels' features, fitted on train (the
              shipped configuration; --write-calibration stores it, with label thresholds
              chosen on dev, in disinfodb/resources/calibration.json).
Only train and dev are used for fitting and thresholds; test is reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression

from disinfodb.embed import DEFAULT_MODEL, load_embedders
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import Calibration, Candidates, Matcher
from disinfodb.matching.calibration import feature_names
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


def without_gold(matcher: Matcher, texts: list[str], gold_rows: list[set[int]]) -> list[Candidates]:
    """The same inputs with their gold cases left out of the corpus: inputs that repeat no
    case, whose best candidates are near misses. Fitting on them too teaches the
    calibration that being ranked first is not being the same claim."""
    pks = matcher.index.case_pks
    return [matcher.candidates(text, allowed=np.delete(pks, sorted(gold)))
            for text, gold in zip(texts, gold_rows, strict=True)]


def labels_for(found: Candidates, ids: list[str], gold: set[str]) -> npt.NDArray[np.int64]:
    return np.array([ids[int(r)] in gold for r in found.rows], dtype=np.int64)


def fit(train: list[Candidates], train_labels: list[npt.NDArray[np.int64]],
        columns: int) -> tuple[float, ...]:
    """A ranker, then its calibration, on the first `columns` features: weights, then bias.

    The ranking weights come from a pairwise logistic regression (each gold candidate
    against each other candidate of the same tweet: the model learns to order, not to
    classify an imbalanced pool); a Platt fit on the ranking score then turns it into a
    probability. Both are linear, so the result is one logistic model.
    """
    differences = []
    for found, gold in zip(train, train_labels, strict=True):
        features = found.features[:, :columns]
        for positive in features[gold == 1]:
            differences.append(positive - features[gold == 0])
    pairs = np.vstack(differences)
    ranker = LogisticRegression(C=1.0, max_iter=5000, fit_intercept=False)
    ranker.fit(np.vstack([pairs, -pairs]), np.concatenate([np.ones(len(pairs)), np.zeros(len(pairs))]))
    weights = ranker.coef_[0]
    ranking = np.concatenate([f.features[:, :columns] @ weights for f in train])
    platt = LogisticRegression(C=100.0, max_iter=5000)
    platt.fit(ranking[:, np.newaxis], np.concatenate(train_labels))
    scale = float(platt.coef_[0][0])
    return (*(float(w) * scale for w in weights), float(platt.intercept_[0]))


MATCH_AT, RELATED_AT = 0.9, 0.3  # on calibrated probabilities (Platt fit on train / xling dev)


def label_quality(scores: list[npt.NDArray[np.float64]], labels: list[npt.NDArray[np.int64]],
                  at: float) -> str:
    """How the top candidate's label fares at a threshold: precision and coverage."""
    top = [(float(s.max()), int(gold[int(s.argmax())])) for s, gold in zip(scores, labels, strict=True) if len(s)]
    chosen = [hit for score, hit in top if score >= at]
    precision = sum(chosen) / len(chosen) if chosen else float("nan")
    return f"precision {precision:.3f} on {len(chosen)} of {len(top)} inputs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--write-calibration", action="store_true")
    args = parser.parse_args()
    store = build_store()
    embedders = load_embedders(args.model)
    started = time.perf_counter()
    matcher = Matcher(store, embedders)
    print(f"index: {len(matcher.index.case_pks):,} cases, {len(matcher.index.unit_text):,} units, "
          f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
    ids_by_pk = {pk: cid for pk, (cid, _) in store.case_ids(matcher.index.case_pks.tolist()).items()}
    ids = [ids_by_pk[int(pk)] for pk in matcher.index.case_pks]
    splits = {name: read_queries(name) for name in ("train", "dev", "test")}
    found = {name: candidate_sets(matcher, qs) for name, qs in splits.items()}
    labels = {name: [labels_for(f, ids, q.gold) for f, q in zip(found[name], splits[name], strict=True)]
              for name in splits}
    row_of = {case_id: row for row, case_id in enumerate(ids)}
    negatives = without_gold(matcher, [q.text for q in splits["train"]],
                             [{row_of[g] for g in q.gold if g in row_of} for q in splits["train"]])
    found["train"] += negatives
    labels["train"] += [np.zeros(len(f.rows), dtype=np.int64) for f in negatives]
    full = fit(found["train"], labels["train"], found["train"][0].features.shape[1])
    # Until bench.crosslingual fits the dense-only part on other-language data, fit it here.
    dense = fit(found["train"], labels["train"], found["train"][0].dense_columns)
    match_at, related_at = MATCH_AT, RELATED_AT
    calibration = Calibration(full, dense, match_at, related_at, match_at, related_at)
    for split in ("dev", "test"):
        scores = [calibration.score(f) for f in found[split]]
        print(f"'match' label (score >= {match_at}) on {split}: {label_quality(scores, labels[split], match_at)}")
    unmatched = without_gold(matcher, [q.text for q in splits["test"]],
                             [{row_of[g] for g in q.gold if g in row_of} for q in splits["test"]])
    tops = [float(calibration.score(f).max()) for f in unmatched if len(f.rows)]
    print(f"test tweets with their claim removed: top labelled match {sum(t >= match_at for t in tops)}, "
          f"related {sum(related_at <= t < match_at for t in tops)}, none {sum(t < related_at for t in tops)}")
    configurations: dict[str, Scorer] = {
        "lexical (BM25)": lambda c: c.lexical,
        f"dense ({args.model})": lambda c: c.dense,
        "rrf": lambda c: c.rrf(),
        "calibrated (shipped)": calibration.score,
    }
    print(f"\nCheckThat! 2020 Task 2, test split ({len(splits['test'])} tweets, "
          f"{len(ids):,} verified claims), model {args.model}")
    print(f"{'configuration':<24}" + "".join(f"{m:>8}" for m in COLUMNS))
    for name, score in configurations.items():
        ranks = []
        for f, q in zip(found["test"], splits["test"], strict=True):
            order = f.rows[np.argsort(-score(f), kind="stable")]
            position = {int(r): n for n, r in enumerate(order)}
            gold_rows = [ids.index(g) for g in q.gold if g in ids]
            ranks.append([position[i] + 1 for i in gold_rows if i in position])
        result = metrics(ranks, [len(q.gold) for q in splits["test"]])
        print(f"{name:<24}" + "".join(f"{result[m]:>8.3f}" for m in COLUMNS))
    print(f"{'best published (MAP@5)':<24}{'':>8}{PUBLISHED_BEST_MAP5:>8.3f}")
    names = (*feature_names([e.name for e in embedders]), "bias")
    print(f"\nweights {dict(zip(names, (round(w, 2) for w in full), strict=True))}")
    if args.write_calibration:
        current = json.loads(CALIBRATION.read_text()) if CALIBRATION.exists() else {}
        entry = {"dense": list(dense), "dense_match_at": match_at, "dense_related_at": related_at} | \
            current.get(args.model, {})
        entry |= {"full": list(full), "match_at": match_at, "related_at": related_at,
                  "source_full": "CheckThat! 2020 Task 2: train (fit), dev (thresholds)"}
        current[args.model] = entry
        CALIBRATION.write_text(json.dumps(current, indent=2) + "\n")
        print(f"wrote {CALIBRATION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
