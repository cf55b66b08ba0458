"""Suggested metadata on the real archive: a split by date, against two baselines.

Run: .venv/bin/python -m bench.suggest

Every real case (seed + both scrapes, 13,665, bench/.cache/real.sqlite; the default models'
claim vectors cached there). Trained on the cases published before CUT (the library's own
dev slice, the newest 15% of them, calibrates the scores and sets each facet's threshold),
tested once on the cases from CUT on, whose texts ("title. summary") go through the
library's text path (cut into units, embedded with both models). In the same run:
- frequency baseline: the most common values of the training cases (micro-F1 with the
  number of values fitted on the dev slice);
- nearest-neighbour baseline: the values of the most similar training case (micro-F1),
  then of the next most similar ones until there are 5 (recall@5).
micro-F1 counts every (case, value) pair; recall@5: per case with values, the share of
them among the top 5, averaged. The four seed cases are left out of training; each one's
top 5 keywords are printed, its recorded ones marked.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import numpy.typing as npt
import scipy.sparse

from bench.web_pages import real_database
from disinfodb.ingest import read_file
from disinfodb.matching import Matcher, open_matcher
from disinfodb.suggest import MetadataModel
from disinfodb.suggest.metadata import SUGGESTED, case_features, dev_slice, text_features

CUT = date(2020, 5, 1)
SEEDS = "../shared/seeds/000_4ffc5d384efea8bd.txt"
Bools = npt.NDArray[np.bool_]


def micro_f1(predicted: Bools, truth: Bools) -> float:
    hits = (predicted & truth).sum()
    return float(2 * hits / max(1, predicted.sum() + truth.sum()))


def recall_at(ranked: npt.NDArray[np.int64], truth: Bools, k: int = 5) -> float:
    has = truth.sum(axis=1) > 0
    hits = np.take_along_axis(truth, ranked[:, :k], axis=1).sum(axis=1)
    return float((hits[has] / truth.sum(axis=1)[has]).mean())


def nearest_ranking(order: npt.NDArray[np.int64], carried: Bools, k: int = 5) -> npt.NDArray[np.int64]:
    """Per query: the values of its nearest cases, nearest first, until there are k (padded
    with the most common values)."""
    common = list(np.argsort(-carried.sum(axis=0), kind="stable"))
    out = np.zeros((len(order), k), dtype=np.int64)
    for q, cases in enumerate(order):
        seen: list[int] = []
        for case in cases:
            seen += [int(v) for v in np.flatnonzero(carried[case]) if v not in seen]
            if len(seen) >= k:
                break
        seen += [int(v) for v in common if v not in seen][:max(0, k - len(seen))]
        out[q] = seen[:k]
    return out


def _tiled(values: npt.NDArray[np.int64], truth: Bools) -> Bools:
    """The same values predicted for every case."""
    one = np.zeros(truth.shape[1], dtype=bool)
    one[values] = True
    return np.tile(one, (len(truth), 1))


def print_seeds(matcher: Matcher, features: npt.NDArray[np.float32],
                labels: dict[str, tuple[list[str], scipy.sparse.csr_matrix]], published: npt.NDArray[np.int64],
                seed: Bools, names: dict[int, tuple[str, str]]) -> None:
    """Each seed case's top 5 keywords from the models trained on every other case."""
    index, texts = matcher.index, matcher.store.claim_texts()
    print("\nseed cases, trained on every other case:")
    everyone = ~seed
    full = MetadataModel.train(features[everyone], {n: (v, c[everyone]) for n, (v, c) in labels.items()},
                               published[everyone])
    rows_ = np.flatnonzero(seed)
    found = full.suggest(text_features(matcher.embedders, [texts[int(index.case_pks[r])] for r in rows_]), limit=5)
    keyword_names, keyword_carried = labels["keywords"]
    for row, suggestions in zip(rows_, found, strict=True):
        real = {keyword_names[v] for v in scipy.sparse.find(keyword_carried[row])[1]}
        shown = ", ".join(f"{s.value}{' *' if s.value in real else ''} ({s.score:.2f})" for s in suggestions.keywords)
        recorded = f"recorded: {', '.join(sorted(real))}" if real else "no keywords recorded in the seed file"
        print(f"- {names[int(index.case_pks[row])][1][:70]}\n  top 5: {shown}\n  {recorded}")


