"""Building narratives and themes: read the claim vectors, the keywords and the shared
rebuttals, cluster (`disinfodb.narratives.cluster`), label, and save through the store,
keeping ids and the analysts' edits (see `disinfodb.store.narratives`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import scipy.sparse

from disinfodb.embed import load_embedders
from disinfodb.embed.base import joined
from disinfodb.matching import ClaimIndex, EmbeddingProgress
from disinfodb.matching.matcher import NEAR_DUPLICATE
from disinfodb.narratives.cluster import (
    ClusterParams,
    centres_of,
    cluster_points,
    continue_ids,
    distinctive_keywords,
    distinctive_terms,
    means_of,
    narrative_points,
    themes_of,
)
from disinfodb.narratives.statement import statement
from disinfodb.rebuttals import rebuttal_index
from disinfodb.store import Store
from disinfodb.store.narratives import Cluster, ThemeCluster
from disinfodb.store.term_index import IntArray

DEFAULT_PARAMS = ClusterParams()
CENTRAL_TITLES = 10  # the most central cases whose titles may label a narrative
THEME_LABEL_KEYWORDS = 3


@dataclass(frozen=True)
class BuildReport:
    cases: int
    clustered: int  # cases in a narrative after this run (pinned ones included)
    narratives: int  # current narratives
    themes: int  # current themes
    continued: int  # clusters that kept an existing narrative's id
    created: int
    retired: int
    pinned_cases: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def case_links(store: Store, case_pks: IntArray) -> list[tuple[int, int]]:
    """Pairs of rows (positions in `case_pks`) whose disproofs share a templated paragraph:
    each shared group's cases linked in a chain (connected, without n² pairs)."""
    index = rebuttal_index(store)
    row_of = {int(pk): row for row, pk in enumerate(case_pks)}
    links = []
    for group in index.groups.values():
        rows = [row_of[index.pks[r]] for r in group.rows if index.pks[r] in row_of]
        links += list(pairwise(rows))
    return links


