"""The two retrieval channels' view of one input: per case, its best score and the input
unit that gave it, ranks and relative scores per input unit, and the candidates' features."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from disinfodb.store.term_index import IntArray

CANDIDATES = 100
RRF_K = 60
PRIOR_CASES = 1000
FloatArray = npt.NDArray[np.float64]


@dataclass
class Candidates:
    """Per-candidate scores of one input, before calibration."""

    rows: IntArray  # case rows in the ClaimIndex
    features: FloatArray  # len(rows) x len(feature_names(models))
    title_only: npt.NDArray[np.bool_]  # per candidate: the case has a single claim unit (its title)
    best_unit: IntArray  # per candidate: the case unit of the best dense pair
    best_input: IntArray  # per candidate: the input unit of that pair
    ranks: FloatArray  # per candidate: its rank for each model, then in the lexical list (inf: absent)
    trust: float  # how far the lexical channel speaks for this input (0: another language)
    n_models: int = 1
    input_units: list[str] = field(default_factory=list)

    @property
    def dense_columns(self) -> int:
        """The dense features come first: per model a cosine, then per model a reciprocal rank, then a z-score."""
        return 3 * self.n_models

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
    unit_spread: dict[int, tuple[float, float]] = field(default_factory=dict)  # unit -> (mean, std) over cases
    prior: tuple[float, float] | None = None  # the model's (mean, std) over a large corpus (Embedder.spread)

    @classmethod
    def empty(cls, n_cases: int) -> ChannelScores:
        return cls(np.zeros(n_cases), np.zeros(n_cases, dtype=np.int64), {})

    @classmethod
    def collect(cls, n_cases: int, prior: tuple[float, float] | None = None) -> ChannelScores:
        return cls(np.full(n_cases, -np.inf), np.zeros(n_cases, dtype=np.int64), {}, {}, prior)

    def add(self, block: npt.NDArray[Any], units: IntArray) -> None:
        """Take in the case scores of some input units (row n of `block` is unit units[n])."""
        if not len(units):
            return
        block_best = block.max(axis=0)
        better = block_best > self.score
        self.score[better] = block_best[better]
        self.best_input[better] = units[block.argmax(axis=0)[better]]
        keep = min(CANDIDATES, block.shape[1])
        means, stds = self._spread(block)
        for unit, row, mean, std in zip(units, block, means, stds, strict=True):
            top = -np.partition(-row, keep - 1)[:keep] if keep else row[:0]
            self.unit_top[int(unit)] = np.sort(top)[::-1].astype(np.float64)
            self.unit_spread[int(unit)] = (float(mean), float(std))

    def _spread(self, block: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
        """Per input unit the mean and standard deviation of its case scores, pooled with the
        model's prior as if it were PRIOR_CASES more cases: a database of a few cases has no
        spread to speak of (z over 4 cases is at most 1.7), one of thousands barely moves."""
        means, variances = block.mean(axis=1), block.var(axis=1)
        if self.prior is None:
            return means, np.sqrt(variances)
        n, (prior_mean, prior_std) = block.shape[1], self.prior
        pooled = (n * means + PRIOR_CASES * prior_mean) / (n + PRIOR_CASES)
        spread = (n * (variances + (means - pooled) ** 2)
                  + PRIOR_CASES * (prior_std ** 2 + (prior_mean - pooled) ** 2)) / (n + PRIOR_CASES)
        return pooled, np.sqrt(spread)

    def rank(self, rows: IntArray) -> FloatArray:
        """Each case's rank for its own best input unit (inf where the channel has none)."""
        ranks = np.full(len(rows), math.inf)
        for unit, members in self._by_unit(rows):
            top = self.unit_top[unit]
            ranks[members] = 1 + np.searchsorted(-top, -self.score[rows[members]], side="left")
        return ranks

    def z(self, rows: IntArray) -> FloatArray:
        """Each case's score in standard deviations above the mean over all cases, for its own best
        input unit: what a cosine means for that input, whatever the language (e5 packs every
        cosine near 0.8; how far a case stands out of the crowd is comparable across inputs)."""
        out = np.zeros(len(rows))
        for unit, members in self._by_unit(rows):
            mean, std = self.unit_spread.get(unit, (0.0, 0.0))
            if std > 0:
                out[members] = (self.score[rows[members]] - mean) / std
        return out

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


def top_cases(score: FloatArray, mask: npt.NDArray[np.bool_], count: int) -> IntArray:
    """The `count` best cases among those allowed, best first (cases scoring > 0)."""
    scores = np.where(mask & (score > 0), score, -np.inf)
    part = np.argpartition(-scores, count)[:count] if count < len(scores) else np.arange(len(scores))
    order = part[np.argsort(-scores[part], kind="stable")]
    return order[np.isfinite(scores[order])]
