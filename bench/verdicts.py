"""Verdicts an analyst can trust: the calibration fitted, and its labels measured per language and kind of case.

Run: .venv/bin/python -m bench.verdicts [--model use-m+e5-small] [--write-calibration]

Corpora: every real case of ../shared/data (13,665: 2,771 with a summary from the 2015-2017
scrape, 10,892 title-only from the 2015-2021 one; bench.web_pages' real.sqlite), and for
the tweets the 10,373 Snopes claims of CheckThat! 2020 Task 2 (bench.retrieval's store).
The two scrapes hold many of the same cases (same day, the newer title often cut short with
"…"): such twins count as the same case everywhere below.

Training pairs (fit the two logistic models, and choose the thresholds):
  checkthat    CheckThat! 2020 train tweets -> their verified claims (English);
  xling        bench/data/xling claims 1-40 in 8 languages -> their 2015-2017 case;
  xling-titles bench/data/xling-titles claims 1-60 in 8 languages -> their title-only case;
  mined        1,000 2015-2017 summaries -> their title-only twin, the summary's own case
               left out of the corpus (no test case or twin of one among them);
each also with its gold cases left out of the corpus: inputs that repeat no case, whose
best candidates are near misses, so that ranking first is not taken for being the claim.

A case's gold is the case, its scrape twins, its near copies and the cases judged to record
the same claim (bench/data/same-claim.jsonl): the archive records many claims more than once
in other words ("The chemical attack on Khan Shaykhun was staged by the White Helmets" and
"White Helmets faked the 2017 Khan Sheikhoun chemical attack"), and an input that repeats
one of them repeats a case the database holds even when the other is removed. The judged
pairs are a pool, as TREC builds its judgements: every (gold case, candidate) pair of the
dev and test inputs whose calibrated score reached 0.1 among an input's top 3, with the gold
present or removed, judged pair by pair by LLM assessors blind to the scores (same /
contains / different; the first two count as the same claim). A pair outside the pool
counts as different.
Thresholds: `match` where every dev slice (language x set, and CheckThat! dev) keeps a
precision of at least 0.97 and no gold-removed dev input or off-topic dev passage is
labelled `match`; `related` where 90% of the dev inputs whose right case ranks first are
labelled at least `related`, for claims (at most two sentences) and for documents apart,
a document's at least where only 5% of off-topic dev passages (3-8 sentences of the
CheckThat! 2021 2B debate transcripts) are labelled `related`.

Reported (test splits only: xling 41-120, xling-titles 61-160, CheckThat! test), per set
and language: R@1, R@5, the precision and recall of `match` (the top candidate is the
right case and labelled `match`), `related`, the share of inputs whose right case ranks
first that are labelled at least `related` ("right>=rel"), and the inputs with their gold
removed that are still labelled `match` (must be 0) or `related`; and the off-topic test
passages labelled `related` and `match` (must be 0).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from slugify import slugify

from bench.retrieval import build_store as checkthat_store
from bench.retrieval import read_queries
from bench.web_pages import real_database
from disinfodb.cases import Case
from disinfodb.embed import DEFAULT_MODEL, load_embedders
from disinfodb.matching import Calibration, Candidates, Label, Matcher
from disinfodb.matching.calibration import DENSE_FEATURES, feature_names, is_document
from disinfodb.matching.matcher import NEAR_DUPLICATE
from disinfodb.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = ROOT / "disinfodb" / "resources" / "calibration.json"
SAME_CLAIM = ROOT / "bench" / "data" / "same-claim.jsonl"
LANGUAGES = ("en", "ru", "uk", "es", "de", "fr", "pl", "cs")
XLING_DEV, TITLES_DEV = 40, 60
MINED = 1000
TARGET_PRECISION = 0.97
RANKER_C = 0.01
PLATT_TOP = 3  # candidates per input the probability is fitted on
#: `related` ("about the same thing: worth an analyst's look"): the score that this share of
#: the dev inputs whose right case ranks first reaches. Below it an analyst reads "none",
#: "not debunked yet", so a right first candidate should rarely fall there.
RELATED_RECALL = 0.90
#: ... and for a document, at least the score that only this share of off-topic documents reach.
OFF_TOPIC_RELATED = 0.05
OFF_TOPIC_PASSAGES = 200  # per split
TRANSCRIPTS = ROOT.parent / "shared" / "benchmarks" / "checkthat2021-task2b" / "transcripts"
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Pair:
    """An input and the cases (ClaimIndex rows) it repeats."""

    text: str
    gold: frozenset[int]
    group: str  # checkthat, xling, xling-titles, mined
    language: str
    excluded: frozenset[int] = frozenset()  # rows the corpus leaves out for this input


@dataclass
class Scored:
    """A pair's candidates with its gold cases in the corpus, and without them."""

    pair: Pair
    found: Candidates
    removed: Candidates
    labels: npt.NDArray[np.int64] = field(init=False)

    def __post_init__(self) -> None:
        self.labels = np.isin(self.found.rows, list(self.pair.gold)).astype(np.int64)


