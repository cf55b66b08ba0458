"""Search by meaning: the xling paraphrases as search-box queries over the real cases.

Run: .venv/bin/python -m bench.meaning_search [--cases 100000]

Every claim of bench/data/xling (120 per language, 8 languages: paraphrases and translations
of cases with a summary) is typed into the search box of the 13,665 real cases
(bench.web_pages' real.sqlite, default models) in each mode; Recall@10 counts the queries
whose case (or its scrape twin, near copy or judged same claim: bench.verdicts' gold) is
among the first ten hits. Nothing is fitted here. Also the time per search (p50, p99), same
process, same queries. With --cases N: the real cases plus synthetic ones up to N
(bench.match_speed's store, vectors cached in it after the first run), and the memory the
matching index takes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from bench.match_speed import build_store
from bench.measure import rss_mb
from bench.verdicts import LANGUAGES, ROOT, RealCorpus
from bench.web_pages import real_database
from disinfodb.embed import load_embedders
from disinfodb.matching import ClaimIndex, Matcher, meaning
from disinfodb.search import SearchMode, SearchQuery


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=0, help="real + synthetic cases (default: the real ones)")
    args = parser.parse_args()
    store = build_store(args.cases) if args.cases else real_database()
    embedders = load_embedders()
    for embedder in embedders:
        embedder.embed(["warm up"], "query")
    before, started = rss_mb(), time.perf_counter()
    index = ClaimIndex.build(store, embedders)
    print(f"{store.count():,} cases, {len(index.unit_text):,} claim units; index built in "
          f"{time.perf_counter() - started:.0f} s (embedding what was not cached), +{rss_mb() - before:.0f} MiB RSS",
          file=sys.stderr)
    matcher = Matcher(store, embedders, index)
    real = RealCorpus(store, matcher)
    pk_of_row = matcher.index.case_pks
    print(f"{len(real.cases):,} cases; model {matcher.name}", file=sys.stderr)
    print(f"{'lang':<6}" + "".join(f"{mode.value + ' R@10':>14}" for mode in SearchMode)
          + "".join(f"{mode.value + ' p50/p99 ms':>22}" for mode in SearchMode))
    for language in LANGUAGES:
        lines = (ROOT / "bench" / "data" / "xling" / f"{language}.jsonl").read_text().splitlines()
        items = [json.loads(line) for line in lines]
        recall, times = {}, {}
        gold_scores: list[float] = []
        for mode in SearchMode:
            found, took = [], []
            for item in items:
                gold = {int(pk_of_row[row]) for row in real.gold(real.by_content[item["content_id"]])}
                query = SearchQuery(text=item["text"], mode=mode, per_page=10)
                started = time.perf_counter()
                try:
                    results = meaning.search(store, query, matcher)
                except Exception as error:  # the words parser refuses some sentences: a miss, say why
                    print(f"  {language} {mode.value}: {error}", file=sys.stderr)
                    found.append(False)
                    continue
                took.append((time.perf_counter() - started) * 1000)
                pks = {store.pk_of(hit.id) for hit in results.hits}
                found.append(bool(pks & gold))
                if mode == SearchMode.MEANING:
                    gold_scores.extend(hit.score or 0.0 for hit in results.hits if store.pk_of(hit.id) in gold)
            recall[mode], times[mode] = float(np.mean(found)), took
        print(f"{language:<6}" + "".join(f"{recall[mode]:>14.3f}" for mode in SearchMode)
              + "".join(f"{np.percentile(times[mode], 50):>13.1f} / {np.percentile(times[mode], 99):>6.1f}"
                        for mode in SearchMode))
        print(f"      meaning: the right case's score in the first ten, 1st/5th/50th percentile "
              f"{' / '.join(f'{np.percentile(gold_scores, q):.3f}' for q in (1, 5, 50))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
