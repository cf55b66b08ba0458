"""Clustering cases into narratives and narratives into themes: the algorithm, on arrays,
with no database.

What the archive knows beyond the claim vectors is used, each for what it says (chosen by
measuring on the real cases against held-out keywords; see README and bench.narratives):
- analysts' keywords are weak labels for storylines: a ridge regression from a case's
  claim vectors (both models, joined) to its keywords, idf²-weighted so rare, specific
  keywords ("Sergei Skripal") count more than generic tags ("West"), maps every case, also
  the title-only ones and those with no keyword, into a space where distance means
  "would be tagged alike" (`keyword_space`);
- near-duplicates (the two scrapes repeat many cases) and cases that share a templated
  disproof paragraph are one storyline: each such group is placed at its mean
  (`linked_groups`, `group_means`);
- then PCA, a 10-neighbour smoothing, and k-means at about one narrative per 100 cases;
  clusters smaller than `min_cluster_size` dissolve into their nearest neighbours, so every
  case has a narrative (`cluster_points`). Themes are k-means over the narratives' centres,
  weighted by size (`themes_of`).

Narratives and themes keep their ids across re-runs: each new cluster continues the old
one it overlaps most (Jaccard >= MIN_OVERLAP), so links do not break (`continue_ids`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse
import scipy.sparse.csgraph

from disinfodb.embed import Vectors
from disinfodb.embed.base import normalised
from disinfodb.store.term_index import IntArray

MIN_OVERLAP = 0.3


@dataclass(frozen=True)
class ClusterParams:
    cases_per_narrative: int = 100  # k-means k = cases // this, within [1, max_narratives]
    max_narratives: int = 300
    min_cluster_size: int = 15  # smaller clusters dissolve into their members' nearest others
    narratives_per_theme: int = 6  # themes = narratives // this, within [2, max_themes]
    max_themes: int = 30
    min_keyword_cases: int = 10  # keywords rarer than this teach the keyword space nothing
    ridge_alpha: float = 1.0
    neighbours: int = 10  # smoothing: each point is averaged with its neighbours' mean
    dimensions: int = 64  # PCA before k-means
    label_terms: int = 6
    seed: int = 0


def keyword_space(vectors: Vectors, keywords: scipy.sparse.csr_matrix, params: ClusterParams) -> Vectors:
    """Each case's predicted keywords (a ridge regression from its vectors, fitted on the
    cases that carry a keyword), normalised: the space narratives are found in.

    Targets are weighted by idf², so a keyword carried by 1% of cases pulls ~20x harder than
    one carried by a third of them. With too few keyworded cases to learn from, the vectors
    themselves are the space."""
    counts = np.asarray(keywords.sum(axis=0)).ravel()
    usable = np.flatnonzero(counts >= params.min_keyword_cases)
    tagged = np.flatnonzero(np.asarray(keywords[:, usable].sum(axis=1)).ravel() > 0)
    if len(usable) < 2 or len(tagged) < max(50, 2 * params.min_keyword_cases):
        return vectors
    weights = np.log(len(tagged) / counts[usable]) ** 2
    targets = keywords[tagged][:, usable].multiply(weights[None, :]).toarray().astype(np.float32)
    features = vectors[tagged].astype(np.float64)
    mean = features.mean(axis=0)
    centred = features - mean
    gram = centred.T @ centred + params.ridge_alpha * np.eye(features.shape[1])
    coef = np.linalg.solve(gram, centred.T @ (targets - targets.mean(axis=0)))
    predicted = (vectors - mean) @ coef + targets.mean(axis=0)
    return normalised(predicted)


def linked_groups(vectors: Vectors, links: Sequence[tuple[int, int]], threshold: float,
                  block: int = 2048) -> IntArray:
    """A group number per row: rows whose vectors are at least `threshold` similar (the same
    claim recorded twice), and rows given as linked (e.g. sharing a disproof paragraph), are
    in one group (connected components)."""
    size = len(vectors)
    sources, targets = [np.array([a for a, _ in links], dtype=np.int64)], [
        np.array([b for _, b in links], dtype=np.int64)]
    for start in range(0, size, block):
        sims = vectors[start:start + block] @ vectors.T
        rows, columns = np.nonzero(sims >= threshold)
        sources.append(rows + start)
        targets.append(columns)
    first, second = np.concatenate(sources), np.concatenate(targets)
    graph = scipy.sparse.coo_matrix((np.ones(len(first), dtype=np.int8), (first, second)), shape=(size, size))
    _, groups = scipy.sparse.csgraph.connected_components(graph, directed=False)
    return np.asarray(groups, dtype=np.int64)


def group_means(points: Vectors, groups: IntArray) -> Vectors:
    """Every row replaced by the normalised mean of its group's rows."""
    return normalised(means_of(points, groups)[0][groups])