def build_narratives(store: Store, model: str | None = None, params: ClusterParams = DEFAULT_PARAMS,
                     progress: EmbeddingProgress | None = None) -> BuildReport:
    """Cluster every case not in a pinned narrative, group all narratives into themes, and
    save both, keeping ids.

    Uses every model of the `model` spec (default: the configured pair), embedding the
    cases that have no cached vectors; the analysts' keywords of the same cases train the
    keyword space."""
    started = time.perf_counter()
    index = ClaimIndex.build(store, load_embedders(model), progress)
    book = store.narratives
    per_model = [v.group_means(index.unit_start) for v in index.vectors.values()]
    pinned = {n.id for n in book.all(include_retired=True) if n.pinned}
    memberships = book.memberships()
    old = {pk: nid for pk, nid in memberships.items() if nid not in pinned}
    free = np.array([i for i, pk in enumerate(index.case_pks) if memberships.get(int(pk)) not in pinned],
                    dtype=np.int64)
    keyword_labels, keywords = store.term_index().facet_matrix("keyword", index.case_pks)
    vectors = joined(per_model) if len(index.case_pks) else np.zeros((0, 1), dtype=np.float32)
    # An analyst's merge says its cases are one storyline: they are linked like cases that
    # share a rebuttal, so the next clustering keeps them together.
    merged = book.merge_targets()
    merge_links = list(pairwise(row for row, pk in enumerate(index.case_pks) if old.get(int(pk)) in merged))
    points = narrative_points(vectors, per_model[0] if len(index.case_pks) else vectors, keywords,
                              case_links(store, index.case_pks) + merge_links, NEAR_DUPLICATE, params)
    labels = cluster_points(points[free], params, _previous_centres(points, index.case_pks, old))
    found: dict[int, set[int]] = {}
    for row, label in zip(free, labels, strict=True):
        if label >= 0:
            found.setdefault(int(label), set()).add(int(index.case_pks[row]))
    found = dict(sorted(found.items()))  # the order of rows_of, centres and theme_of below
    continued = continue_ids(old, found, merged)
    texts = store.claim_texts()
    terms = distinctive_terms([" ".join(texts[pk] for pk in found[c]) for c in found], params.label_terms)
    rows_of = [free[labels == number] for number in found]
    by_pinned: dict[str, list[int]] = {}
    for row, pk in enumerate(index.case_pks):
        if memberships.get(int(pk)) in pinned:
            by_pinned.setdefault(memberships[int(pk)], []).append(row)
    group_rows = rows_of + [np.array(rows, dtype=np.int64) for rows in by_pinned.values()]
    narrative_of = np.full(len(index.case_pks), -1, dtype=np.int64)
    for number, rows in enumerate(group_rows):
        narrative_of[rows] = number
    centres, sizes = centres_of(points, narrative_of)
    central: dict[int, list[int]] = {}  # per cluster its CENTRAL_TITLES cases nearest the centre, nearest first
    for position, (number, rows) in enumerate(zip(found, rows_of, strict=True)):
        nearest = rows[np.argsort(-(points[rows] @ centres[position]), kind="stable")[:CENTRAL_TITLES]]
        central[number] = [int(pk) for pk in index.case_pks[nearest]]
    titles = store.case_ids([pk for pks in central.values() for pk in pks])

    # Themes over every narrative, pinned ones too.
    theme_of = themes_of(centres, sizes, params)
    theme_rows: dict[int, list[IntArray]] = {}
    for rows, theme in zip(group_rows, theme_of, strict=True):
        theme_rows.setdefault(int(theme), []).append(rows)
    theme_members = {t: {int(pk) for pk in index.case_pks[np.concatenate(parts)]} for t, parts in theme_rows.items()}
    theme_ids = continue_ids(book.theme_memberships(), theme_members, set())
    theme_labels = _theme_labels(keywords, keyword_labels, theme_rows)
    themes = [ThemeCluster(theme_ids[t], theme_labels[t]) for t in sorted(theme_members)]
    theme_position = {t: i for i, t in enumerate(sorted(theme_members))}

    clusters = [Cluster(members, continued[number], cluster_terms, central[number][0],
                        statement([titles[pk][1] for pk in central[number]], ", ".join(cluster_terms[:3])),
                        theme_position[int(theme_of[i])])
                for i, ((number, members), cluster_terms) in enumerate(zip(found.items(), terms, strict=True))]
    pinned_themes = {nid: theme_position[int(theme_of[len(found) + i])] for i, nid in enumerate(by_pinned)}
    created, _ = book.save_clusters(clusters, themes, pinned_themes)
    kept = {c for c in continued.values() if c}
    retired = sum(1 for nid in set(old.values()) if nid not in kept)
    return BuildReport(cases=len(index.case_pks), clustered=len(book.memberships()), narratives=len(book.all()),
                       themes=len(book.themes()), continued=len(kept), created=created, retired=retired,
                       pinned_cases=len(index.case_pks) - len(free), seconds=round(time.perf_counter() - started, 2))


def _previous_centres(points: np.ndarray, case_pks: IntArray, old: dict[int, str]) -> np.ndarray:
    """The centres, in today's points, of the narratives the last clustering found (their
    cases that are still here), largest first: where k-means starts."""
    numbers: dict[str, int] = {}
    labels = np.array([numbers.setdefault(old[int(pk)], len(numbers)) if int(pk) in old else -1 for pk in case_pks],
                      dtype=np.int64)
    if not numbers:
        return np.zeros((0, points.shape[1]), dtype=np.float32)
    means, sizes = means_of(points, labels)  # plain means, as k-means keeps them: a fixed point stays one
    return means[np.argsort(-sizes, kind="stable")].astype(np.float32)


def _theme_labels(keywords: scipy.sparse.csr_matrix, keyword_labels: list[str],
                  theme_rows: dict[int, list[IntArray]]) -> dict[int, str]:
    """Each theme's label: its most distinctive keywords (c-TF-IDF), "A · B · C"."""
    order = sorted(theme_rows)
    if not order:
        return {}
    counts = scipy.sparse.vstack([scipy.sparse.csr_matrix(keywords[np.concatenate(theme_rows[t])].sum(axis=0))
                                  for t in order]).tocsr()
    chosen = distinctive_keywords(counts, keyword_labels, THEME_LABEL_KEYWORDS)
    return {t: " · ".join(words) or f"theme {i + 1}" for i, (t, words) in enumerate(zip(order, chosen, strict=True))}
