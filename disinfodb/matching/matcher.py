"""Claim matching: which debunked cases does a new text repeat, how surely, and where.

text -> units (sentences, plus the whole text when short) -> two retrievers over every
case's claim units (title + summary sentences):
  dense: the embedding model's cosine of the best (input unit, case unit) pair;
  lexical: BM25 (bm25s) of each input unit against each case's title + summary;
-> candidates from both -> a calibrated score in [0, 1] (calibration.py: a logistic model
over the channels' scores, ranks and z-scores, fitted by bench.verdicts; reciprocal-rank
fusion where no fit exists) -> label: match / related / none, with the best pair as evidence.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from typing import Any

import bm25s
import numpy as np
import numpy.typing as npt

from disinfodb.documents import Document
from disinfodb.embed import Embedder, Vectors, load_embedders
from disinfodb.errors import CaseNotFound, InputTooLarge, NothingToMatch
from disinfodb.matching.calibration import Calibration, feature_names, is_document, load_calibration
from disinfodb.matching.channels import CANDIDATES, RRF_K, Candidates, ChannelScores, FloatArray, top_cases
from disinfodb.matching.index import ClaimIndex, EmbeddingProgress
from disinfodb.matching.label import Label
from disinfodb.matching.transcript import CONTEXT, transcript_lines, with_context
from disinfodb.search import SearchQuery
from disinfodb.store import Store
from disinfodb.store.term_index import IntArray
from disinfodb.text import clean, units

MAX_INPUT_CHARS = 2_000_000
MAX_INPUT_UNITS = 512
# What the slower models embed of an input, at most: its units in the order the first model
# found them claim-like (closest to some case), up to this many characters in all. e5 costs
# about 45 us a character (4 ms for a 90-character sentence): 4,000 keeps a 1,000-word
# article near 300 ms and every claim, post or short article whole.
SECONDARY_CHARS = 4000
# The lexical channel counts only when the corpus knows most of the input's words: a
# Spanish text against English summaries shares names, not claims (share of known words:
# >= 0.67 for English tweets vs <= 0.41 for 95% of the xling translations).
LEXICAL_TRUSTED_FROM = (0.45, 0.65)
_INPUT_BLOCK = 32


def _located(document: Document, matches: list[Match]) -> list[Match]:
    """Each evidence with where in the document's source its sentence is."""
    return [dataclasses.replace(found, evidence=[dataclasses.replace(pair, at=document.at(pair.input_sentence))
                                                 for pair in found.evidence])
            for found in matches]


def require_words(cleaned: str) -> str:
    """A cleaned text (text.clean) that has words to compare, as it is; NothingToMatch for one
    that is empty, binary or only symbols."""
    visible = [ch for ch in cleaned if not ch.isspace() and unicodedata.category(ch)[0] not in "SNZ"
               and ch != "\ufe0f"]
    letters = sum(ch.isalpha() for ch in visible)
    if letters < 2 or letters < 0.5 * len(visible) or cleaned.count("\ufffd") > 0.05 * len(visible):
        raise NothingToMatch("the text has no words to match (empty, binary or only symbols)")
    return cleaned

