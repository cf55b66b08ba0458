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
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import bm25s
import numpy as np
import numpy.typing as npt

from disinfodb.embed import Embedder, Vectors
from disinfodb.errors import DisinfoError
from disinfodb.search import SearchQuery
from disinfodb.store.sqlite import SQLiteStore
from disinfodb.store.term_index import IntArray
from disinfodb.text import clean, sentences, units

MAX_INPUT_CHARS = 2_000_000
MAX_INPUT_UNITS = 256
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
    """What a case claims: its title and its summary's first sentences."""
    out = [title]
    for sentence in sentences(summary):
        if len(out) >= CASE_UNITS:
            break
        if sentence.casefold() != title.casefold():
            out.append(sentence)
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
    bm25: bm25s.BM25

    @classmethod
    def build(cls, store: SQLiteStore, embedders: list[Embedder],
              progress: Callable[[int, int], None] | None = None) -> ClaimIndex:
        """Load cached vectors; embed (and cache) the cases whose claim text is new."""
        vectors: dict[str, Vectors] = {}
        for embedder in embedders:
            pks, texts, bm25_corpus, vectors[embedder.name] = _model_vectors(store, embedder, progress)
        counts = np.array([len(t) for t in texts], dtype=np.int64)
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(bm25_corpus or [""], stopwords="en", show_progress=False),
                        show_progress=False)
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


