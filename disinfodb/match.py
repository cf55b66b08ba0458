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

import hashlib
import json
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import bm25s
import numpy as np
import numpy.typing as npt

from disinfodb.embed import Embedder, Vectors
from disinfodb.errors import CaseNotFound, DisinfoError
from disinfodb.search import SearchQuery
from disinfodb.store.sql_store import SQLStore
from disinfodb.store.term_index import IntArray
from disinfodb.text import claim_sentences, clean, units

MAX_INPUT_CHARS = 2_000_000
MAX_INPUT_UNITS = 512
CASE_UNITS = 8
CANDIDATES = 100
SECONDARY_UNITS = 8  # input units the slower models embed, at most
# The lexical channel counts only when the corpus knows most of the input's words: a
# Spanish text against English summaries shares names, not claims (share of known words:
# >= 0.67 for English tweets vs <= 0.41 for 95% of our translated claims; bench/crosslingual).
LEXICAL_TRUSTED_FROM = (0.45, 0.65)
RRF_K = 60
_INPUT_BLOCK = 32
FloatArray = npt.NDArray[np.float64]


class NothingToMatch(DisinfoError):
    """The input has no words to compare (empty, binary, or only URLs)."""


class InputTooLarge(DisinfoError):
    """The input is larger than matching accepts."""


def case_units(title: str, summary: str) -> list[str]:
    """What a case claims: its title, its summary's first sentences, and the whole summary
    when it is a few sentences (a paraphrase often restates the claim as a whole)."""
    sentences_ = claim_sentences(summary)
    out = [title]
    for sentence in sentences_:
        if len(out) >= CASE_UNITS:
            break
        if sentence.casefold() != title.casefold():
            out.append(sentence)
    if 2 <= len(sentences_) <= 4 and len(out) < CASE_UNITS:
        out.append(" ".join(sentences_))
    return out


def _units_hash(case_units_: list[str]) -> str:
    return hashlib.sha1("\x1f".join(case_units_).encode()).hexdigest()


@dataclass
class ClaimIndex:
    """Every case's claim units, their vectors (per model) and a BM25 index of the cases."""

    case_pks: IntArray  # one row per case, ascending
    unit_start: IntArray  # units of case row r: unit_start[r]:unit_start[r + 1]
    unit_text: list[str]
    vectors: dict[str, Vectors]  # model name -> units x dim; the first model is the primary
    bm25: bm25s.BM25 | None

    @classmethod
    def build(cls, store: SQLStore, embedders: list[Embedder],
              progress: Callable[[int, int], None] | None = None) -> ClaimIndex:
        """Load cached vectors; embed (and cache) the cases whose claim text is new."""
        vectors: dict[str, Vectors] = {}
        for _attempt in range(3):  # another process may write between the models' reads
            reads = [_model_vectors(store, embedder, progress) for embedder in embedders]
            if all(read[0] == reads[0][0] for read in reads):
                break
        else:
            raise DisinfoError("the cases kept changing while the matching index was built; try again")
        pks, texts, bm25_corpus, _ = reads[0]
        for embedder, read in zip(embedders, reads, strict=True):
            vectors[embedder.name] = read[3]
        counts = np.array([len(t) for t in texts], dtype=np.int64)
        tokens = bm25s.tokenize(bm25_corpus, stopwords="en", show_progress=False)
        retriever = None
        if tokens.vocab:  # no indexable word at all (or no case): no lexical channel
            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
        return cls(
            case_pks=np.array(pks, dtype=np.int64),
            unit_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            unit_text=[unit for parts in texts for unit in parts],
            vectors=vectors,
            bm25=retriever,
        )

    @property
    def primary(self) -> Vectors:
        return next(iter(self.vectors.values()))

    def case_vectors(self) -> Vectors:
        """One vector per case: the normalised mean of its units (for related cases)."""
        sums = np.add.reduceat(self.primary, self.unit_start[:-1], axis=0) if len(self.case_pks) \
            else self.primary
        norms = np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return np.asarray(sums / norms, dtype=np.float32)


def _model_vectors(store: SQLStore, embedder: Embedder, progress: Callable[[int, int], None] | None
                   ) -> tuple[list[int], list[list[str]], list[str], Vectors]:
    """Every case's units and their vectors for one model, embedding what is not cached."""
    pks: list[int] = []
    texts: list[list[str]] = []
    blocks: list[Vectors | None] = []
    stale: list[int] = []
    bm25_corpus: list[str] = []
    for pk, title, summary, text_hash, units_json, blob in store.claim_rows(embedder.name):
        parts = case_units(title, summary)
        pks.append(pk)
        texts.append(parts)
        bm25_corpus.append(f"{title}\n{summary}")
        if text_hash == _units_hash(parts) and blob is not None and units_json is not None:
            blocks.append(np.frombuffer(blob, dtype=np.float32).reshape(len(parts), embedder.dim))
        else:
            blocks.append(None)
            stale.append(len(pks) - 1)
    _embed_stale(store, embedder, pks, texts, blocks, stale, progress)
    matrix = (np.vstack([b for b in blocks if b is not None]) if pks
              else np.zeros((0, embedder.dim), dtype=np.float32))
    return pks, texts, bm25_corpus, matrix