def smoothed(points: Vectors, neighbours: int, block: int = 2048) -> Vectors:
    """Each point plus the mean of its nearest neighbours, renormalised (exact k-NN, in the
    reduced space: sparse one-line titles then form dense regions)."""
    if len(points) <= neighbours + 1:
        return points
    out = np.empty_like(points)
    for start in range(0, len(points), block):
        sims = points[start:start + block] @ points.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -np.inf  # not its own neighbour
        nearest = np.argpartition(-sims, neighbours, axis=1)[:, :neighbours]
        out[start:start + block] = points[start:start + block] + points[nearest].mean(axis=1)
    return normalised(out)


def reduced(points: Vectors, params: ClusterParams) -> Vectors:
    """PCA to `dimensions`, normalised (k-means on cosine geometry)."""
    from sklearn.decomposition import PCA  # noqa: PLC0415 - loaded only when clustering

    dimensions = min(params.dimensions, *points.shape)
    return normalised(PCA(n_components=dimensions, random_state=params.seed).fit_transform(points))


def cluster_points(points: Vectors, params: ClusterParams, previous: Vectors | None = None) -> IntArray:
    """A narrative number per point (0 = the largest narrative), every point in one.

    k-means with k = n / cases_per_narrative; the clusters smaller than min_cluster_size
    dissolve and k-means runs again from the centres that are left, so the result is a
    k-means fixed point. Fewer points than min_cluster_size (or than two) make no narrative:
    all -1. `previous`: the centres of the last clustering's narratives in these points'
    space; k-means starts from them, and keeps their number unless the cases grew or shrank
    by more than a fifth, so a re-run on the same data finds the same narratives and one on
    slightly changed data nearly the same."""
    from sklearn.cluster import KMeans  # noqa: PLC0415

    if len(points) < max(2, params.min_cluster_size):
        return np.full(len(points), -1, dtype=np.int64)
    k = int(np.clip(len(points) // params.cases_per_narrative, 1, params.max_narratives))
    if previous is not None and len(previous) and abs(k - len(previous)) <= 0.2 * len(previous):
        k = min(len(previous), len(points))
    if k == 1:
        return np.zeros(len(points), dtype=np.int64)
    start = "k-means++" if previous is None or not len(previous) else _seeded(points, previous, k, params.seed)
    model = KMeans(n_clusters=k, init=start, n_init=1, random_state=params.seed).fit(points)
    while True:  # ends: k falls with every round
        labels = np.asarray(model.labels_, dtype=np.int64)
        centres = np.asarray(model.cluster_centers_, dtype=np.float32)
        kept = np.flatnonzero(np.bincount(labels, minlength=len(centres)) >= params.min_cluster_size)
        if len(kept) == len(centres):
            return by_size(labels)
        if len(kept) <= 1:
            return np.zeros(len(points), dtype=np.int64)
        model = KMeans(n_clusters=len(kept), init=centres[kept], n_init=1, random_state=params.seed).fit(points)


def _seeded(points: Vectors, previous: Vectors, k: int, seed: int) -> Vectors:
    """k starting centres: the `k` first previous ones, and if there are fewer, points drawn
    the k-means++ way (likelier the farther from every centre so far)."""
    centres = list(previous[:k])
    rng = np.random.default_rng(seed)
    closest = (points @ np.stack(centres).T).max(axis=1)
    while len(centres) < k:
        weights = np.maximum(1.0 - closest, 0.0) ** 2
        total = float(weights.sum())
        pick = int(rng.choice(len(points), p=weights / total)) if total > 0 else int(rng.integers(len(points)))
        centres.append(points[pick])
        closest = np.maximum(closest, points @ points[pick])
    return np.stack(centres).astype(points.dtype)


def by_size(labels: IntArray) -> IntArray:
    """Cluster numbers renumbered 0.. by size, largest first (ties: the old number)."""
    used, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = used[np.lexsort((used, -counts))]
    mapping = np.full(int(labels.max()) + 1 if len(labels) else 0, -1, dtype=np.int64)
    mapping[order] = np.arange(len(order))
    return np.where(labels >= 0, mapping[np.maximum(labels, 0)], -1)


def narrative_points(vectors: Vectors, primary: Vectors, keywords: scipy.sparse.csr_matrix,
                     links: Sequence[tuple[int, int]], near_duplicate: float, params: ClusterParams) -> Vectors:
    """The points narratives are clustered in: keyword space, linked groups at their mean,
    reduced and smoothed. `vectors`: the joined models' case vectors; `primary`: the first
    model's (near-duplicates are judged on it, as elsewhere)."""
    if len(vectors) < 2:
        return vectors
    space = keyword_space(vectors, keywords, params)
    grouped = group_means(space, linked_groups(primary, links, near_duplicate))
    return smoothed(reduced(grouped, params), params.neighbours)


def means_of(points: Vectors, labels: IntArray) -> tuple[npt.NDArray[np.float64], IntArray]:
    """Each label's plain mean of its points and its size, by label number (rows labelled
    below 0 are left out; a label without rows has a zero mean)."""
    count = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    inside = labels >= 0
    sums = np.zeros((count, points.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[inside], points[inside])
    sizes = np.bincount(labels[inside], minlength=count)
    return sums / np.maximum(sizes, 1)[:, None], sizes


def centres_of(points: Vectors, labels: IntArray) -> tuple[Vectors, IntArray]:
    """Each cluster's normalised centre and its size, by cluster number."""
    means, sizes = means_of(points, labels)
    return normalised(means), sizes


def themes_of(centres: Vectors, sizes: IntArray, params: ClusterParams) -> IntArray:
    """A theme number per narrative (0 = the theme with most cases): k-means over the
    narratives' centres, each weighted by its cases."""
    from sklearn.cluster import KMeans  # noqa: PLC0415

    if len(centres) < 2:
        return np.zeros(len(centres), dtype=np.int64)
    k = int(np.clip(len(centres) // params.narratives_per_theme, 2, params.max_themes))
    k = min(k, len(centres))
    labels = np.asarray(KMeans(n_clusters=k, n_init=3, random_state=params.seed)
                        .fit_predict(centres, sample_weight=sizes.astype(np.float64)), dtype=np.int64)
    weight = np.bincount(labels, weights=sizes, minlength=k)
    order = np.lexsort((np.arange(k), -weight))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return rank[labels]


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
    return _most_specific(counts.tocsr(), [str(t) for t in vectorizer.get_feature_names_out()], count)


def distinctive_keywords(counts: scipy.sparse.csr_matrix, labels: list[str], count: int) -> list[list[str]]:
    """c-TF-IDF over keyword counts (one row per cluster): the keywords most specific to each."""
    return _most_specific(counts.tocsr(), labels, count)


def _most_specific(counts: scipy.sparse.csr_matrix, vocabulary: list[str], count: int) -> list[list[str]]:
    words = np.asarray(counts.sum(axis=1)).ravel().astype(np.float64)
    tf = counts.multiply(1.0 / np.maximum(words, 1.0)[:, None]).tocsr()
    frequency = np.asarray(counts.sum(axis=0)).ravel().astype(np.float64)
    idf = np.log1p(words.mean() / np.maximum(frequency, 1.0))
    scores = tf.multiply(idf[None, :]).tocsr()
    out = []
    for row in range(scores.shape[0]):
        values = scores.getrow(row)
        order = np.lexsort((values.indices, -values.data))
        chosen: list[str] = []
        for index in values.indices[order]:
            term = vocabulary[index]
            if not any(term.lower() in c.lower() or c.lower() in term.lower() for c in chosen):
                chosen.append(term)  # "nato" and "nato preparing": keep one
            if len(chosen) == count:
                break
        out.append(chosen)
    return out


def continue_ids(old: dict[int, str], clusters: dict[int, set[int]], merge_targets: set[str],
                 min_overlap: float = MIN_OVERLAP) -> dict[int, str | None]:
    """Which existing narrative (or theme) each new cluster continues (None: a new one).

    A cluster continues the old one it overlaps most (Jaccard over cases >= min_overlap);
    an old one is continued by one cluster only (the closest), except a narrative an
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
