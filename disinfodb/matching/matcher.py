"""Claim matching: which debunked cases does a new text repeat, how surely, and where.

text -> units (sentences, plus the whole text when short) -> two retrievers over every
case's claim units (title + summary sentences):
  dense: the embedding model's cosine of the best (input unit, case unit) pair;
  lexical: BM25 (bm25s) of each input unit against each case's title + summary;
-> candidates from both -> a calibrated score in [0, 1] (a logistic model over the two
channels' scores and ranks, fitted on labelled data; reciprocal-rank fusion where no fit
exists) -> label: match / related / none, with the best pair as evidence.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bm25s
import numpy as np
import numpy.typing as npt

from disinfodb.embed import Embedder, Vectors, load_embedders
from disinfodb.errors import CaseNotFound, InputTooLarge, NothingToMatch
from disinfodb.matching.calibration import LEXICAL_FEATURES, Calibration, load_calibration
from disinfodb.matching.channels import CANDIDATES, RRF_K, Candidates, ChannelScores, FloatArray, top_cases
from disinfodb.matching.index import ClaimIndex
from disinfodb.matching.label import Label
from disinfodb.search import SearchQuery
from disinfodb.store import Store
from disinfodb.store.term_index import IntArray
from disinfodb.text import clean, units

MAX_INPUT_CHARS = 2_000_000
MAX_INPUT_UNITS = 512
SECONDARY_UNITS = 8  # input units the slower models embed, at most
# The lexical channel counts only when the corpus knows most of the input's words: a
# Spanish text against English summaries shares names, not claims (share of known words:
# >= 0.67 for English tweets vs <= 0.41 for 95% of our translated claims; bench/crosslingual).
LEXICAL_TRUSTED_FROM = (0.45, 0.65)
_INPUT_BLOCK = 32


@dataclass(frozen=True)
class Evidence:
    input_sentence: str
    case_sentence: str
    score: float


@dataclass(frozen=True)
class Match:
    case_id: str
    title: str
    score: float
    label: Label
    evidence: list[Evidence]
    dense: float
    lexical: float

    def as_json(self) -> dict[str, Any]:
        """The match as every face shows it (the API's schema leaves out dense and lexical)."""
        return {**dataclasses.asdict(self), "label": self.label.value}


class Matcher:
    """Matches texts against every case of a store, with one or more embedding models.

    With several models the dense score is the mean of their best-pair cosines; the first
    (fast) model embeds every input unit, the others only the SECONDARY_UNITS units the
    first found most claim-like, so long inputs stay bounded in time.
    """

    def __init__(self, store: Store, embedders: list[Embedder], index: ClaimIndex | None = None,
                 calibration: Calibration | None = None) -> None:
        self.store = store
        self.embedders = embedders
        self.name = "+".join(e.name for e in embedders)
        self.index = index or ClaimIndex.build(store, embedders)
        self.calibration = calibration or load_calibration(self.name)

    def candidates(self, text: str, allowed: IntArray | None = None) -> Candidates:
        """Score the cases for one input text: the union of both channels' top candidates.

        Ranks and relative scores are taken per input unit (a case's rank is its rank for
        the input sentence that matched it best), so the several claims of one article do
        not compete with each other.
        """
        input_units = self._input_units(text)
        n_cases = len(self.index.case_pks)
        mask = np.ones(n_cases, dtype=bool)
        if allowed is not None:
            mask = np.isin(self.index.case_pks, allowed, assume_unique=True)
        channels, queries = self._dense(input_units)
        lexical_channel, trust = self._lexical(input_units)
        pool = min(CANDIDATES, int(mask.sum()))
        mean_cosine = np.mean([channel.score for channel in channels], axis=0)
        rows = np.union1d(top_cases(mean_cosine, mask, pool), top_cases(lexical_channel.score, mask, pool))
        rows = rows.astype(np.int64)
        dense_ranks = [channel.rank(rows) for channel in channels]
        lexical_rank = lexical_channel.rank(rows)
        features = np.column_stack([
            *(np.maximum(channel.score[rows], 0.0) for channel in channels),
            *(1.0 / rank for rank in dense_ranks),
            trust * lexical_channel.relative(rows),
            trust / lexical_rank,
            np.log1p(trust * np.maximum(lexical_channel.score[rows], 0.0)),
        ]) if len(rows) else np.zeros((0, 2 * len(self.embedders) + len(LEXICAL_FEATURES)))
        best_input = channels[0].best_input[rows]
        return Candidates(rows, features, self._best_units(queries, rows, best_input), best_input,
                          np.column_stack([*dense_ranks, lexical_rank]), trust, len(self.embedders), input_units)

    @staticmethod
    def _input_units(text: str) -> list[str]:
        if len(text) > MAX_INPUT_CHARS:
            raise InputTooLarge(f"the text has {len(text):,} characters; matching takes up to "
                                f"{MAX_INPUT_CHARS:,} (split it, or use `scan` for corpora)")
        cleaned = clean(text)
        visible = [ch for ch in cleaned if not ch.isspace() and unicodedata.category(ch)[0] not in "SNZ"
                   and ch != "\ufe0f"]
        letters = sum(ch.isalpha() for ch in visible)
        if letters < 2 or letters < 0.5 * len(visible) or cleaned.count("\ufffd") > 0.05 * len(visible):
            raise NothingToMatch("the text has no words to match (empty, binary or only symbols)")
        return units(cleaned, MAX_INPUT_UNITS)

    def _dense(self, input_units: list[str]) -> tuple[list[ChannelScores], Vectors]:
        """Per model: each case's best cosine over (input unit, case unit) pairs, and ranks.

        The primary (fast) model sees every input unit; the others only the input units the
        primary found closest to some case (claim-like ones), at most SECONDARY_UNITS.
        """
        first, *others = self.embedders
        queries = first.embed(input_units, "query")
        primary = ChannelScores.collect(len(self.index.case_pks))
        for start in range(0, len(input_units), _INPUT_BLOCK):
            block = np.arange(start, min(start + _INPUT_BLOCK, len(input_units)))
            primary.add(self._case_sims(first, queries[block]), block)
        if not others:
            return [primary], queries
        by_strength = primary.best_input[np.argsort(-primary.score)]
        _, first_seen = np.unique(by_strength, return_index=True)
        chosen = by_strength[np.sort(first_seen)][:SECONDARY_UNITS]
        channels = [primary]
        for embedder in others:
            channel = ChannelScores.collect(len(self.index.case_pks))
            channel.add(self._case_sims(embedder, embedder.embed([input_units[i] for i in chosen], "query")),
                        chosen)
            channels.append(channel)
        return channels, queries

    def _case_sims(self, embedder: Embedder, queries: Vectors) -> npt.NDArray[np.float32]:
        """Cosine of each query vector with each case (its closest unit): queries x cases."""
        sims = queries @ self.index.vectors[embedder.name].T
        starts = self.index.unit_start[:-1]
        return np.maximum.reduceat(sims, starts, axis=1) if len(starts) else sims

    def _best_units(self, queries: Vectors, rows: IntArray, best_input: IntArray) -> IntArray:
        """For each candidate, the case unit closest to its best input unit (the evidence)."""
        out = np.empty(len(rows), dtype=np.int64)
        vectors = self.index.vectors[self.embedders[0].name]
        for n, (row, unit) in enumerate(zip(rows, best_input, strict=True)):
            start, end = self.index.unit_start[row], self.index.unit_start[row + 1]
            out[n] = start + int(np.argmax(vectors[start:end] @ queries[unit]))
        return out

    def _lexical(self, input_units: list[str]) -> tuple[ChannelScores, float]:
        """Per case: the best BM25 score over the input units, and how far to trust it:
        not at all when the input is mostly words the corpus does not have (another language)."""
        n_cases = len(self.index.case_pks)
        if self.index.bm25 is None:
            return ChannelScores.empty(n_cases), 0.0
        tokens = bm25s.tokenize(input_units, stopwords="en", return_ids=False, show_progress=False)
        vocabulary = self.index.bm25.vocab_dict
        words = [word for query in tokens for word in query]
        if not words:  # only stopwords or numbers: nothing for BM25, but not another language
            return ChannelScores.empty(n_cases), 1.0
        known = sum(word in vocabulary for word in words) / len(words)
        low, high = LEXICAL_TRUSTED_FROM
        trust = min(1.0, max(0.0, (known - low) / (high - low)))
        if trust == 0.0:
            return ChannelScores.empty(n_cases), 0.0
        scores = ChannelScores.collect(n_cases)
        for number, query in enumerate(tokens):
            if query:
                scores.add(self.index.bm25.get_scores(query)[np.newaxis, :], np.array([number]))
        return scores, trust

    def match(self, text: str, query: SearchQuery | None = None, limit: int = 10,
              min_label: Label = Label.NONE) -> list[Match]:
        """The best matching cases for a text, best first, with scores, labels and evidence."""
        allowed = self.store.term_index().select(query) if query else None
        found = self.candidates(text, allowed)
        scores = self.scores(found)
        order = np.argsort(-scores, kind="stable")[:limit]
        chosen = [i for i in order if self.label(float(scores[i]), found.trust).rank >= Label(min_label).rank]
        names = self.store.case_ids([int(self.index.case_pks[found.rows[i]]) for i in chosen])
        matches = []
        for i in chosen:
            pk = int(self.index.case_pks[found.rows[i]])
            case_id, title = names[pk]
            unit = int(found.best_unit[i])
            evidence = [Evidence(found.input_units[int(found.best_input[i])], self.index.unit_text[unit],
                                 round(float(found.features[i, 0]), 4))]
            label = self.label(float(scores[i]), found.trust)
            matches.append(Match(case_id, title, round(float(scores[i]), 4), label, evidence,
                                 round(float(found.dense[i]), 4), round(float(found.lexical[i]), 4)))
        return matches

    def scores(self, found: Candidates) -> FloatArray:
        """The calibrated score of each candidate (RRF where no calibration was fitted)."""
        return self.calibration.score(found) if self.calibration else found.rrf()

    def label(self, score: float, trust: float) -> Label:
        if self.calibration is None:
            return Label.RELATED if score >= 1.0 / (RRF_K + 1) else Label.NONE
        return self.calibration.label(score, trust)

    def related(self, case_id: str, k: int = 10) -> list[tuple[str, str, float]]:
        """The k cases whose claims are closest to this case's: (id, title, cosine)."""
        pk = self.store.pk_of(case_id)
        row = int(np.searchsorted(self.index.case_pks, pk))
        if row >= len(self.index.case_pks) or self.index.case_pks[row] != pk:
            raise CaseNotFound(f"case {case_id!r} is newer than the matching index; rebuild it")
        vectors = self.index.case_vectors()
        sims = vectors @ vectors[row]
        top = [int(i) for i in np.argsort(-sims, kind="stable")[:k + 1] if i != row][:k]
        names = self.store.case_ids([int(self.index.case_pks[i]) for i in top])
        return [(*names[int(self.index.case_pks[i])], round(float(sims[i]), 4)) for i in top]


NEAR_DUPLICATE = 0.92


def near_duplicates(store: Store, index: ClaimIndex, case_ids: list[str],
                    threshold: float = NEAR_DUPLICATE) -> list[tuple[str, str, float]]:
    """For each given case, the closest *other* case if its claim is at least `threshold`
    similar (cosine of the cases' mean unit vectors): (case id, other id, cosine). A pair
    of two given cases that are each other's closest is reported once."""
    if not case_ids or not len(index.case_pks):
        return []
    rows = np.searchsorted(index.case_pks, [store.pk_of(cid) for cid in case_ids])
    vectors = index.case_vectors()
    found: list[tuple[int, int, float]] = []
    seen: set[tuple[int, int]] = set()
    for start in range(0, len(rows), 512):
        block = rows[start:start + 512]
        sims = vectors[block] @ vectors.T
        sims[np.arange(len(block)), block] = -np.inf
        best = sims.argmax(axis=1)
        for row, other, score in zip(block, best, sims[np.arange(len(block)), best], strict=True):
            pair = (int(index.case_pks[row]), int(index.case_pks[other]))
            if score >= threshold and (pair[1], pair[0]) not in seen:
                seen.add(pair)
                found.append((*pair, float(score)))
    names = store.case_ids([pk for pair in found for pk in pair[:2]])
    return [(names[a][0], names[b][0], round(score, 4)) for a, b, score in found]


def open_matcher(store: Store, model: str | None = None, progress: Callable[[int, int], None] | None = None
                 ) -> Matcher:
    """A matcher over every case of a store with the models of a spec (default: the
    configured one), embedding (and caching) the claims whose vectors are not cached yet."""
    embedders = load_embedders(model)
    return Matcher(store, embedders, ClaimIndex.build(store, embedders, progress))
