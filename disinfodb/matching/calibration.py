"""From candidate features to a calibrated probability and a label.

A candidate's probability of being the case the input repeats comes from two logistic
models: `full` over every feature, `dense` over the models' features alone, mixed by how
far the lexical channel is trusted for that input (not at all for another language). Each
has its own weights for cases that have only a title (10,892 of the 13,665 real cases) and
for cases with a summary: a title is one short unit to match, so the same cosine means
more there. Both are fitted by `bench.verdicts` on training pairs in every language and
kind and shipped in resources/calibration.json. Calibrating per regime is what lets one
pair of thresholds mean the same in every language and kind; how far it does is measured
per language and kind by bench.verdicts (the README's Verdicts).

`related` has a threshold per kind of input too: a claim (a post, a title: at most
CLAIM_SENTENCES sentences) or a document. A document's best sentence against 13k cases
reaches a given probability by chance far more often than one claim does: with the
claims' threshold, 39% of passages of US debate transcripts (3-8 sentences about nothing
the archive holds) had a `related` case, and a scan or a watch would queue them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from disinfodb.errors import DisinfoError
from disinfodb.matching.channels import Candidates, FloatArray
from disinfodb.matching.label import Label

LEXICAL_FEATURES = ("lexical", "lexical_rr", "lexical_raw")
CLAIM_SENTENCES = 2  # an input of more sentences is a document
DENSE_FEATURES = ("cosine", "rr", "z")


def feature_names(models: list[str]) -> tuple[str, ...]:
    """Candidate features: per model its best-pair cosine, reciprocal rank and z-score, then the lexical ones."""
    return (*(f"{feature}_{model}" for feature in DENSE_FEATURES for model in models), *LEXICAL_FEATURES)


def is_document(input_units: Sequence[str]) -> bool:
    """Whether an input cut into units (text.units: n sentences give n units, and one more,
    the whole text, for 2-4 sentences) has more than CLAIM_SENTENCES sentences."""
    return len(input_units) > CLAIM_SENTENCES + 1


def by_kind(features: FloatArray, title_only: np.ndarray) -> FloatArray:
    """Features once for cases with a summary and once for title-only cases (zero in the other
    kind's columns), then the title-only indicator: one linear model, a weight set per kind."""
    kind = title_only.astype(np.float64)[:, np.newaxis]
    return np.hstack([features * (1.0 - kind), features * kind, kind])


def logistic(features: FloatArray, weights: tuple[float, ...]) -> FloatArray:
    """A logistic model's probabilities: `weights` are per feature, then the bias."""
    logits = features @ np.array(weights[:-1]) + weights[-1]
    return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)


@dataclass(frozen=True)
class Calibration:
    """The two logistic models (over `by_kind` features) and the label thresholds on their mix."""

    full: tuple[float, ...]  # weights over by_kind(every feature), then the bias
    dense: tuple[float, ...]  # weights over by_kind(the dense features), then the bias
    match_at: float
    related_at: float  # for a claim
    related_at_document: float  # for a document (is_document)

    def score(self, found: Candidates) -> FloatArray:
        full = logistic(by_kind(found.features, found.title_only), self.full)
        dense = logistic(by_kind(found.features[:, :found.dense_columns], found.title_only), self.dense)
        return np.asarray(found.trust * full + (1.0 - found.trust) * dense, dtype=np.float64)

    def label(self, score: float, document: bool) -> Label:
        """The label of a candidate's score, for an input that is a document or a claim."""
        if score >= self.match_at:
            return Label.MATCH
        return Label.RELATED if score >= self.thresholds(document)[1] else Label.NONE

    def thresholds(self, document: bool) -> tuple[float, float]:
        """The scores from which a candidate is labelled match, and related."""
        return self.match_at, self.related_at_document if document else self.related_at

    def as_json(self) -> dict[str, object]:
        return {"full": list(self.full), "dense": list(self.dense), "match_at": self.match_at,
                "related_at": self.related_at, "related_at_document": self.related_at_document}


def load_calibration(model: str) -> Calibration | None:
    """The fitted calibration shipped for a model spec (resources/calibration.json), if any."""
    text = resources.files("disinfodb.resources").joinpath("calibration.json").read_text()
    entry = json.loads(text).get(model)
    if entry is None:
        return None
    calibration = Calibration(tuple(entry["full"]), tuple(entry["dense"]), entry["match_at"], entry["related_at"],
                              entry["related_at_document"])
    features = len(feature_names(model.split("+")))
    dense = len(DENSE_FEATURES) * len(model.split("+"))
    if (len(calibration.full), len(calibration.dense)) != (2 * features + 2, 2 * dense + 2):
        raise DisinfoError(f"resources/calibration.json: the entry for {model!r} was fitted on other features; "
                           f"fit it again with `python -m bench.verdicts --model {model} --write-calibration`")
    return calibration