def main() -> int:
    store = real_database()
    started = time.perf_counter()
    matcher = open_matcher(store)
    index, terms = matcher.index, store.term_index()
    print(f"claim vectors of {len(index.case_pks):,} cases ({matcher.name}) in {time.perf_counter() - started:.1f} s")
    features = case_features(index)
    labels = {name: terms.facet_matrix(facet, index.case_pks) for name, facet in SUGGESTED.items()}
    published = terms.published[index.case_pks]
    names = store.case_ids([int(pk) for pk in index.case_pks])
    seed_titles = {r.case.title for r in read_file(SEEDS) if r.case}
    seed = np.array([names[int(pk)][1] in seed_titles for pk in index.case_pks])
    cut = CUT.toordinal()
    train = (published >= 0) & (published < cut) & ~seed
    test = (published >= cut) & ~seed
    dev = np.zeros(len(train), dtype=bool)
    dev[np.flatnonzero(train)[dev_slice(published[train])]] = True
    print(f"train: {train.sum():,} cases before {CUT} (dev slice: the {dev.sum():,} from"
          f" {date.fromordinal(int(published[dev].min()))}); test: {test.sum():,} cases from {CUT}"
          f" ({test.sum() / (train.sum() + test.sum()):.1%}); seeds left out: {seed.sum()}")

    started = time.perf_counter()
    model = MetadataModel.train(features[train], {n: (v, c[train]) for n, (v, c) in labels.items()}, published[train])
    print(f"trained in {time.perf_counter() - started:.1f} s")
    texts = store.claim_texts()
    started = time.perf_counter()
    test_features = text_features(matcher.embedders, [texts[int(pk)] for pk in index.case_pks[test]])
    print(f"test texts embedded in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    probabilities = model.models.probabilities(test_features)
    print(f"scored in {time.perf_counter() - started:.2f} s ({1000 * (time.perf_counter() - started) / test.sum():.1f}"
          " ms a claim, batched)")
    near = np.argsort(-(test_features @ features[train].T), axis=1)[:, :50]

    print("\n| facet | method | micro-F1 | recall@5 |\n|---|---|---|---|")
    for name, (_, carried) in labels.items():
        train_values = carried[train].toarray() > 0
        truth = carried[test].toarray() > 0
        facet = model.models.facets[name]
        ours = probabilities[name]
        ranked = np.argsort(-ours, axis=1, kind="stable")
        by_count = np.argsort(-train_values.sum(axis=0), kind="stable")
        fit_count = np.argsort(-(carried[train & ~dev].toarray() > 0).sum(axis=0), kind="stable")
        dev_truth = carried[dev].toarray() > 0
        best_n = max(range(1, 21), key=lambda n: micro_f1(_tiled(fit_count[:n], dev_truth), dev_truth))
        nearest = train_values[near[:, 0]]
        rows = [(f"frequency (top {best_n})", micro_f1(_tiled(by_count[:best_n], truth), truth),
                 recall_at(np.tile(by_count, (len(truth), 1)), truth)),
                ("nearest case", micro_f1(nearest, truth), recall_at(nearest_ranking(near, train_values), truth)),
                (f"**shipped** (threshold {facet.threshold:.3f})", micro_f1(ours >= facet.threshold, truth),
                 recall_at(ranked, truth))]
        for method, f1, r5 in rows:
            print(f"| {name} | {method} | {f1:.3f} | {r5:.3f} |")

    print_seeds(matcher, features, labels, published, seed, names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