@dataclass(frozen=True)
class Evidence:
    """The input sentence and the case sentence that matched; `at` is where the input
    sentence is in its source, when the source says (a cue's start "00:01:02", "page 3")."""

    input_sentence: str
    case_sentence: str
    score: float
    at: str | None = None


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

    With several models the dense score is the mean of their best-pair cosines, and the
    evidence is the first model's best pair.
    """

    def __init__(self, store: Store, embedders: list[Embedder], index: ClaimIndex | None = None,
                 calibration: Calibration | None = None) -> None:
        self.store = store
        self.embedders = embedders
        self.name = "+".join(e.name for e in embedders)
        self.index = index or ClaimIndex.build(store, embedders)
        self.calibration = calibration or load_calibration(self.name)

    def candidates(self, text: str, allowed: IntArray | None = None, context: int | None = None) -> Candidates:
        """Score the cases for one input text: the union of both channels' top candidates.

        `context`: how many preceding sentences go with each sentence as an extra unit
        (None: transcript.CONTEXT for a transcript, none for other text).
        """
        return self.candidates_of(self._input_units(text, context), allowed)

    def candidates_of(self, input_units: list[str], allowed: IntArray | None = None) -> Candidates:
        """Score the cases for an input already cut into units.

        Ranks and relative scores are taken per input unit (a case's rank is its rank for
        the input sentence that matched it best), so the several claims of one article do
        not compete with each other.
        """
        return self.candidates_of_many([input_units], allowed)[0]

    def candidates_of_many(self, inputs: list[list[str]], allowed: IntArray | None = None) -> list[Candidates]:
        """`candidates_of` for several inputs at once, each scored exactly as alone: their
        sentences' products with the case vectors are computed together (one pass over the
        index for many short inputs, QuantisedVectors.block_cosines), the rest per input."""
        n_cases = len(self.index.case_pks)
        mask = np.ones(n_cases, dtype=bool)
        if allowed is not None:
            mask = np.isin(self.index.case_pks, allowed, assume_unique=True)
        return [self._candidates(input_units, channels, queries, mask)
                for input_units, (channels, queries) in zip(inputs, self._dense(inputs), strict=True)]

    def _candidates(self, input_units: list[str], channels: list[ChannelScores], queries: Vectors,
                    mask: npt.NDArray[np.bool_]) -> Candidates:
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
            *(channel.z(rows) for channel in channels),
            trust * lexical_channel.relative(rows),
            trust / lexical_rank,
            np.log1p(trust * np.maximum(lexical_channel.score[rows], 0.0)),
        ]) if len(rows) else np.zeros((0, len(feature_names([e.name for e in self.embedders]))))
        best_input = channels[0].best_input[rows]
        return Candidates(rows, features, self.index.title_only[rows], self._best_units(queries, rows, best_input),
                          best_input, np.column_stack([*dense_ranks, lexical_rank]), trust, len(self.embedders),
                          input_units)

    @staticmethod
    def _input_units(text: str, context: int | None = None) -> list[str]:
        if len(text) > MAX_INPUT_CHARS:
            raise InputTooLarge(f"the text has {len(text):,} characters; matching takes up to "
                                f"{MAX_INPUT_CHARS:,} (split it, or use `scan` for corpora)")
        spoken = transcript_lines(text)
        cleaned = require_words(clean("\n".join(spoken) if spoken is not None else text))
        before = (CONTEXT if spoken is not None else 0) if context is None else context
        if not before:
            return list(dict.fromkeys(units(cleaned, MAX_INPUT_UNITS)))  # boilerplate repeats: embed it once
        said = list(dict.fromkeys(units(cleaned, MAX_INPUT_UNITS // 2)))
        return list(dict.fromkeys(with_context(said, before)))

    def _dense(self, inputs: list[list[str]]) -> list[tuple[list[ChannelScores], Vectors]]:
        """Per input, per model: each case's best cosine over (input unit, case unit) pairs,
        and ranks; and the first model's query vectors (for the evidence).

        The first (fast) model sees every input unit; the others every unit too, up to
        SECONDARY_CHARS: beyond that, the units the first model found closest to some case.
        Each input is embedded by itself: a model's vectors depend slightly on the other
        texts of their batch (int8 activations quantised per batch), so embedding several
        inputs together would change their matches.
        """
        first, *others = self.embedders
        queries = [first.embed(input_units, "query") for input_units in inputs]
        firsts = self._channels(first, queries, [np.arange(len(input_units)) for input_units in inputs])
        channels = [[channel] for channel in firsts]
        chosen = [self._secondary(input_units, channel) if others else np.arange(len(input_units))
                  for input_units, channel in zip(inputs, firsts, strict=True)]
        for embedder in others:
            vectors = [embedder.embed([input_units[i] for i in units_], "query")
                       for input_units, units_ in zip(inputs, chosen, strict=True)]
            for found, channel in zip(channels, self._channels(embedder, vectors, chosen), strict=True):
                found.append(channel)
        return list(zip(channels, queries, strict=True))

    @staticmethod
    def _secondary(input_units: list[str], first: ChannelScores) -> IntArray:
        """The units the slower models embed: all of them up to SECONDARY_CHARS, else the ones
        the first model found closest to some case, strongest first, up to that many characters."""
        chosen = np.arange(len(input_units))
        if sum(map(len, input_units)) > SECONDARY_CHARS:
            by_strength = first.best_input[np.argsort(-first.score)]
            _, first_seen = np.unique(by_strength, return_index=True)
            ranked = by_strength[np.sort(first_seen)]
            affordable = np.cumsum([len(input_units[i]) for i in ranked]) <= SECONDARY_CHARS
            affordable[0] = True  # the strongest unit, however long
            chosen = np.sort(ranked[affordable])
        return chosen

    def _channels(self, embedder: Embedder, queries: list[Vectors], units_: list[IntArray]) -> list[ChannelScores]:
        """One model's channel per input: query n of an input is its input unit units_[n]. The
        inputs' queries go in blocks of _INPUT_BLOCK (each input's own), multiplied together."""
        blocks = [(number, slice(start, start + _INPUT_BLOCK))
                  for number, vectors in enumerate(queries) for start in range(0, len(vectors), _INPUT_BLOCK)]
        sims = self.index.vectors[embedder.name].block_cosines(queries[number][block] for number, block in blocks)
        channels = [ChannelScores.collect(len(self.index.case_pks), embedder.spread) for _ in queries]
        starts = self.index.unit_start[:-1]
        for (number, block), unit_sims in zip(blocks, sims, strict=True):
            case_sims = np.maximum.reduceat(unit_sims, starts, axis=1) if len(starts) else unit_sims  # closest unit
            channels[number].add(case_sims, units_[number][block])
        return channels

    def _best_units(self, queries: Vectors, rows: IntArray, best_input: IntArray) -> IntArray:
        """For each candidate, the case unit closest to its best input unit (the evidence)."""
        if not len(rows):
            return np.zeros(0, dtype=np.int64)
        starts, ends = self.index.unit_start[rows], self.index.unit_start[rows + 1]
        counts = ends - starts
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        units_ = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
        dots = np.einsum("ij,ij->i", self.index.primary.take(units_), queries[np.repeat(best_input, counts)])
        best = np.maximum.reduceat(dots, offsets)
        first_best = np.flatnonzero(dots == np.repeat(best, counts))
        segment = np.searchsorted(offsets, first_best, side="right") - 1
        _, first = np.unique(segment, return_index=True)
        return np.asarray(units_[first_best[first]], dtype=np.int64)

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
              min_label: Label = Label.NONE, context: int | None = None) -> list[Match]:
        """The best matching cases for a text, best first, with scores, labels and evidence."""
        allowed = self.store.term_index().select(query) if query else None
        return self._matches(self.candidates(text, allowed, context), limit, min_label)

    def _matches(self, found: Candidates, limit: int, min_label: Label) -> list[Match]:
        scores = self.scores(found)
        order = np.argsort(-scores, kind="stable")[:limit]
        labels = {int(i): self.label(float(scores[i]), found) for i in order}
        chosen = [i for i in order if labels[int(i)].rank >= Label(min_label).rank]
        names = self.store.case_ids([int(self.index.case_pks[found.rows[i]]) for i in chosen])
        matches = []
        for i in chosen:
            pk = int(self.index.case_pks[found.rows[i]])
            case_id, title = names[pk]
            unit = int(found.best_unit[i])
            evidence = [Evidence(found.input_units[int(found.best_input[i])], self.index.unit_text[unit],
                                 round(float(found.features[i, 0]), 4))]
            matches.append(Match(case_id, title, round(float(scores[i]), 4), labels[int(i)], evidence,
                                 round(float(found.dense[i]), 4), round(float(found.lexical[i]), 4)))
        return matches

    def match_document(self, document: Document, query: SearchQuery | None = None, limit: int = 10,
                       min_label: Label = Label.NONE, context: int | None = None) -> list[Match]:
        """`match` for a document read from a file: spoken text (subtitles) is matched as a
        transcript, and each evidence says where in the source its sentence is."""
        before = context if context is not None else (CONTEXT if document.spoken else None)
        return _located(document, self.match(document.text, query, limit, min_label, before))

    def match_documents(self, documents: list[Document], limit: int = 10, min_label: Label = Label.NONE
                        ) -> list[list[Match] | None]:
        """`match_document` for several documents at once (what `scan` does with a batch):
        the same matches for each as alone, in less time for short ones (candidates_of_many).
        None for a document without words to match."""
        inputs: list[list[str] | None] = []
        for document in documents:
            try:
                inputs.append(self._input_units(document.text, CONTEXT if document.spoken else None))
            except NothingToMatch:
                inputs.append(None)
        found = iter(self.candidates_of_many([units_ for units_ in inputs if units_ is not None]))
        return [None if units_ is None else _located(document, self._matches(next(found), limit, min_label))
                for document, units_ in zip(documents, inputs, strict=True)]

    def scores(self, found: Candidates) -> FloatArray:
        """The calibrated score of each candidate (RRF where no calibration was fitted)."""
        return self.calibration.score(found) if self.calibration else found.rrf()

    def thresholds(self, document: Document) -> tuple[float, float] | None:
        """The calibrated scores from which a candidate of this document is labelled match,
        and related (None: not calibrated)."""
        if self.calibration is None:
            return None
        try:
            units_ = self._input_units(document.text, CONTEXT if document.spoken else None)
        except NothingToMatch:
            units_ = []
        return self.calibration.thresholds(is_document(units_))

    def label(self, score: float, found: Candidates) -> Label:
        """The label of a candidate's score, for the input `found` was scored for."""
        if self.calibration is None:
            return Label.RELATED if score >= 1.0 / (RRF_K + 1) else Label.NONE
        return self.calibration.label(score, is_document(found.input_units))

    def neighbourhood(self, case_id: str) -> tuple[int, FloatArray, FloatArray]:
        """What related cases (disinfodb.related) are ranked from: the case's row in the index,
        the cosine of its claim (mean unit vector) with every case's, and the BM25 of its
        claim units against every case's title + summary, relative to the best other case
        (0..1; zeros without a lexical index). The lexical half is there for the rare words
        an embedding blurs: "Kazakhstan" in a claim that reads like any NATO/Russia claim."""
        pk = self.store.pk_of(case_id)
        row = int(np.searchsorted(self.index.case_pks, pk))
        if row >= len(self.index.case_pks) or self.index.case_pks[row] != pk:
            raise CaseNotFound(f"case {case_id!r} is newer than the matching index; rebuild it")
        cases = self.index.cases
        cosines = np.asarray(cases.cosines(cases.rows(row, row + 1))[0], dtype=np.float64)
        lexical = np.zeros(len(self.index.case_pks))
        if self.index.bm25 is not None:
            own = self.index.unit_text[self.index.unit_start[row]:self.index.unit_start[row + 1]]
            [tokens] = bm25s.tokenize([" ".join(own)], stopwords="en", return_ids=False, show_progress=False)
            if tokens:
                lexical = np.asarray(self.index.bm25.get_scores(tokens), dtype=np.float64)
                lexical[row] = 0.0
                lexical /= max(float(lexical.max()), 1e-9)
        return row, cosines, lexical


