"""Cross-lingual claim matching on real EUvsDisinfo cases.

Run: .venv/bin/python -m bench.crosslingual [--model use-m]

All 2,769 cases of ../shared/data/euvsdisinfo-2015-2017 are imported with our importer.
bench/data/xling/<lang>.jsonl hold 120 of them, drawn at random (seed 2026, summaries of
60-700 characters, distinct titles), paraphrased by hand in English and rendered in
Russian, Ukrainian, Spanish, German, French, Polish and Czech (the languages the cases
were published in); each line names its case by content id. Each paraphrase is matched
against all cases; we report Recall@1/@5 per language for the bare model (best-pair
cosine, no pipeline) and for the shipped pipeline, and the drop from English.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from disinfodb.embed import load_embedders
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.match import ClaimIndex, Matcher
from disinfodb.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "data" / "euvsdisinfo-2015-2017" / "cases.csv"
PARAPHRASES = ROOT / "bench" / "data" / "xling"
CACHE = ROOT / "bench" / ".cache"
LANGUAGES = ("en", "ru", "uk", "es", "de", "fr", "pl", "cs")


def build_store() -> SQLiteStore:
    CACHE.mkdir(exist_ok=True)
    store = SQLiteStore(CACHE / "euvsdisinfo-2017.sqlite")
    if store.count() == 0:
        import_records(store, read_file(str(CASES)))
    return store


def recall(ranks: list[int], k: int) -> float:
    return float(np.mean([rank <= k for rank in ranks]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="use-m")
    args = parser.parse_args()
    store = build_store()
    embedders = load_embedders(args.model)
    matcher = Matcher(store, embedders, ClaimIndex.build(store, embedders))
    row_of_content = {case.content_id: int(np.searchsorted(matcher.index.case_pks, store.pk_of(case.id)))
                      for case in store.iter_cases()}
    print(f"{len(matcher.index.case_pks):,} cases; model {args.model}; calibration "
          f"{'fitted' if matcher.calibration else 'none (RRF)'}")
    print(f"{'lang':<5} {'n':>4} {'bare R@1':>9} {'bare R@5':>9} {'ours R@1':>9} {'ours R@5':>9} "
          f"{'match':>6} {'related':>8}")
    english: tuple[float, float] | None = None
    for language in LANGUAGES:
        lines = [json.loads(line) for line in (PARAPHRASES / f"{language}.jsonl").read_text().splitlines()]
        bare, ours, labels = [], [], {"match": 0, "related": 0, "none": 0}
        for line in lines:
            gold = row_of_content[line["content_id"]]
            found = matcher.candidates(line["text"])
            position = {int(r): n for n, r in enumerate(found.rows[np.argsort(-found.features[:, 0])])}
            bare.append(position.get(gold, 10**6) + 1)
            scores = matcher.scores(found)
            order = found.rows[np.argsort(-scores, kind="stable")]
            ranked = {int(r): n for n, r in enumerate(order)}
            ours.append(ranked.get(gold, 10**6) + 1)
            if ranked.get(gold) == 0:
                labels[matcher.label(float(scores.max()))] += 1
        row = (recall(ours, 1), recall(ours, 5))
        english = english or row
        drop = "" if language == "en" else f"  (drop from en: R@1 {english[0] - row[0]:+.3f})"
        print(f"{language:<5} {len(lines):>4} {recall(bare, 1):>9.3f} {recall(bare, 5):>9.3f} "
              f"{row[0]:>9.3f} {row[1]:>9.3f} {labels['match']:>6} {labels['related']:>8}{drop}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