# -- the pairs ---------------------------------------------------------------------------

def title_key(title: str) -> str:
    return " ".join(re.findall(r"\w+", title.casefold()))


def same_title(newer: str, older: str) -> bool:
    """The 2015-2021 scrape cuts long titles ("The Dutch-led investigation group on MH17 has
    tampered with pieces…"): the same title, or the visible part of it, or most words shared."""
    a, b = title_key(newer), title_key(older)
    if not a or not b:
        return False
    if a == b or (newer.rstrip().endswith("…") and b.startswith(a)):
        return True
    words_a, words_b = set(a.split()), set(b.split())
    return len(words_a & words_b) / len(words_a | words_b) >= 0.5


def scrape_twins(cases: list[Case], row_of: dict[str, int]) -> dict[int, set[int]]:
    """Rows of the same case in the other scrape: same date, and the same title (see same_title),
    or the newer title is a sentence of the older summary, or the newer case's URL was made from
    the older title (".../report/brexit-hit-the-european-left-wing-parties-hardest/")."""
    by_date: dict[object, list[Case]] = defaultdict(list)
    for case in cases:
        if case.url and not case.summary:  # the 2015-2021 scrape: title only, the case URL
            by_date[case.published].append(case)
    twins: dict[int, set[int]] = defaultdict(set)
    for case in cases:
        if case.issue is None or case.url:
            continue
        summary, slug = title_key(case.summary), slugify(case.title)
        for other in by_date.get(case.published, []):
            visible, made_from = title_key(other.title), str(other.url).rstrip("/").rsplit("/", 1)[-1]
            if (same_title(other.title, case.title) or (len(visible) >= 20 and visible in summary)
                    or (len(made_from) >= 20 and slug.startswith(made_from))):
                twins[row_of[case.id]].add(row_of[other.id])
                twins[row_of[other.id]].add(row_of[case.id])
    return twins


def judged_same() -> dict[str, set[str]]:
    """Case id -> the ids of the cases judged to record the same claim (both ways)."""
    same: dict[str, set[str]] = defaultdict(set)
    for line in SAME_CLAIM.read_text().splitlines():
        item = json.loads(line)
        if item["verdict"] in ("same", "contains"):
            same[item["a"]].add(item["b"])
            same[item["b"]].add(item["a"])
    return same


def with_judged(rows: set[int], id_of: dict[int, str], row_of: dict[str, int],
                same: dict[str, set[str]]) -> set[int]:
    """The rows and the rows of every case judged to record the same claim as one of them."""
    return rows | {row_of[other] for row in rows for other in same.get(id_of[row], ()) if other in row_of}