def _embed_stale(store: SQLStore, embedder: Embedder, pks: list[int], texts: list[list[str]],
                 blocks: list[Vectors | None], stale: list[int],
                 progress: Callable[[int, int], None] | None, chunk: int = 256) -> None:
    for start in range(0, len(stale), chunk):
        rows = stale[start:start + chunk]
        flat = [unit for row in rows for unit in texts[row]]
        vectors = embedder.embed(flat, "passage")
        offset, cached = 0, []
        for row in rows:
            block = vectors[offset:offset + len(texts[row])]
            offset += len(texts[row])
            blocks[row] = block
            cached.append((pks[row], _units_hash(texts[row]), json.dumps(texts[row]), block.tobytes()))
        store.save_embeddings(embedder.name, cached)
        if progress:
            progress(min(start + chunk, len(stale)), len(stale))


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
    label: str
    evidence: list[Evidence]
    dense: float
    lexical: float


@dataclass(frozen=True)
class Calibration:
    """Two logistic models over candidate features and the label thresholds on their output.

    `full` uses every feature; `dense` only the dense ones, for inputs whose words the
    lexical channel cannot judge (another language). A candidate's score mixes the two by
    how far the lexical channel is trusted for that input.
    """

    full: tuple[float, ...]  # weights per feature_names(models), then the bias
    dense: tuple[float, ...]  # weights per dense feature (the first dense_columns), then the bias
    match_at: float  # label thresholds for `full` ...
    related_at: float
    dense_match_at: float  # ... and for `dense`
    dense_related_at: float

    def score(self, found: Candidates) -> FloatArray:
        full = logistic(found.features, self.full)
        dense = logistic(found.features[:, :found.dense_columns], self.dense)
        return np.asarray(found.trust * full + (1.0 - found.trust) * dense, dtype=np.float64)

    def label(self, score: float, trust: float) -> str:
        """match / related / none, with thresholds mixed like the two models are."""
        match_at = trust * self.match_at + (1 - trust) * self.dense_match_at
        related_at = trust * self.related_at + (1 - trust) * self.dense_related_at
        if score >= match_at:
            return "match"
        return "related" if score >= related_at else "none"


LEXICAL_FEATURES = ("lexical", "lexical_rr", "lexical_raw")


def feature_names(models: list[str]) -> tuple[str, ...]:
    """Candidate features: each model's best-pair cosine and reciprocal rank, then lexical ones."""
    return (*(f"cosine_{model}" for model in models), *(f"rr_{model}" for model in models), *LEXICAL_FEATURES)


def logistic(features: FloatArray, weights: tuple[float, ...]) -> FloatArray:
    """A logistic model's probabilities: `weights` are per feature, then the bias."""
    logits = features @ np.array(weights[:-1]) + weights[-1]
    return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)


def load_calibration(model: str) -> Calibration | None:
    """The fitted calibration shipped for a model (resources/calibration.json), if any."""
    text = resources.files("disinfodb.resources").joinpath("calibration.json").read_text()
    entry = json.loads(text).get(model)
    if entry is None:
        return None
    return Calibration(tuple(entry["full"]), tuple(entry["dense"]), entry["match_at"], entry["related_at"],
                       entry["dense_match_at"], entry["dense_related_at"])


@dataclass
class Candidates:
    """Per-candidate scores of one input, before calibration."""

    rows: IntArray  # case rows in the ClaimIndex
    features: FloatArray  # len(rows) x len(feature_names(models))
    best_unit: IntArray  # per candidate: the case unit of the best dense pair
    best_input: IntArray  # per candidate: the input unit of that pair
    ranks: FloatArray  # per candidate: its rank for each model, then in the lexical list (inf: absent)
    trust: float  # how far the lexical channel speaks for this input (0: another language)
    n_models: int = 1
    input_units: list[str] = field(default_factory=list)

    @property
    def dense_columns(self) -> int:
        """The dense features come first: one cosine per model, then one reciprocal rank per model."""
        return 2 * self.n_models

    @property
    def dense(self) -> FloatArray:
        """The mean of the models' best-pair cosines."""
        return np.asarray(self.features[:, :self.n_models].mean(axis=1), dtype=np.float64)

    @property
    def lexical(self) -> FloatArray:
        """The (trust-scaled) BM25 score, log1p."""
        return np.asarray(self.features[:, -1], dtype=np.float64)

    def rrf(self) -> FloatArray:
        """Plain reciprocal-rank fusion of the two channels (the uncalibrated fallback)."""
        dense = (1.0 / (RRF_K + self.ranks[:, :self.n_models])).mean(axis=1)
        return np.asarray(dense + 1.0 / (RRF_K + self.ranks[:, -1]), dtype=np.float64)