NEAR_DUPLICATE = 0.92


def near_duplicates(store: Store, index: ClaimIndex, case_ids: list[str],
                    threshold: float = NEAR_DUPLICATE) -> list[tuple[str, str, float]]:
    """For each given case, the closest *other* case if its claim is at least `threshold`
    similar (cosine of the cases' mean unit vectors): (case id, other id, cosine). A pair
    of two given cases that are each other's closest is reported once."""
    if not case_ids or not len(index.case_pks):
        return []
    rows = np.searchsorted(index.case_pks, [store.pk_of(cid) for cid in case_ids])
    cases = index.cases
    found: list[tuple[int, int, float]] = []
    seen: set[tuple[int, int]] = set()
    for start in range(0, len(rows), 512):
        block = rows[start:start + 512]
        sims = cases.cosines(cases.take(block))
        sims[np.arange(len(block)), block] = -np.inf
        best = sims.argmax(axis=1)
        for row, other, score in zip(block, best, sims[np.arange(len(block)), best], strict=True):
            pair = (int(index.case_pks[row]), int(index.case_pks[other]))
            if score >= threshold and (pair[1], pair[0]) not in seen:
                seen.add(pair)
                found.append((*pair, float(score)))
    names = store.case_ids([pk for pair in found for pk in pair[:2]])
    return [(names[a][0], names[b][0], round(score, 4)) for a, b, score in found]


def open_matcher(store: Store, model: str | None = None, progress: EmbeddingProgress | None = None,
                 embed: bool = True) -> Matcher:
    """A matcher over every case of a store with the models of a spec (default: the
    configured one), embedding (and caching) the claims whose vectors are not cached yet;
    with `embed=False`, over the cases whose vectors are cached (ClaimIndex.build)."""
    embedders = load_embedders(model)
    return Matcher(store, embedders, ClaimIndex.build(store, embedders, progress, embed=embed))