class RealCorpus:
    """The real cases, their ClaimIndex rows, and the twins across the two scrapes."""

    def __init__(self, store: SQLiteStore, matcher: Matcher) -> None:
        self.matcher = matcher
        pk_row = {int(pk): row for row, pk in enumerate(matcher.index.case_pks)}
        self.cases = list(store.iter_cases())
        self.row_of = {case.id: pk_row[store.pk_of(case.id)] for case in self.cases}
        self.by_content = {case.content_id: self.row_of[case.id] for case in self.cases}
        self.by_url = {case.url: self.row_of[case.id] for case in self.cases if case.url}
        self.twins = scrape_twins(self.cases, self.row_of)
        self.id_of = {row: case_id for case_id, row in self.row_of.items()}
        self.same = judged_same()

    def gold(self, row: int) -> frozenset[int]:
        copies = near_copies(self.matcher, {row, *self.twins.get(row, ())})
        return near_copies(self.matcher, with_judged(set(copies), self.id_of, self.row_of, self.same))

    def xling(self, split: str) -> list[Pair]:
        return self._paraphrases("xling", XLING_DEV, split, lambda item: self.by_content[item["content_id"]])

    def titles(self, split: str) -> list[Pair]:
        return self._paraphrases("xling-titles", TITLES_DEV, split, lambda item: self.by_url[item["case_url"]])

    def _paraphrases(self, folder: str, dev: int, split: str, row: Callable[[dict[str, str]], int]) -> list[Pair]:
        """A bench/data paraphrase set in every language: its first `dev` claims, or the rest."""
        pairs = []
        for language in LANGUAGES:
            lines = (ROOT / "bench" / "data" / folder / f"{language}.jsonl").read_text().splitlines()
            for line in lines[:dev] if split == "dev" else lines[dev:]:
                item = json.loads(line)
                pairs.append(Pair(item["text"], self.gold(row(item)), folder, language))
        return pairs

    def mined(self, count: int, avoid: Iterable[Pair], seed: int = 12) -> list[Pair]:
        """Summaries of the 2015-2017 scrape -> their title-only twin; no test case takes part."""
        taken = {row for pair in avoid for row in pair.gold}
        pairs = []
        for case in self.cases:
            row = self.row_of[case.id]
            twins = self.twins.get(row, set())
            if case.summary and twins and row not in taken and not twins & taken:
                pairs.append(Pair(case.summary, frozenset(twins), "mined", "en", frozenset({row})))
        return random.Random(seed).sample(pairs, min(count, len(pairs)))


def near_copies(matcher: Matcher, rows: set[int]) -> frozenset[int]:
    """The rows and every case the matcher itself calls a near-duplicate of one of them (the
    cosine of near_duplicates): the same claim recorded twice is one claim, to find and to remove."""
    if not rows:
        return frozenset()
    cases = matcher.index.cases
    sims = cases.cosines(cases.take(np.array(sorted(rows), dtype=np.int64)))
    return frozenset(rows | {int(row) for row in np.flatnonzero((sims >= NEAR_DUPLICATE).any(axis=0))})


def checkthat_pairs(matcher: Matcher, store: SQLiteStore, split: str) -> list[Pair]:
    pk_row = {int(pk): row for row, pk in enumerate(matcher.index.case_pks)}
    row_of = {case_id: pk_row[pk] for pk, (case_id, _) in store.case_ids(list(pk_row)).items()}
    id_of, same = {row: case_id for case_id, row in row_of.items()}, judged_same()
    pairs = []
    for query in read_queries(split):
        gold = near_copies(matcher, {row_of[g] for g in query.gold if g in row_of})
        gold = near_copies(matcher, with_judged(set(gold), id_of, row_of, same))
        pairs.append(Pair(query.text, gold, "checkthat", "en"))
    return pairs


def scored(matcher: Matcher, pairs: list[Pair]) -> list[Scored]:
    everything = matcher.index.case_pks
    out = []
    for pair in pairs:
        allowed = np.delete(everything, sorted(pair.excluded)) if pair.excluded else None
        gone = np.delete(everything, sorted(pair.gold | pair.excluded))
        out.append(Scored(pair, matcher.candidates(pair.text, allowed), matcher.candidates(pair.text, gone)))
    return out


# -- fitting ------------------------------------------------------------------------------