@dataclass
class ChannelScores:
    """One retrieval channel's view of an input: per case its best score and the input
    unit that gave it; per input unit its CANDIDATES best case scores (for ranks)."""

    score: FloatArray
    best_input: IntArray
    unit_top: dict[int, FloatArray]  # input unit -> its best case scores, descending

    @classmethod
    def empty(cls, n_cases: int) -> ChannelScores:
        return cls(np.zeros(n_cases), np.zeros(n_cases, dtype=np.int64), {})

    @classmethod
    def collect(cls, n_cases: int) -> ChannelScores:
        return cls(np.full(n_cases, -np.inf), np.zeros(n_cases, dtype=np.int64), {})

    def add(self, block: npt.NDArray[Any], units: IntArray) -> None:
        """Take in the case scores of some input units (row n of `block` is unit units[n])."""
        if not len(units):
            return
        block_best = block.max(axis=0)
        better = block_best > self.score
        self.score[better] = block_best[better]
        self.best_input[better] = units[block.argmax(axis=0)[better]]
        keep = min(CANDIDATES, block.shape[1])
        for unit, row in zip(units, block, strict=True):
            top = -np.partition(-row, keep - 1)[:keep] if keep else row[:0]
            self.unit_top[int(unit)] = np.sort(top)[::-1].astype(np.float64)

    def rank(self, rows: IntArray) -> FloatArray:
        """Each case's rank for its own best input unit (inf where the channel has none)."""
        ranks = np.full(len(rows), math.inf)
        for unit, members in self._by_unit(rows):
            top = self.unit_top[unit]
            ranks[members] = 1 + np.searchsorted(-top, -self.score[rows[members]], side="left")
        return ranks

    def relative(self, rows: IntArray) -> FloatArray:
        """Each case's score over the best score of its best input unit (0..1)."""
        out = np.zeros(len(rows))
        for unit, members in self._by_unit(rows):
            best = self.unit_top[unit][0] if len(self.unit_top[unit]) else 0.0
            if best > 0:
                out[members] = self.score[rows[members]] / best
        return out

    def _by_unit(self, rows: IntArray) -> list[tuple[int, IntArray]]:
        """The positions in `rows` of the scored cases, grouped by their best input unit."""
        scored = np.flatnonzero(self.score[rows] > 0)
        units = self.best_input[rows[scored]]
        return [(int(unit), scored[units == unit]) for unit in np.unique(units) if int(unit) in self.unit_top]


def _top(score: FloatArray, mask: npt.NDArray[np.bool_], count: int) -> IntArray:
    """The `count` best cases among those allowed, best first (cases scoring > 0)."""
    scores = np.where(mask & (score > 0), score, -np.inf)
    part = np.argpartition(-scores, count)[:count] if count < len(scores) else np.arange(len(scores))
    order = part[np.argsort(-scores[part], kind="stable")]
    return order[np.isfinite(scores[order])]


class Matcher:
    """Matches texts against every case of a store, with one or more embedding models.

    With several models the dense score is the mean of their best-pair cosines; the first
    (fast) model embeds every input unit, the others only the SECONDARY_UNITS units the
    first found most claim-like, so long inputs stay bounded in time.
    """

    def __init__(self, store: SQLStore, embedders: list[Embedder], index: ClaimIndex | None = None,
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
        rows = np.union1d(_top(mean_cosine, mask, pool), _top(lexical_channel.score, mask, pool))
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
              min_label: str = "none") -> list[Match]:
        """The best matching cases for a text, best first, with scores, labels and evidence."""
        allowed = self.store.term_index().select(query) if query else None
        found = self.candidates(text, allowed)
        scores = self.scores(found)
        order = np.argsort(-scores, kind="stable")[:limit]
        keep = _label_rank(min_label)
        chosen = [i for i in order if _label_rank(self.label(float(scores[i]), found.trust)) >= keep]
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

    def label(self, score: float, trust: float) -> str:
        if self.calibration is None:
            return "related" if score >= 1.0 / (RRF_K + 1) else "none"
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


def near_duplicates(store: SQLStore, index: ClaimIndex, case_ids: list[str],
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


def _label_rank(label: str) -> int:
    return {"none": 0, "related": 1, "match": 2}[label]


def matches_json(matches: list[Match]) -> dict[str, Any]:
    return {"matches": [
        {"case_id": m.case_id, "title": m.title, "score": m.score, "label": m.label,
         "dense": m.dense, "lexical": m.lexical,
         "evidence": [{"input_sentence": e.input_sentence, "case_sentence": e.case_sentence,
                       "score": e.score} for e in m.evidence]}
        for m in matches]}
