"""Related cases on the real archive: today's ranking (claim cosine) against disinfodb.related.

Run: .venv/bin/python -m bench.related [--db PATH] [--tune]

Every real case (seed + both scrapes, 13,665; bench/.cache/real.sqlite unless --db names
another copy), use-m claim vectors, narratives built first if the database has none.
Cases are split by a hash of their id: sha1(id) % 10 == 0 is the held-out set (only
measured), == 1 the tuning set (`--tune` prints its grid; the shipped weights were read
off it). Only cases with at least one keyword are scored. Per case, the top 5 of:
- today: the ranking before issue 14 (Matcher.related then): claim cosine, a candidate
  left out when its casefolded title or a cosine >= NEAR_DUPLICATE repeats one listed;
- new: disinfodb.related.related_cases with the shipped weights.
Measured, in the same run: the share of top-5 entries that share a keyword (folded, as the
keyword facet groups them) with the case; the share of lists with two entries of one
normalised title (disinfodb.related.title_key); the mean claim cosine of the top 5 (what
the reranking gives up of claim similarity); the share of entries in the case's narrative;
time per list.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.web_pages import real_database
from disinfodb.cases import Case
from disinfodb.embed import load_embedders
from disinfodb.matching import ClaimIndex, Matcher
from disinfodb.matching.matcher import NEAR_DUPLICATE
from disinfodb.narratives import build_narratives
from disinfodb.related import Weights, related_cases, title_key
from disinfodb.store import SQLiteStore, Store
from disinfodb.vocab import fold

TOP = 5
Ranking = Callable[[str], list[tuple[str, str, float]]]  # case id -> (id, title, cosine), best first


def part(case_id: str) -> int:
    """The case's tenth (0: held out, 1: tuning): stable across runs and machines."""
    return int(hashlib.sha1(case_id.encode()).hexdigest(), 16) % 10


def todays(matcher: Matcher, store: Store, case_id: str, k: int = TOP) -> list[tuple[str, str, float]]:
    """The ranking before issue 14, as Matcher.related wrote it: claim cosine, near copies skipped."""
    row, sims, _ = matcher.neighbourhood(case_id)
    pool = np.array([i for i in np.argsort(-sims, kind="stable")[:4 * k + 1] if i != row], dtype=np.int64)
    cases = matcher.index.cases
    between = cases.cosines(cases.take(pool))[:, pool]
    names = store.case_ids([int(matcher.index.case_pks[i]) for i in pool])
    kept: list[int] = []
    titles: set[str] = set()
    for position, candidate in enumerate(pool):
        title = " ".join(names[int(matcher.index.case_pks[candidate])][1].casefold().split())
        if title in titles or any(between[position, other] >= NEAR_DUPLICATE for other in kept):
            continue
        kept.append(position)
        titles.add(title)
        if len(kept) == k:
            break
    return [(*names[int(matcher.index.case_pks[pool[p]])], float(sims[pool[p]])) for p in kept]


def measure(rank: Ranking, cases: list[Case], by_id: dict[str, Case]) -> dict[str, float]:
    shares, cosines, narrative, duplicated, seconds = [], [], [], 0, []
    for case in cases:
        started = time.perf_counter()
        found = rank(case.id)[:TOP]
        seconds.append(time.perf_counter() - started)
        mine = {fold(k) for k in case.keywords}
        shares.append(statistics.fmean(bool(mine & {fold(k) for k in by_id[cid].keywords}) for cid, _, _ in found))
        cosines.append(statistics.fmean(score for _, _, score in found))
        narrative.append(statistics.fmean(bool(case.narratives) and by_id[cid].narratives == case.narratives
                                          for cid, _, _ in found))
        keys = [title_key(title) for _, title, _ in found]
        duplicated += len(set(keys)) < len(keys)
    return {"keyword share": statistics.fmean(shares), "lists with a repeated title": duplicated / len(cases),
            "mean cosine": statistics.fmean(cosines), "same narrative": statistics.fmean(narrative),
            "ms per list": 1000 * statistics.median(seconds)}


def new(matcher: Matcher, store: Store, weights: Weights) -> Ranking:
    return lambda case_id: [(r.case_id, r.title, r.similarity) for r in related_cases(matcher, store, case_id, TOP,
                                                                                       weights)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="a database of the real cases (default bench/.cache/real.sqlite)")
    parser.add_argument("--tune", action="store_true", help="print the grid on the tuning set instead")
    args = parser.parse_args()
    store = SQLiteStore(args.db) if args.db else real_database()
    if not store.narratives.all():
        print(f"narratives built: {build_narratives(store, 'use-m').narratives}")
    embedders = load_embedders("use-m")
    matcher = Matcher(store, embedders, ClaimIndex.build(store, embedders))
    every = list(store.iter_cases())
    by_id = {case.id: case for case in every}
    chosen = [case for case in every if case.keywords and part(case.id) == (1 if args.tune else 0)]
    print(f"{len(every):,} real cases ({store.location}); {'tuning' if args.tune else 'held-out'} set:"
          f" {len(chosen):,} cases with keywords (sha1(id) % 10 == {1 if args.tune else 0}); top {TOP}; use-m")
    if args.tune:
        chosen = chosen[:400]
        for lexical, keywords, narrative, rebuttal in itertools.product((0, 0.1, 0.2), (0, 0.1, 0.15, 0.2, 0.3),
                                                                       (0, 0.05), (0, 0.05)):
            weights = Weights(lexical, keywords, narrative, rebuttal)
            print(weights, _line(measure(new(matcher, store, weights), chosen, by_id)), flush=True)
        return 0
    for name, rank in (("today", lambda cid: todays(matcher, store, cid)),
                       (f"new {Weights()}", new(matcher, store, Weights()))):
        print(f"{name}: {_line(measure(rank, chosen, by_id))}", flush=True)
    return 0


def _line(numbers: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" if name != "ms per list" else f"{name} {value:.1f}"
                     for name, value in numbers.items())


if __name__ == "__main__":
    raise SystemExit(main())