def fit(examples: list[tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.bool_], float]]) -> tuple[float, ...]:
    """A ranker, then its calibration per kind of case: one logistic model over by_kind features.

    examples: per input its candidates' features, labels (1: the right case), title-only flags
    and the input's weight. The ranking weights come from a pairwise logistic regression (each
    right candidate against each other candidate of the same input, weighted so that every input
    counts the same: the model learns to order, not to classify an imbalanced pool), strongly
    regularised (C=RANKER_C: on dev it orders no better than the plain sum of the models'
    z-scores, so it is kept close to a sum of few features); a Platt fit on the ranking score,
    with its own slope and offset per kind of case, then makes it a probability. The Platt fit
    sees each input's PLATT_TOP best candidates only: a label is about the candidates an analyst
    is shown, and over all 100-200 candidates of an input the probability would be that of a
    random candidate (about 1 in 150 right), so a clear first place came out at 0.1.
    """
    differences, pair_weights = [], []
    for features, truth, _, weight in examples:
        positives, negatives = features[truth == 1], features[truth == 0]
        if len(positives) and len(negatives):
            block = (positives[:, np.newaxis, :] - negatives[np.newaxis, :, :]).reshape(-1, features.shape[1])
            differences.append(block)
            pair_weights.append(np.full(len(block), weight / len(block)))
    pairs, weights = np.vstack(differences), np.concatenate(pair_weights) * len(examples)
    ranker = LogisticRegression(C=RANKER_C, max_iter=10000, fit_intercept=False)
    ranker.fit(np.vstack([pairs, -pairs]), np.r_[np.ones(len(pairs)), np.zeros(len(pairs))],
               sample_weight=np.r_[weights, weights])
    w = ranker.coef_[0]
    ranking, kinds, picked, sample = [], [], [], []
    for features, truth, title_only, weight in examples:  # the top candidates: what labels are about
        score = features @ w
        top = np.argsort(-score, kind="stable")[:PLATT_TOP]
        ranking.append(score[top])
        kinds.append(title_only[top].astype(np.float64))
        picked.append(truth[top])
        sample.append(np.full(len(top), weight / max(1, len(top))))
    r, k = np.concatenate(ranking), np.concatenate(kinds)
    platt = LogisticRegression(C=100.0, max_iter=10000)
    platt.fit(np.column_stack([r * (1 - k), r * k, k]), np.concatenate(picked),
              sample_weight=np.concatenate(sample) * len(examples))
    a_summary, a_title, a_kind = (float(v) for v in platt.coef_[0])
    final = np.r_[a_summary * w, a_title * w, a_kind]
    return (*(float(v) for v in final), float(platt.intercept_[0]))


def training_examples(train: list[Scored], dense_columns: int | None
                      ) -> list[tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.bool_], float]]:
    """Every training input twice (gold present, gold removed), each group weighing the same in all;
    the full model sees an input as far as its lexical channel is trusted."""
    groups: dict[str, int] = defaultdict(int)
    for item in train:
        groups[item.pair.group] += 1
    out = []
    for item in train:
        weight = 1.0 / groups[item.pair.group]
        for found, labels in ((item.found, item.labels), (item.removed, np.zeros(len(item.removed.rows), np.int64))):
            share = weight if dense_columns is not None else weight * found.trust
            if share > 0 and len(found.rows):
                features = found.features if dense_columns is None else found.features[:, :dense_columns]
                out.append((features, labels, found.title_only, share))
    return out


