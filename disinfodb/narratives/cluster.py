"""Clustering claim vectors into narratives: the algorithm, on arrays, with no database.

How (chosen by measuring on the 13.6k real cases against their keywords; see README):
each case's claim vector (use-m) is averaged with its 10 nearest neighbours' (a cheap
smoothing that lets sparse one-line titles form dense regions), reduced by PCA to 32
dimensions, clustered by HDBSCAN (min 15 cases, leaf selection), and cases left as
noise join the nearest narrative only when they are as close to its centre as its own
members are. Plain HDBSCAN called >80% of these cases noise.

Narratives keep their ids across re-runs: each new cluster continues the old narrative
it overlaps most (Jaccard >= MIN_OVERLAP), so links do not break (`continue_ids`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from disinfodb.embed import Vectors
from disinfodb.store.term_index import IntArray

FloatArray = Vectors  # float32, one L2-normalised row per case

MIN_OVERLAP = 0.3


@dataclass(frozen=True)
class ClusterParams:
    min_cluster_size: int = 15
    min_samples: int = 5
    neighbours: int = 10  # smoothing: each vector is averaged with its neighbours' mean
    dimensions: int = 32  # PCA before HDBSCAN
    reassign_percentile: float = 5.0  # noise joins a cluster if as close as its 5% least central members
    label_terms: int = 6
    seed: int = 0


def smoothed(vectors: FloatArray, neighbours: int, block: int = 2048) -> FloatArray:
    """Each vector plus the mean of its nearest neighbours, renormalised (exact k-NN)."""
    if len(vectors) <= neighbours + 1:
        return vectors
    out = np.empty_like(vectors)
    for start in range(0, len(vectors), block):
        sims = vectors[start:start + block] @ vectors.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -np.inf  # not its own neighbour
        nearest = np.argpartition(-sims, neighbours, axis=1)[:, :neighbours]
        out[start:start + block] = vectors[start:start + block] + vectors[nearest].mean(axis=1)
    return normalised(out)


def normalised(vectors: FloatArray) -> FloatArray:
    """Rows scaled to unit length."""
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return np.asarray(vectors / norms, dtype=np.float32)


def cluster_vectors(vectors: FloatArray, params: ClusterParams = ClusterParams()) -> IntArray:
    """A cluster number per vector (-1: noise). Vectors are L2-normalised claim vectors."""
    from sklearn.cluster import HDBSCAN  # noqa: PLC0415 - loaded only when clustering
    from sklearn.decomposition import PCA  # noqa: PLC0415

    if len(vectors) < max(2, params.min_cluster_size):
        return np.full(len(vectors), -1, dtype=np.int64)
    smooth = smoothed(vectors, params.neighbours)
    reduced = PCA(n_components=min(params.dimensions, *smooth.shape), random_state=params.seed).fit_transform(smooth)
    labels = HDBSCAN(min_cluster_size=params.min_cluster_size, min_samples=min(params.min_samples, len(vectors) - 1),
                     cluster_selection_method="leaf", copy=True).fit_predict(normalised(reduced.astype(np.float32)))
    return reassign_noise(vectors, np.asarray(labels, dtype=np.int64), params.reassign_percentile)


def reassign_noise(vectors: FloatArray, labels: IntArray, percentile: float) -> IntArray:
    """Noise joins its nearest cluster when it is at least as close to that centre as the
    given percentile of all members' similarity to their own centre (one global bar)."""
    clusters = np.unique(labels[labels >= 0])
    noise = np.flatnonzero(labels < 0)
    if not len(clusters) or not len(noise):
        return labels
    centres = normalised(np.stack([vectors[labels == c].mean(axis=0) for c in clusters]))
    members = labels >= 0
    own = np.einsum("ij,ij->i", vectors[members], centres[np.searchsorted(clusters, labels[members])])
    floor = float(np.percentile(own, percentile))
    sims = vectors[noise] @ centres.T
    best = sims.argmax(axis=1)
    close = sims[np.arange(len(noise)), best] >= floor
    out = labels.copy()
    out[noise[close]] = clusters[best[close]]
    return out


def distinctive_terms(docs_per_cluster: list[str], count: int) -> list[list[str]]:
    """c-TF-IDF: the terms (words and two-word phrases) most specific to each cluster's text."""
    from sklearn.feature_extraction.text import CountVectorizer  # noqa: PLC0415

    if not docs_per_cluster:
        return []
    vectorizer = CountVectorizer(ngram_range=(1, 2), stop_words="english", min_df=1,
                                 token_pattern=r"(?u)\b[^\W\d_][\w'-]+\b")
    try:
        counts = vectorizer.fit_transform(docs_per_cluster)
    except ValueError:  # no word at all
        return [[] for _ in docs_per_cluster]
    words = np.asarray(counts.sum(axis=1)).ravel().astype(np.float64)
    tf = counts.multiply(1.0 / np.maximum(words, 1.0)[:, None]).tocsr()
    frequency = np.asarray(counts.sum(axis=0)).ravel().astype(np.float64)
    idf = np.log1p(words.mean() / np.maximum(frequency, 1.0))
    scores = tf.multiply(idf[None, :]).tocsr()
    vocabulary = vectorizer.get_feature_names_out()
    out = []
    for row in range(scores.shape[0]):
        values = scores.getrow(row)
        order = np.argsort(-values.data)
        chosen: list[str] = []
        for index in values.indices[order]:
            term = str(vocabulary[index])
            if not any(term in c or c in term for c in chosen):  # "nato" and "nato preparing": keep one
                chosen.append(term)
            if len(chosen) == count:
                break
        out.append(chosen)
    return out


def continue_ids(old: dict[int, str], clusters: dict[int, set[int]], merge_targets: set[str],
                 min_overlap: float = MIN_OVERLAP) -> dict[int, str | None]:
    """Which existing narrative each new cluster continues (None: a new narrative).

    A cluster continues the old narrative it overlaps most (Jaccard >= min_overlap); an
    old narrative is continued by one cluster only (the closest), except a narrative an
    analyst merged others into, which every cluster that overlaps it most continues.
    """
    old_members: dict[str, set[int]] = {}
    for pk, nid in old.items():
        old_members.setdefault(nid, set()).add(pk)
    candidates: list[tuple[float, int, str]] = []
    for number, members in clusters.items():
        overlaps = Counter(old[pk] for pk in members if pk in old)
        if not overlaps:
            continue
        nid, shared = max(overlaps.items(), key=lambda item: (item[1], item[0]))
        jaccard = shared / len(members | old_members[nid])
        if jaccard >= min_overlap or (nid in merge_targets and shared / len(members) >= 0.5):
            candidates.append((jaccard, number, nid))
    chosen: dict[int, str | None] = dict.fromkeys(clusters)
    taken: set[str] = set()
    for _jaccard, number, nid in sorted(candidates, reverse=True):
        if nid in taken and nid not in merge_targets:
            continue
        chosen[number] = nid
        taken.add(nid)
    return chosen
