"""Suggested metadata for a new claim: the keywords, countries and article languages the
archive's cases with similar claims carry, from models trained on the store's own cases.

A claim's vector is what the matcher keeps for every case: per model the normalised mean
of its claim units' vectors (title, first summary sentences; ClaimIndex.case_vectors),
the models' vectors side by side (scaled by 1/sqrt(models), so the cosine is the mean of
the models' cosines). A text is cut into units as a case is (its first sentence standing
for the title) and embedded the same way. Each facet has its own model (model.py).

Trained on demand, in about a second per facet at 13k cases, and cached per matcher (its claim
index) and store version (`Store.data_version`): a second call answers in milliseconds, and any
write (a case added, a keyword edited) trains them again on the next call. Nothing is
persisted: training costs less than loading the claim vectors.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse
from pydantic import BaseModel, ConfigDict, Field

from disinfodb.embed import Embedder
from disinfodb.embed.base import joined, normalised
from disinfodb.errors import InputTooLarge
from disinfodb.matching import ClaimIndex, Matcher, case_units, require_words
from disinfodb.store.term_index import NO_DATE, TermIndex
from disinfodb.suggest.model import FloatArray, LabelModels
from disinfodb.text import claim_sentences, clean

# Suggested facets: the name in the answer -> the facet it comes from.
SUGGESTED = {"keywords": "keyword", "countries": "country", "languages": "language"}
MAX_TEXT_CHARS = 20_000  # a claim: a title and a summary, or a document's claim sentences
DEV_SHARE = 0.15  # the newest dated cases, held out to calibrate and set the thresholds


class Suggestion(BaseModel):
    """One suggested value (a pydantic model: the API's answers, and a draft's, carry it as it is)."""

    model_config = ConfigDict(frozen=True)

    value: str = Field(description="As the cases spell it (languages: ISO 639 codes)")
    score: float = Field(description="The probability that a case with this claim carries the value")
    likely: bool = Field(description="The score reaches the facet's threshold (fitted for the best micro-F1 on"
                                     " the newest cases, held out)")


class Suggestions(BaseModel):
    """Each facet's values, best first."""

    model_config = ConfigDict(frozen=True)

    keywords: list[Suggestion]
    countries: list[Suggestion]
    languages: list[Suggestion] = Field(description="Article languages")

    def as_json(self) -> dict[str, list[dict[str, object]]]:
        return self.model_dump(mode="json")


def case_features(index: ClaimIndex) -> FloatArray:
    """Every case's claim vector: each model's case vectors side by side."""
    return joined([vectors.group_means(index.unit_start) for vectors in index.vectors.values()])


def text_features(embedders: list[Embedder], texts: list[str]) -> FloatArray:
    """Claim vectors of texts, as `case_features` makes them for cases (same models, same order)."""
    cut = [text_units(text) for text in texts]
    flat = [unit for units_ in cut for unit in units_]
    starts = np.cumsum([0, *map(len, cut)])
    means = []
    for embedder in embedders:
        vectors = embedder.embed(flat, "passage")
        sums = np.add.reduceat(vectors, starts[:-1], axis=0)
        means.append(normalised(sums))
    return joined(means)


def text_units(text: str) -> list[str]:
    """A text's claim units as a case's are cut: its first sentence stands for the title.
    NothingToMatch for a text without words, InputTooLarge past MAX_TEXT_CHARS."""
    if len(text) > MAX_TEXT_CHARS:
        raise InputTooLarge(f"the text has {len(text):,} characters; suggestions take a claim of up to"
                            f" {MAX_TEXT_CHARS:,} (its title and summary)")
    first, *rest = claim_sentences(require_words(clean(text)))
    return case_units(first, " ".join(rest))


def dev_slice(published: npt.NDArray[np.int64], share: float = DEV_SHARE) -> npt.NDArray[np.bool_]:
    """The newest `share` of the dated cases (a new claim is newer than what the model knows)."""
    dated = published != NO_DATE
    if not dated.any():
        return np.zeros(len(published), dtype=bool)
    cut = np.quantile(published[dated], 1.0 - share)
    return np.asarray(dated & (published >= cut))


@dataclass(frozen=True)
class MetadataModel:
    """The suggested facets' models over a store's cases."""

    models: LabelModels  # keyed by answer name (SUGGESTED)

    @classmethod
    def train(cls, vectors: FloatArray, labels: dict[str, tuple[list[str], scipy.sparse.csr_matrix]],
              published: npt.NDArray[np.int64]) -> MetadataModel:
        """From the cases' claim vectors, the values each carries and their dates (the newest
        are the dev slice)."""
        return cls(LabelModels.fit(vectors, labels, dev_slice(published)))

    @classmethod
    def of_index(cls, index: ClaimIndex, terms: TermIndex) -> MetadataModel:
        labels = {name: terms.facet_matrix(facet, index.case_pks) for name, facet in SUGGESTED.items()}
        known = index.case_pks < len(terms.published)
        published = np.full(len(index.case_pks), NO_DATE, dtype=np.int64)
        published[known] = terms.published[index.case_pks[known]]
        return cls.train(case_features(index), labels, published)

    def suggest(self, features: FloatArray, limit: int = 5) -> list[Suggestions]:
        """Per row of features: each facet's `limit` most probable values, best first."""
        ranked: dict[str, list[list[Suggestion]]] = {}
        for name, scores in self.models.probabilities(features).items():
            model = self.models.facets[name]
            best = np.argsort(-scores, axis=1, kind="stable")[:, :limit]
            ranked[name] = [[Suggestion(value=model.labels[i], score=round(float(row[i]), 4),
                                    likely=bool(row[i] >= model.threshold))
                             for i in top] for row, top in zip(scores, best, strict=True)]
        return [Suggestions(**{name: ranked[name][n] for name in SUGGESTED}) for n in range(len(features))]


_CACHE: weakref.WeakKeyDictionary[Matcher, tuple[tuple[int, int], MetadataModel]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def metadata_model(matcher: Matcher) -> MetadataModel:
    """The models over a matcher's cases, trained again whenever the store has changed."""
    store = matcher.store
    version = store.data_version()
    with _CACHE_LOCK:
        cached = _CACHE.get(matcher)
    if cached is not None and cached[0] == version:
        return cached[1]
    model = MetadataModel.of_index(matcher.index, store.term_index())
    with _CACHE_LOCK:
        _CACHE[matcher] = (version, model)
    return model


def suggest_metadata(matcher: Matcher, text: str, limit: int = 5) -> Suggestions:
    """Keywords, countries and article languages for a claim (any language), `limit` each, best
    first. NothingToMatch for a text without words, InputTooLarge past MAX_TEXT_CHARS."""
    features = text_features(matcher.embedders, [text])
    return metadata_model(matcher).suggest(features, limit)[0]
