"""Cross-lingual claim matching on real EUvsDisinfo cases.

Run: .venv/bin/python -m bench.crosslingual [--model use-m+e5-small] [--write-calibration]

All 2,769 cases of ../shared/data/euvsdisinfo-2015-2017 are imported with our importer.
bench/data/xling/<lang>.jsonl hold 120 of them, drawn at random (seed 2026, summaries of
60-700 characters, distinct titles), paraphrased by hand in English and rendered in
Russian, Ukrainian, Spanish, German, French, Polish and Czech (the languages the cases
were published in); each line names its case by content id.

The first 40 claims of every language are the dev split: the dense-only half of the
calibration (used when the input's words are not the corpus's language) is fitted and
its label thresholds chosen there (--write-calibration). The other 80 claims per language
are the test split reported here: Recall@1/@5 for the bare model (best-pair cosine, no
pipeline) and for the shipped pipeline, the labels it gave, and the drop from English.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.retrieval import CALIBRATION, MATCH_AT, RELATED_AT, fit, label_quality, without_gold
from disinfodb.embed import DEFAULT_MODEL, load_embedders
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import Candidates, Matcher, load_calibration
from disinfodb.matching.calibration import logistic
from disinfodb.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "data" / "euvsdisinfo-2015-2017" / "cases.csv"
PARAPHRASES = ROOT / "bench" / "data" / "xling"
CACHE = ROOT / "bench" / ".cache"
LANGUAGES = ("en", "ru", "uk", "es", "de", "fr", "pl", "cs")
DEV_CLAIMS = 40


def build_store() -> SQLiteStore:
    CACHE.mkdir(exist_ok=True)
    store = SQLiteStore(CACHE / "euvsdisinfo-2017.sqlite")
    if store.count() == 0:
        import_records(store, read_file(str(CASES)))
    return store


def recall(ranks: list[int], k: int) -> float:
    return float(np.mean([rank <= k for rank in ranks]))


def rank_of(found: Candidates, scores: npt.NDArray[np.float64], gold: int) -> int:
    order = found.rows[np.argsort(-scores, kind="stable")]
    hits = np.flatnonzero(order == gold)
    return int(hits[0]) + 1 if len(hits) else 10**6


def write_dense_calibration(model: str, dev: list[tuple[Candidates, int]],
                            negatives: list[Candidates]) -> None:
    """Fit the dense-only model on the dev claims of every language, and on the same
    claims with their case left out of the corpus (inputs that repeat no case)."""
    labels = [(found.rows == gold).astype(np.int64) for found, gold in dev]
    labels += [np.zeros(len(f.rows), dtype=np.int64) for f in negatives]
    found = [f for f, _ in dev] + negatives
    columns = found[0].dense_columns
    dense = fit(found, labels, columns)
    scores = [logistic(f.features[:, :columns], dense) for f in found]
    match_at, related_at = MATCH_AT, RELATED_AT
    print(f"'match' label (dense-only score >= {match_at}) on xling dev: {label_quality(scores, labels, match_at)}")
    current = json.loads(CALIBRATION.read_text())
    if model not in current:
        raise SystemExit(f"run `python -m bench.retrieval --model {model} --write-calibration` first")
    current[model] |= {"dense": list(dense), "dense_match_at": match_at, "dense_related_at": related_at,
                       "source_dense": f"bench/data/xling: the first {DEV_CLAIMS} claims of 8 languages"}
    CALIBRATION.write_text(json.dumps(current, indent=2) + "\n")
    print(f"wrote {CALIBRATION}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--write-calibration", action="store_true")
    args = parser.parse_args()
    store = build_store()
    embedders = load_embedders(args.model)
    matcher = Matcher(store, embedders)
    row_of_content = {case.content_id: int(np.searchsorted(matcher.index.case_pks, store.pk_of(case.id)))
                      for case in store.iter_cases()}
    queries = {language: [json.loads(line) for line in (PARAPHRASES / f"{language}.jsonl").read_text().splitlines()]
               for language in LANGUAGES}
    found = {language: [(matcher.candidates(q["text"]), row_of_content[q["content_id"]]) for q in lines]
             for language, lines in queries.items()}
    if args.write_calibration:
        dev = [(q["text"], row_of_content[q["content_id"]]) for lines in queries.values() for q in lines[:DEV_CLAIMS]]
        negatives = without_gold(matcher, [text for text, _ in dev], [{gold} for _, gold in dev])
        write_dense_calibration(args.model, [pair for pairs in found.values() for pair in pairs[:DEV_CLAIMS]],
                                negatives)
        matcher.calibration = load_calibration(matcher.name)
    print(f"{len(matcher.index.case_pks):,} cases; model {args.model}; test split: claims "
          f"{DEV_CLAIMS + 1}-{len(queries['en'])} of each language")
    print(f"{'lang':<5} {'n':>4} {'bare R@1':>9} {'bare R@5':>9} {'ours R@1':>9} {'ours R@5':>9} "
          f"{'match (right)':>13} {'related':>8}")
    english: float | None = None
    for language, pairs in found.items():
        test = pairs[DEV_CLAIMS:]
        bare = [rank_of(f, f.dense, gold) for f, gold in test]
        ours, labels, right = [], {"match": 0, "related": 0, "none": 0}, 0
        for f, gold in test:
            scores = matcher.scores(f)
            ours.append(rank_of(f, scores, gold))
            label = matcher.label(float(scores.max()), f.trust)
            labels[label] += 1
            right += label == "match" and ours[-1] == 1
        english = recall(ours, 1) if english is None else english
        drop = "" if language == "en" else f"  (drop from en: R@1 {english - recall(ours, 1):+.3f})"
        print(f"{language:<5} {len(test):>4} {recall(bare, 1):>9.3f} {recall(bare, 5):>9.3f} "
              f"{recall(ours, 1):>9.3f} {recall(ours, 5):>9.3f} {labels['match']:>6} ({right:>4}) "
              f"{labels['related']:>8}{drop}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
