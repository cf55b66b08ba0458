"""Building narratives: read the claim vectors, cluster them, save the narratives through
the store, keeping ids and the analysts' edits (see `disinfodb.store.narratives`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from disinfodb.embed import load_embedders
from disinfodb.matching import ClaimIndex, EmbeddingProgress
from disinfodb.narratives.cluster import ClusterParams, cluster_vectors, continue_ids, distinctive_terms, normalised
from disinfodb.narratives.statement import statement
from disinfodb.store import Store
from disinfodb.store.narratives import Cluster

DEFAULT_PARAMS = ClusterParams()
CENTRAL_TITLES = 10  # the most central cases whose titles may label a narrative


@dataclass(frozen=True)
class BuildReport:
    cases: int
    clustered: int  # cases in a narrative after this run (pinned ones included)
    narratives: int  # current narratives
    continued: int  # clusters that kept an existing narrative's id
    created: int
    retired: int
    pinned_cases: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def build_narratives(store: Store, model: str | None = None, params: ClusterParams = DEFAULT_PARAMS,
                     progress: EmbeddingProgress | None = None) -> BuildReport:
    """Cluster every case not in a pinned narrative and save the narratives, keeping ids.

    Clusters the cached claim vectors of the first model of the `model` spec (default: the
    configured one, whose first model is use-m), embedding the cases that have none."""
    started = time.perf_counter()
    index = ClaimIndex.build(store, load_embedders(model)[:1], progress)
    book = store.narratives
    vectors = index.case_vectors()
    pinned = {n.id for n in book.all(include_retired=True) if n.pinned}
    memberships = book.memberships()
    old = {pk: nid for pk, nid in memberships.items() if nid not in pinned}
    free = np.array([i for i, pk in enumerate(index.case_pks) if memberships.get(int(pk)) not in pinned],
                    dtype=np.int64)
    labels = cluster_vectors(vectors[free], params) if len(free) else np.zeros(0, dtype=np.int64)
    found: dict[int, set[int]] = {}
    for row, label in zip(free, labels, strict=True):
        if label >= 0:
            found.setdefault(int(label), set()).add(int(index.case_pks[row]))
    continued = continue_ids(old, found, book.merge_targets())
    texts = store.claim_texts()
    terms = distinctive_terms([" ".join(texts[pk] for pk in found[c]) for c in found], params.label_terms)
    row_of = {int(pk): i for i, pk in enumerate(index.case_pks)}
    central: dict[int, list[int]] = {}  # per cluster its CENTRAL_TITLES cases nearest the centre, nearest first
    for number, members in found.items():
        rows = np.array([row_of[pk] for pk in members], dtype=np.int64)
        centre = normalised(vectors[rows].mean(axis=0, keepdims=True))[0]
        nearest = rows[np.argsort(-(vectors[rows] @ centre), kind="stable")[:CENTRAL_TITLES]]
        central[number] = [int(pk) for pk in index.case_pks[nearest]]
    titles = store.case_ids([pk for pks in central.values() for pk in pks])
    clusters = [Cluster(members, continued[number], cluster_terms, central[number][0],
                        statement([titles[pk][1] for pk in central[number]], ", ".join(cluster_terms[:3])))
                for (number, members), cluster_terms in zip(found.items(), terms, strict=True)]
    created = book.save_clusters(clusters)
    kept = {c for c in continued.values() if c}
    retired = sum(1 for nid in set(old.values()) if nid not in kept)
    return BuildReport(cases=len(index.case_pks), clustered=len(book.memberships()), narratives=len(book.all()),
                       continued=len(kept), created=created, retired=retired,
                       pinned_cases=len(index.case_pks) - len(free), seconds=round(time.perf_counter() - started, 2))