def _model_vectors(store: SQLiteStore, embedder: Embedder, progress: Callable[[int, int], None] | None
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


def _embed_stale(store: SQLiteStore, embedder: Embedder, pks: list[int], texts: list[list[str]],
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

    full: tuple[float, ...]  # weights per FEATURES, then the bias
    dense: tuple[float, ...]  # weights per DENSE_FEATURES, then the bias
    match_at: float
    related_at: float
    source: str = ""

    def score(self, found: Candidates) -> FloatArray:
        full = _logistic(found.features, self.full)
        dense = _logistic(found.features[:, :len(DENSE_FEATURES)], self.dense)
        return np.asarray(found.trust * full + (1.0 - found.trust) * dense, dtype=np.float64)

    def label(self, score: float) -> str:
        if score >= self.match_at:
            return "match"
        return "related" if score >= self.related_at else "none"


FEATURES = ("dense", "dense_rr", "lexical", "lexical_rr", "lexical_raw")
DENSE_FEATURES = FEATURES[:2]


def _logistic(features: FloatArray, weights: tuple[float, ...]) -> FloatArray:
    logits = features @ np.array(weights[:-1]) + weights[-1]
    return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)


def load_calibration(model: str) -> Calibration | None:
    """The fitted calibration shipped for a model (resources/calibration.json), if any."""
    text = resources.files("disinfodb.resources").joinpath("calibration.json").read_text()
    entry = json.loads(text).get(model)
    if entry is None:
        return None
    return Calibration(tuple(entry["full"]), tuple(entry["dense"]), entry["match_at"], entry["related_at"],
                       entry.get("source", ""))


@dataclass
class Candidates:
    """Per-candidate scores of one input, before calibration."""

    rows: IntArray  # case rows in the ClaimIndex
    features: FloatArray  # len(rows) x len(FEATURES)
    best_unit: IntArray  # per candidate: the case unit of the best dense pair
    best_input: IntArray  # per candidate: the input unit of that pair
    ranks: FloatArray  # per candidate: its rank in the dense and in the lexical list (inf: absent)
    trust: float  # how far the lexical channel speaks for this input (0: another language)
    input_units: list[str] = field(default_factory=list)

    def rrf(self) -> FloatArray:
        """Plain reciprocal-rank fusion of the two channels (the uncalibrated fallback)."""
        return np.asarray((1.0 / (RRF_K + self.ranks)).sum(axis=1), dtype=np.float64)


class Matcher:
    """Matches texts against every case of a store, with one or more embedding models.

    With several models the dense score is the mean of their best-pair cosines; the first
    (fast) model embeds every input unit, the others only the SECONDARY_UNITS units the
    first found most claim-like, so long inputs stay bounded in time.
    """

    def __init__(self, store: SQLiteStore, embedders: list[Embedder], index: ClaimIndex | None = None,
                 calibration: Calibration | None = None) -> None:
        self.store = store
        self.embedders = embedders
        self.name = "+".join(e.name for e in embedders)
        self.index = index or ClaimIndex.build(store, embedders)
        self.calibration = calibration or load_calibration(self.name)

    def candidates(self, text: str, allowed: IntArray | None = None, lexical: bool = True,
                   dense: bool = True) -> Candidates:
        """Score the cases for one input text: the union of both channels' top candidates."""
        if len(text) > MAX_INPUT_CHARS:
            raise InputTooLarge(f"the text has {len(text):,} characters; matching takes up to "
                                f"{MAX_INPUT_CHARS:,} (split it, or use `scan` for corpora)")
        input_units = units(clean(text), MAX_INPUT_UNITS)
        if not any(any(ch.isalnum() for ch in unit) for unit in input_units):
            raise NothingToMatch("the text has no words to match")
        n_cases = len(self.index.case_pks)
        mask = np.ones(n_cases, dtype=bool)
        if allowed is not None:
            mask = np.isin(self.index.case_pks, allowed, assume_unique=True)
        dense_score, best_unit, best_input = self._dense(input_units) if dense else (
            np.zeros(n_cases), np.zeros(n_cases, dtype=np.int64), np.zeros(n_cases, dtype=np.int64))
        lexical_score, trust = self._lexical(input_units) if lexical else (np.zeros(n_cases), 0.0)
        dense_score = np.where(mask, dense_score, -np.inf)
        lexical_score = np.where(mask, lexical_score, -np.inf)
        pool = min(CANDIDATES, int(mask.sum()))
        top_dense = np.argsort(-dense_score, kind="stable")[:pool] if dense else np.zeros(0, np.int64)
        top_lexical = np.argsort(-lexical_score, kind="stable")[:pool] if lexical else np.zeros(0, np.int64)
        top_lexical = top_lexical[lexical_score[top_lexical] > 0]
        rows = np.union1d(top_dense, top_lexical).astype(np.int64)
        dense_rank = _ranks(top_dense, n_cases)
        lexical_rank = _ranks(top_lexical, n_cases)
        best_lexical = float(lexical_score[top_lexical[0]]) if len(top_lexical) else 0.0
        features = np.column_stack([
            np.maximum(dense_score[rows], 0.0),
            1.0 / dense_rank[rows],
            np.where(lexical_score[rows] > 0, trust * lexical_score[rows] / max(best_lexical, 1e-9), 0.0),
            trust / lexical_rank[rows],
            np.log1p(np.maximum(lexical_score[rows], 0.0)),
        ]) if len(rows) else np.zeros((0, len(FEATURES)))
        ranks = np.column_stack([dense_rank[rows], lexical_rank[rows]])
        return Candidates(rows, features, best_unit[rows], best_input[rows], ranks, trust, input_units)

    def _dense(self, input_units: list[str]) -> tuple[FloatArray, IntArray, IntArray]:
        """Per case: the mean over models of the best cosine over (input unit, case unit)
        pairs, and the primary model's best pair."""
        first, *others = self.embedders
        case_best, best_unit, best_input = self._best_pairs(first, input_units, np.arange(len(input_units)))
        if not others:
            return case_best, best_unit, best_input
        # The input units the primary model found closest to some case: claim-like ones.
        ranked = np.unique(best_input[np.argsort(-case_best)], return_index=True)
        chosen = ranked[0][np.argsort(ranked[1])][:SECONDARY_UNITS]
        total = case_best.copy()
        for embedder in others:
            total += self._best_pairs(embedder, [input_units[i] for i in chosen], chosen)[0]
        return total / len(self.embedders), best_unit, best_input

    def _best_pairs(self, embedder: Embedder, input_units: list[str], positions: IntArray
                    ) -> tuple[FloatArray, IntArray, IntArray]:
        """One model's best cosine per case, its case unit and (position of) input unit."""
        queries = embedder.embed(input_units, "query")
        vectors = self.index.vectors[embedder.name]
        best = np.full(len(vectors), -1.0, dtype=np.float32)
        best_input = np.zeros(len(vectors), dtype=np.int64)
        for start in range(0, len(queries), _INPUT_BLOCK):
            sims = queries[start:start + _INPUT_BLOCK] @ vectors.T
            block_best = sims.max(axis=0)
            better = block_best > best
            best[better] = block_best[better]
            best_input[better] = sims.argmax(axis=0)[better] + start
        starts = self.index.unit_start[:-1]
        case_best = np.maximum.reduceat(best, starts) if len(starts) else best
        # The unit holding each case's maximum (first one on ties).
        unit_case = np.repeat(np.arange(len(starts)), np.diff(self.index.unit_start))
        is_max = best == case_best[unit_case]
        first = np.full(len(starts), -1, dtype=np.int64)
        hits = np.flatnonzero(is_max)
        first[unit_case[hits[::-1]]] = hits[::-1]
        return case_best.astype(np.float64), first, positions[best_input[first]]

    def _lexical(self, input_units: list[str]) -> tuple[FloatArray, float]:
        """Per case: the best BM25 score over the input units, scaled down to nothing when
        the input is mostly words the corpus does not have (another language)."""
        tokens = bm25s.tokenize(input_units, stopwords="en", return_ids=False, show_progress=False)
        vocabulary = self.index.bm25.vocab_dict
        words = [word for query in tokens for word in query]
        known = sum(word in vocabulary for word in words) / max(len(words), 1)
        low, high = LEXICAL_TRUSTED_FROM
        trust = min(1.0, max(0.0, (known - low) / (high - low)))
        best = np.zeros(len(self.index.case_pks), dtype=np.float64)
        if trust > 0.0:
            for query in tokens:
                if query:
                    np.maximum(best, self.index.bm25.get_scores(query), out=best)
        return best * trust, trust

    def match(self, text: str, query: SearchQuery | None = None, limit: int = 10,
              min_label: str = "none") -> list[Match]:
        """The best matching cases for a text, best first, with scores, labels and evidence."""
        allowed = self.store.term_index().select(query) if query else None
        found = self.candidates(text, allowed)
        scores = self.scores(found)
        order = np.argsort(-scores, kind="stable")[:limit]
        keep = {"none": 0, "related": 1, "match": 2}[min_label]
        chosen = [i for i in order if _label_rank(self.label(float(scores[i]))) >= keep]
        names = self.store.case_ids([int(self.index.case_pks[found.rows[i]]) for i in chosen])
        matches = []
        for i in chosen:
            pk = int(self.index.case_pks[found.rows[i]])
            case_id, title = names[pk]
            unit = int(found.best_unit[i])
            evidence = [Evidence(found.input_units[int(found.best_input[i])], self.index.unit_text[unit],
                                 round(float(found.features[i, 0]), 4))] if unit >= 0 else []
            matches.append(Match(case_id, title, round(float(scores[i]), 4), self.label(float(scores[i])),
                                 evidence, round(float(found.features[i, 0]), 4),
                                 round(float(found.features[i, 4]), 4)))
        return matches

    def scores(self, found: Candidates) -> FloatArray:
        """The calibrated score of each candidate (RRF where no calibration was fitted)."""
        return self.calibration.score(found) if self.calibration else found.rrf()

    def label(self, score: float) -> str:
        if self.calibration is None:
            return "related" if score >= 1.0 / (RRF_K + 1) else "none"
        return self.calibration.label(score)

    def related(self, case_id: str, k: int = 10) -> list[tuple[str, str, float]]:
        """The k cases whose claims are closest to this case's: (id, title, cosine)."""
        pk = self.store.pk_of(case_id)
        row = int(np.searchsorted(self.index.case_pks, pk))
        vectors = self.index.case_vectors()
        sims = vectors @ vectors[row]
        sims[row] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        names = self.store.case_ids([int(self.index.case_pks[i]) for i in top])
        return [(*names[int(self.index.case_pks[i])], round(float(sims[i]), 4)) for i in top]


NEAR_DUPLICATE = 0.92


def near_duplicates(store: SQLiteStore, index: ClaimIndex, case_ids: list[str],
                    threshold: float = NEAR_DUPLICATE) -> list[tuple[str, str, float]]:
    """For each given case, the closest *other* case if its claim is at least `threshold`
    similar (cosine of the cases' mean unit vectors): (case id, other id, cosine)."""
    if not case_ids or not len(index.case_pks):
        return []
    rows = np.searchsorted(index.case_pks, [store.pk_of(cid) for cid in case_ids])
    vectors = index.case_vectors()
    found: list[tuple[int, int, float]] = []
    for start in range(0, len(rows), 512):
        block = rows[start:start + 512]
        sims = vectors[block] @ vectors.T
        sims[np.arange(len(block)), block] = -np.inf
        best = sims.argmax(axis=1)
        for row, other, score in zip(block, best, sims[np.arange(len(block)), best], strict=True):
            if score >= threshold:
                found.append((int(index.case_pks[row]), int(index.case_pks[other]), float(score)))
    names = store.case_ids([pk for pair in found for pk in pair[:2]])
    return [(names[a][0], names[b][0], round(score, 4)) for a, b, score in found]


def _ranks(order: IntArray, size: int) -> FloatArray:
    """1-based rank of each row in `order`; rows not in it rank at infinity."""
    ranks = np.full(size, math.inf)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def _label_rank(label: str) -> int:
    return {"none": 0, "related": 1, "match": 2}[label]


def matches_json(matches: list[Match]) -> dict[str, Any]:
    return {"matches": [
        {"case_id": m.case_id, "title": m.title, "score": m.score, "label": m.label,
         "dense": m.dense, "lexical": m.lexical,
         "evidence": [{"input_sentence": e.input_sentence, "case_sentence": e.case_sentence,
                       "score": e.score} for e in m.evidence]}
        for m in matches]}
