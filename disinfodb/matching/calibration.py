"""From candidate features to a calibrated score and a label: two logistic models (every
feature, or the dense ones alone for inputs in another language), fitted on labelled data
by `bench.retrieval` and `bench.crosslingual` and shipped in resources/calibration.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from disinfodb.matching.channels import Candidates, FloatArray
from disinfodb.matching.label import Label


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

    def label(self, score: float, trust: float) -> Label:
        """match / related / none, with thresholds mixed like the two models are."""
        match_at = trust * self.match_at + (1 - trust) * self.dense_match_at
        related_at = trust * self.related_at + (1 - trust) * self.dense_related_at
        if score >= match_at:
            return Label.MATCH
        return Label.RELATED if score >= related_at else Label.NONE


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