def off_topic_passages(split: str) -> list[str]:
    """Passages of 3-8 consecutive sentences of US debates and speeches (the CheckThat! 2021
    2B transcripts; dev: the 1st, 3rd... file in name order, test: the 2nd, 4th...): documents
    about what the archive mostly does not hold (some speak of Russia, Syria or NATO, so a few
    may rightly be related)."""
    files = sorted(TRANSCRIPTS.glob("*.tsv"))[0 if split == "dev" else 1::2]
    rng = random.Random(f"off-topic-{split}")
    passages = []
    for _ in range(OFF_TOPIC_PASSAGES):
        lines = [line.split("\t")[-1].strip() for line in rng.choice(files).read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        start = rng.randrange(len(lines) - 8)
        passages.append(" ".join(lines[start:start + rng.randrange(3, 9)]))
    return passages


@dataclass(frozen=True)
class OffTopic:
    """An off-topic input's best calibrated score, and whether it is a document."""

    top: float
    document: bool


def off_topic(matcher: Matcher, calibration: Calibration, passages: list[str]) -> list[OffTopic]:
    out = []
    for text in passages:
        found = matcher.candidates(text)
        out.append(OffTopic(float(calibration.score(found).max()), is_document(found.input_units)))
    return out


# -- labels and report --------------------------------------------------------------------

@dataclass
class Outcome:
    """What the shipped calibration says of one input: the top candidate, right or not, its label."""

    pair: Pair
    rank: int  # of the first right case (10**6: not among the candidates)
    top_label: Label
    removed_top: float  # the best score once the gold cases are gone
    top: float
    document: bool  # the input is a document (calibration.is_document), not a claim


def outcome(item: Scored, calibration: Calibration) -> Outcome:
    scores = calibration.score(item.found)
    order = np.argsort(-scores, kind="stable")
    hits = np.flatnonzero(item.labels[order] == 1)
    removed = calibration.score(item.removed)
    top = float(scores[order[0]]) if len(order) else 0.0
    document = is_document(item.found.input_units)
    return Outcome(item.pair, int(hits[0]) + 1 if len(hits) else 10**6, calibration.label(top, document),
                   float(removed.max()) if len(removed) else 0.0, top, document)


def choose_match_at(outcomes: list[Outcome], off: list[OffTopic]) -> float:
    """The lowest threshold at which every dev slice keeps TARGET_PRECISION and no gold-removed
    or off-topic input reaches it."""
    slices: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for item in outcomes:
        slices[(item.pair.group, item.pair.language)].append(item)
    floor = max([item.removed_top for item in outcomes] + [item.top for item in off]) + 1e-4
    for at in sorted({round(o.top, 4) for o in outcomes if o.top >= floor} | {floor}):
        ok = True
        for members in slices.values():
            labelled = [o for o in members if o.top >= at]
            if labelled and sum(o.rank == 1 for o in labelled) < TARGET_PRECISION * len(labelled):
                ok = False
                break
        if ok:
            return float(at)
    return 1.0


def choose_related_at(outcomes: list[Outcome]) -> float:
    """The score RELATED_RECALL of the inputs whose right case ranks first reach (pooled
    over the dev slices)."""
    right_first = [o.top for o in outcomes if o.rank == 1]
    return round(float(np.quantile(right_first, 1 - RELATED_RECALL)), 4) if right_first else 1.0


def choose_related_at_document(outcomes: list[Outcome], off: list[OffTopic]) -> float:
    """For documents: choose_related_at over the documents among the fitting inputs, raised
    to the score that only OFF_TOPIC_RELATED of the off-topic dev documents reach."""
    tops = [item.top for item in off if item.document]
    noise = float(np.quantile(tops, 1 - OFF_TOPIC_RELATED)) if tops else 0.0
    return max(choose_related_at([o for o in outcomes if o.document]), round(noise, 4))


def report(outcomes: list[Outcome], calibration: Calibration, title: str) -> None:
    print(f"\n{title}")
    print(f"{'set':<13}{'lang':<6}{'n':>4}{'R@1':>7}{'R@5':>7}{'match P':>9}{'match R':>9}{'related':>9}"
          f"{'right>=rel':>11}{'gone->match':>12}{'gone->related':>14}")
    slices: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for item in outcomes:
        slices[(item.pair.group, item.pair.language)].append(item)
    for (group, language), members in slices.items():
        n = len(members)
        matched = [o for o in members if o.top_label == Label.MATCH]
        right = sum(o.rank == 1 for o in matched)
        precision = f"{right / len(matched):.3f}" if matched else "-"
        gone_match = sum(calibration.label(o.removed_top, o.document) == Label.MATCH for o in members)
        gone_related = sum(calibration.label(o.removed_top, o.document) == Label.RELATED for o in members)
        right_first = [o for o in members if o.rank == 1]
        right_labelled = (f"{np.mean([o.top_label != Label.NONE for o in right_first]):.3f}" if right_first
                          else "-")
        print(f"{group:<13}{language:<6}{n:>4}{np.mean([o.rank == 1 for o in members]):>7.3f}"
              f"{np.mean([o.rank <= 5 for o in members]):>7.3f}{precision:>9}{right / n:>9.3f}"
              f"{sum(o.top_label == Label.RELATED for o in members):>9}{right_labelled:>11}{gone_match:>12}"
              f"{gone_related:>14}")


def report_off_topic(off: list[OffTopic], calibration: Calibration, title: str) -> None:
    labels = [calibration.label(item.top, item.document) for item in off]
    documents = sum(item.document for item in off)
    print(f"{title}: {len(off)} passages ({documents} documents): labelled related "
          f"{labels.count(Label.RELATED)} ({labels.count(Label.RELATED) / len(off):.3f}), match "
          f"{labels.count(Label.MATCH)} (must be 0)")


def calibrate(train: list[Scored], tweets_dev: list[Scored], n_models: int, real: Matcher) -> Calibration:
    """Fit both logistic models on the training inputs, then choose the thresholds on the dev
    ones and the off-topic dev passages."""
    full = fit(training_examples(train, None))
    dense = fit(training_examples(train, len(DENSE_FEATURES) * n_models))
    provisional = Calibration(full, dense, 1.0, 1.0, 1.0)
    fitting = [outcome(item, provisional) for item in train + tweets_dev]
    dev = [item for item in fitting if item.pair.group != "mined"]
    off = off_topic(real, provisional, off_topic_passages("dev"))
    return Calibration(full, dense, choose_match_at(dev, off), choose_related_at([o for o in dev if not o.document]),
                       choose_related_at_document(fitting, off))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--write-calibration", action="store_true")
    args = parser.parse_args()
    embedders = load_embedders(args.model)
    real_store = real_database()
    real = RealCorpus(real_store, Matcher(real_store, embedders))
    tweets_store = checkthat_store()
    tweets = Matcher(tweets_store, embedders)
    test = {"xling": real.xling("test"), "xling-titles": real.titles("test")}
    dev = real.xling("dev") + real.titles("dev")
    print(f"{len(real.cases):,} real cases ({len(real.twins):,} in a twin pair across the scrapes); "
          f"model {args.model}", file=sys.stderr)
    train = (scored(real.matcher, dev + real.mined(MINED, [p for ps in test.values() for p in ps]))
             + scored(tweets, checkthat_pairs(tweets, tweets_store, "train")))
    tweets_dev = scored(tweets, checkthat_pairs(tweets, tweets_store, "dev"))
    calibration = calibrate(train, tweets_dev, len(embedders), real.matcher)
    print(f"match at {calibration.match_at:.4f}, related at {calibration.related_at} (claims), "
          f"{calibration.related_at_document} (documents)")
    report([outcome(item, calibration) for item in train + tweets_dev], calibration,
           "fitting data (dev splits, mined pairs, CheckThat! train and dev): not a measurement")
    results = [outcome(item, calibration) for pairs in test.values() for item in scored(real.matcher, pairs)]
    results += [outcome(item, calibration) for item in scored(tweets, checkthat_pairs(tweets, tweets_store, "test"))]
    report(results, calibration, "TEST splits (xling 41-120, xling-titles 61-160, CheckThat! 2020 test)")
    report_off_topic(off_topic(real.matcher, calibration, off_topic_passages("test")), calibration,
                     "off-topic TEST passages (CheckThat! 2021 2B transcripts)")
    names = (*feature_names([e.name for e in embedders]),)
    print("\nfull weights (summary | title-only):")
    half = len(names)
    for n, name in enumerate(names):
        print(f"  {name:<22}{calibration.full[n]:>8.2f}{calibration.full[half + n]:>8.2f}")
    print(f"  title-only {calibration.full[-2]:.2f}, bias {calibration.full[-1]:.2f}")
    if args.write_calibration:
        current = json.loads(CALIBRATION.read_text()) if CALIBRATION.exists() else {}
        current[args.model] = calibration.as_json() | {
            "features": list(names), "fitted_by": "python -m bench.verdicts --write-calibration",
            "training": "CheckThat! 2020 train; xling 1-40 and xling-titles 1-60 in 8 languages; "
                        f"{MINED} mined summary -> title-only twin pairs; each also with its gold removed"}
        CALIBRATION.write_text(json.dumps(current, indent=2) + "\n")
        print(f"wrote {CALIBRATION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
