"""The label models, on arrays: claim vectors in, a probability per facet value out.

What it is, and why (measured by bench.suggest on the archive's dev slice: cases of
2019-08-01..2020-04-30, trained on the older ones):
- a ridge regression of the label matrix on the vectors (one closed-form solve for every
  label at once: ~1 s for 13k cases and 612 keywords on two cores, where one-vs-rest
  logistic regression took over ten minutes, too slow to train on demand), blended half
  and half with a kNN vote (the labels of the KNN nearest cases, weighted by
  exp(cosine / TEMPERATURE)); the blend's keyword recall@5 is 0.475 against 0.459 for the
  ridge and 0.449 for the vote alone, and it is as good or better for countries and
  languages;
- the blend's score is made a probability by a logistic fit (Platt) on the dev cases,
  where the ridge was fitted without them, and `threshold` is the probability at which
  the labels above it have the best micro-F1 on those cases (`likely` labels);
- the weights are then fitted again on every case, the dev ones included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.sparse
from sklearn.linear_model import LogisticRegression

FloatArray = npt.NDArray[np.float32]
Labels: TypeAlias = scipy.sparse.csr_matrix  # cases x labels, 1 where a case carries the label

RIDGE_ALPHA = 0.3
KNN = 100
TEMPERATURE = 0.05
RIDGE_SHARE = 0.5  # the blend: RIDGE_SHARE * ridge + (1 - RIDGE_SHARE) * vote


@dataclass(frozen=True)
class Ridge:
    """Multi-output ridge regression: scores = (x - mean) @ weights + bias."""

    mean: FloatArray
    weights: FloatArray
    bias: FloatArray

    @classmethod
    def fit(cls, vectors: FloatArray, labels: Labels, alpha: float = RIDGE_ALPHA) -> Ridge:
        mean = vectors.mean(axis=0)
        centred = vectors - mean
        bias = np.asarray(labels.mean(axis=0), dtype=np.float32).ravel()
        gram = centred.T @ centred + alpha * np.eye(vectors.shape[1], dtype=np.float32)
        target = np.asarray((labels.T @ centred).T, dtype=np.float32) - np.outer(centred.sum(axis=0), bias)
        weights = scipy.linalg.solve(gram, target, assume_a="pos")
        return cls(mean, weights.astype(np.float32), bias)

    def scores(self, vectors: FloatArray) -> FloatArray:
        return np.asarray((vectors - self.mean) @ self.weights + self.bias, dtype=np.float32)


def neighbours(vectors: FloatArray, queries: FloatArray, k: int = KNN, temperature: float = TEMPERATURE
               ) -> scipy.sparse.csr_matrix:
    """queries x cases: each query's k nearest cases (cosine of unit vectors), weighted by
    exp(cosine / temperature) and summing to 1; `weights @ labels` is the kNN vote."""
    k = min(k, len(vectors))
    if not k:
        return scipy.sparse.csr_matrix((len(queries), len(vectors)), dtype=np.float32)
    sims = queries @ vectors.T
    nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    near = np.take_along_axis(sims, nearest, axis=1)
    weights = np.exp((near - near.max(axis=1, keepdims=True)) / temperature)
    weights /= weights.sum(axis=1, keepdims=True)
    return scipy.sparse.csr_matrix((weights.ravel(), (np.repeat(np.arange(len(queries)), k), nearest.ravel())),
                                   shape=(len(queries), len(vectors)))


@dataclass(frozen=True)
class FacetModel:
    """A facet's labels, which training cases carry them, the ridge, and the calibration."""

    labels: list[str]
    carried: Labels
    ridge: Ridge
    platt: tuple[float, float]  # probability = 1 / (1 + exp(-(a * blend + b)))
    threshold: float  # the probability from which a label is likely (best micro-F1 on the dev cases)

    def probabilities(self, queries: FloatArray, near: scipy.sparse.csr_matrix) -> FloatArray:
        """queries x labels, given the queries' `neighbours` among the training cases."""
        return _sigmoid(_blend(self.ridge, self.carried, queries, near), self.platt)


@dataclass(frozen=True)
class LabelModels:
    """The models of several facets over the same training cases (their vectors, for the vote)."""

    vectors: FloatArray
    facets: dict[str, FacetModel]

    @classmethod
    def fit(cls, vectors: FloatArray, labels: dict[str, tuple[list[str], Labels]], dev: npt.NDArray[np.bool_]
            ) -> LabelModels:
        """Fit on the cases outside `dev`, calibrate and set each threshold on `dev`, then fit
        the weights again on every case. Without dev cases (a tiny store) the score is the
        blend itself, and the threshold 0.5."""
        calibrate = bool(dev.any() and (~dev).any())
        near = neighbours(vectors[~dev], vectors[dev]) if calibrate else None
        facets = {}
        for name, (values, carried) in labels.items():
            platt, threshold = (1.0, 0.0), 0.5
            if near is not None and carried[dev].nnz:
                blend = _blend(Ridge.fit(vectors[~dev], carried[~dev]), carried[~dev], vectors[dev], near).ravel()
                truth = carried[dev].toarray().ravel() > 0
                platt = _platt(blend, truth)
                threshold = _best_f1_threshold(_sigmoid(blend, platt), truth)
            facets[name] = FacetModel(values, carried, Ridge.fit(vectors, carried), platt, threshold)
        return cls(vectors, facets)

    def probabilities(self, queries: FloatArray) -> dict[str, FloatArray]:
        """Per facet: queries x labels."""
        near = neighbours(self.vectors, queries)
        return {name: model.probabilities(queries, near) for name, model in self.facets.items()}


def _blend(ridge: Ridge, carried: Labels, queries: FloatArray, near: scipy.sparse.csr_matrix) -> FloatArray:
    vote = np.asarray((near @ carried).toarray(), dtype=np.float32)
    return RIDGE_SHARE * ridge.scores(queries) + (1 - RIDGE_SHARE) * vote


def _sigmoid(scores: FloatArray, platt: tuple[float, float]) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-(platt[0] * scores + platt[1]))), dtype=np.float32)


def _platt(scores: FloatArray, truth: npt.NDArray[np.bool_]) -> tuple[float, float]:
    if truth.all() or not truth.any():
        return 1.0, 0.0
    fitted = LogisticRegression(C=1e4).fit(scores.reshape(-1, 1), truth)
    return float(fitted.coef_[0, 0]), float(fitted.intercept_[0])


def _best_f1_threshold(scores: FloatArray, truth: npt.NDArray[np.bool_]) -> float:
    """The score from which (inclusive) the pairs above it have the best micro-F1."""
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(truth[order])
    f1 = 2 * hits / (np.arange(1, len(order) + 1) + truth.sum())
    return float(scores[order[int(np.argmax(f1))]])
