"""Narratives: recurring storylines across cases, found by clustering claim embeddings.

How (chosen by measuring on the 13.6k real cases against their keywords; see README):
each case's claim vector (use-m) is averaged with its 10 nearest neighbours' (a cheap
smoothing that lets sparse one-line titles form dense regions), reduced by PCA to 32
dimensions, clustered by HDBSCAN (min 15 cases, leaf selection), and cases left as
noise join the nearest narrative only when they are as close to its centre as its own
members are. Plain HDBSCAN called >80% of these cases noise.

Narratives keep their ids across re-runs: each new cluster continues the old narrative
it overlaps most (Jaccard >= MIN_OVERLAP), so links do not break. Analysts' edits are
kept: a name replaces the computed label and is never overwritten; a pinned narrative
keeps its members and they are not re-clustered; a merged narrative points to the one it
was merged into, and clusters that continue it continue that one; a split moves chosen
cases into a new, pinned narrative.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from disinfodb.embed import Vectors, load_embedders
from disinfodb.errors import DisinfoError
from disinfodb.match import ClaimIndex
from disinfodb.store import SQLStore
from disinfodb.store.term_index import IntArray

FloatArray = Vectors  # float32, one L2-normalised row per case

MIN_OVERLAP = 0.3


class NarrativeNotFound(DisinfoError):
    """No narrative has the given id."""


@dataclass(frozen=True)
class Narrative:
    id: str
    label: str  # computed: the distinctive terms
    name: str | None  # an analyst's name, if given
    terms: list[str]
    keywords: list[tuple[str, float]]  # dominant keywords with the share of members carrying each
    representative: str | None  # case id
    size: int
    first_seen: date | None
    last_seen: date | None
    pinned: bool
    merged_into: str | None
    retired: bool

    @property
    def title(self) -> str:
        return self.name or self.label


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _narrative(row: tuple[object, ...]) -> Narrative:
    (nid, label, name, terms, keywords, representative, size, first, last, pinned, merged, retired) = row
    return Narrative(
        id=str(nid), label=str(label), name=str(name) if name else None, terms=json.loads(str(terms)),
        keywords=[(str(k), float(v)) for k, v in json.loads(str(keywords))],
        representative=str(representative) if representative else None, size=int(str(size)),
        first_seen=date.fromisoformat(str(first)) if first else None,
        last_seen=date.fromisoformat(str(last)) if last else None,
        pinned=bool(pinned), merged_into=str(merged) if merged else None, retired=bool(retired))


_COLUMNS = ("id, label, name, terms, keywords, representative, size, first_seen, last_seen, pinned,"
            " merged_into, retired")


class NarrativeBook:
    """The narratives of a store: reading them, and the analysts' edits."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self._db = store.connection

    # -- reading ----------------------------------------------------------------------

    def all(self, include_retired: bool = False) -> list[Narrative]:
        """Current narratives, largest first (merged ones are never listed)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM narratives WHERE merged_into IS NULL AND (? OR retired = 0)"
            " ORDER BY size DESC, id", (include_retired,)).fetchall()
        return [_narrative(r) for r in rows]

    def get(self, narrative_id: str) -> Narrative:
        """A narrative by id; a merged one resolves to the narrative it was merged into."""
        seen: set[str] = set()
        while True:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM narratives WHERE id = ?", (narrative_id,)).fetchone()
            if row is None:
                raise NarrativeNotFound(f"no narrative with id {narrative_id!r}")
            found = _narrative(row)
            if found.merged_into is None or found.merged_into in seen:
                return found
            seen.add(found.id)
            narrative_id = found.merged_into

    def members(self, narrative_id: str) -> list[str]:
        """Ids of the cases in a narrative, newest first."""
        nid = self.get(narrative_id).id
        return [cid for (cid,) in self._db.execute(
            "SELECT c.id FROM case_narratives cn JOIN cases c ON c.pk = cn.case_pk WHERE cn.narrative_id = ?"
            " ORDER BY c.published DESC, c.pk DESC", (nid,))]

    def of_cases(self, case_ids: Iterable[str] | None = None) -> dict[str, str]:
        """case id -> narrative id, for the given cases (default: all that have one)."""
        rows = self._db.execute("SELECT c.id, cn.narrative_id FROM case_narratives cn"
                                " JOIN cases c ON c.pk = cn.case_pk").fetchall()
        mapping = {str(cid): str(nid) for cid, nid in rows}
        if case_ids is None:
            return mapping
        return {cid: mapping[cid] for cid in case_ids if cid in mapping}

    def memberships(self) -> dict[int, str]:
        """case pk -> narrative id (what a re-clustering starts from)."""
        return {int(pk): str(nid) for pk, nid in self._db.execute(
            "SELECT case_pk, narrative_id FROM case_narratives")}

    # -- analysts' edits --------------------------------------------------------------

    def rename(self, narrative_id: str, name: str | None) -> Narrative:
        """Give a narrative a name (None: back to its computed label)."""
        nid = self.get(narrative_id).id
        cleaned = " ".join((name or "").split()) or None
        with self.store.transaction():
            self._db.execute("UPDATE narratives SET name = ?, updated_at = ? WHERE id = ?", (cleaned, _now(), nid))
        return self.get(nid)

    def pin(self, narrative_id: str, pinned: bool = True) -> Narrative:
        """Freeze (or release) a narrative's members: re-clustering leaves them alone."""
        nid = self.get(narrative_id).id
        with self.store.transaction():
            self._db.execute("UPDATE narratives SET pinned = ?, updated_at = ? WHERE id = ?",
                             (int(pinned), _now(), nid))
        return self.get(nid)

    def merge(self, source_id: str, target_id: str) -> Narrative:
        """Merge `source` into `target`: its cases move, its id now leads to the target."""
        source, target = self.get(source_id), self.get(target_id)
        if source.id == target.id:
            raise DisinfoError(f"{source.id} and {target_id} are already the same narrative")
        with self.store.transaction():
            self._db.execute("UPDATE case_narratives SET narrative_id = ? WHERE narrative_id = ?",
                             (target.id, source.id))
            self._db.execute("UPDATE narratives SET merged_into = ?, updated_at = ? WHERE id = ?",
                             (target.id, _now(), source.id))
            self._refresh(target.id)
        return self.get(target.id)

    def split(self, narrative_id: str, case_ids: list[str], name: str | None = None) -> Narrative:
        """Move some cases of a narrative into a new, pinned narrative (so re-clustering
        cannot fold them back)."""
        source = self.get(narrative_id)
        members = set(self.members(source.id))
        moving = list(dict.fromkeys(case_ids))
        strangers = [c for c in moving if c not in members]
        if strangers:
            raise DisinfoError(f"not in narrative {source.id}: {', '.join(strangers[:5])}")
        if not moving or len(moving) == len(members):
            raise DisinfoError("a split needs some, but not all, of the narrative's cases")
        with self.store.transaction():
            new_id = self._new_id()
            self._insert(new_id, label=source.label, terms=source.terms, keywords=source.keywords, pinned=True,
                         name=name)
            self._db.executemany("UPDATE case_narratives SET narrative_id = ? WHERE case_pk = ?",
                                 [(new_id, self.store.pk_of(c)) for c in moving])
            self._refresh(source.id)
            self._refresh(new_id)
        return self.get(new_id)

    # -- writing the clustering ---------------------------------------------------------

    def _new_id(self) -> str:
        number = self._db.execute(
            "SELECT coalesce(max(CAST(substr(id, 2) AS INTEGER)), 0) FROM narratives").fetchone()[0]
        return f"n{int(number) + 1}"

    def _insert(self, nid: str, label: str, terms: list[str], keywords: list[tuple[str, float]],
                pinned: bool = False, name: str | None = None) -> None:
        now = _now()
        self._db.execute(
            "INSERT INTO narratives (id, label, name, terms, keywords, size, pinned, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (nid, label, name, json.dumps(terms), json.dumps(keywords), int(pinned), now, now))

    def _refresh(self, nid: str) -> None:
        """Recount a narrative's size, dates and dominant keywords from its members."""
        rows = self._db.execute(
            "SELECT c.published, c.doc FROM case_narratives cn JOIN cases c ON c.pk = cn.case_pk"
            " WHERE cn.narrative_id = ?", (nid,)).fetchall()
        dates = sorted(str(p) for p, _ in rows if p)
        keywords = Counter(k for _, doc in rows for k in json.loads(doc)["keywords"])
        top = [(k, round(n / len(rows), 3)) for k, n in keywords.most_common(5)] if rows else []
        self._db.execute(
            "UPDATE narratives SET size = ?, first_seen = ?, last_seen = ?, keywords = ?, retired = ?,"
            " updated_at = ? WHERE id = ?",
            (len(rows), dates[0] if dates else None, dates[-1] if dates else None, json.dumps(top),
             int(not rows), _now(), nid))


# -- clustering -------------------------------------------------------------------------

@dataclass(frozen=True)
class ClusterParams:
    min_cluster_size: int = 15
    min_samples: int = 5
    neighbours: int = 10  # smoothing: each vector is averaged with its neighbours' mean
    dimensions: int = 32  # PCA before HDBSCAN
    reassign_percentile: float = 5.0  # noise joins a cluster if as close as its 5% least central members
    label_terms: int = 6
    seed: int = 0


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


def _smoothed(vectors: FloatArray, neighbours: int, block: int = 2048) -> FloatArray:
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
    return _normalised(out)


def _normalised(vectors: FloatArray) -> FloatArray:
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return np.asarray(vectors / norms, dtype=np.float32)


def cluster_vectors(vectors: FloatArray, params: ClusterParams = ClusterParams()) -> IntArray:
    """A cluster number per vector (-1: noise). Vectors are L2-normalised claim vectors."""
    from sklearn.cluster import HDBSCAN  # noqa: PLC0415 - loaded only when clustering
    from sklearn.decomposition import PCA  # noqa: PLC0415

    if len(vectors) < max(2, params.min_cluster_size):
        return np.full(len(vectors), -1, dtype=np.int64)
    smooth = _smoothed(vectors, params.neighbours)
    reduced = PCA(n_components=min(params.dimensions, *smooth.shape), random_state=params.seed).fit_transform(smooth)
    labels = HDBSCAN(min_cluster_size=params.min_cluster_size, min_samples=min(params.min_samples, len(vectors) - 1),
                     cluster_selection_method="leaf", copy=True).fit_predict(_normalised(reduced.astype(np.float32)))
    return _reassign_noise(vectors, np.asarray(labels, dtype=np.int64), params.reassign_percentile)


def _reassign_noise(vectors: FloatArray, labels: IntArray, percentile: float) -> IntArray:
    """Noise joins its nearest cluster when it is at least as close to that centre as the
    given percentile of all members' similarity to their own centre (one global bar)."""
    clusters = np.unique(labels[labels >= 0])
    noise = np.flatnonzero(labels < 0)
    if not len(clusters) or not len(noise):
        return labels
    centres = _normalised(np.stack([vectors[labels == c].mean(axis=0) for c in clusters]))
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


def build_narratives(store: SQLStore, model: str = "use-m", params: ClusterParams = ClusterParams(),
                     progress: Callable[[int, int], None] | None = None) -> BuildReport:
    """Cluster every case not in a pinned narrative and save the narratives, keeping ids.

    Uses the cached claim vectors of `model` (embedding the cases that have none)."""
    started = time.perf_counter()
    embedders = load_embedders(model)[:1]
    index = ClaimIndex.build(store, embedders, progress)
    book = NarrativeBook(store)
    vectors = index.case_vectors()
    pinned = {n.id for n in book.all(include_retired=True) if n.pinned}
    memberships = book.memberships()
    old = {pk: nid for pk, nid in memberships.items() if nid not in pinned}
    free = np.array([i for i, pk in enumerate(index.case_pks) if memberships.get(int(pk)) not in pinned],
                    dtype=np.int64)
    labels = cluster_vectors(vectors[free], params) if len(free) else np.zeros(0, dtype=np.int64)
    clusters: dict[int, set[int]] = {}
    for row, label in zip(free, labels, strict=True):
        if label >= 0:
            clusters.setdefault(int(label), set()).add(int(index.case_pks[row]))
    merge_targets = {str(t) for (t,) in store.connection.execute(
        "SELECT DISTINCT merged_into FROM narratives WHERE merged_into IS NOT NULL")}
    continued = continue_ids(old, clusters, merge_targets)
    texts = _claim_texts(store)
    terms = distinctive_terms([" ".join(texts[pk] for pk in clusters[c]) for c in clusters], params.label_terms)
    row_of = {int(pk): i for i, pk in enumerate(index.case_pks)}
    created = 0
    with store.transaction():
        store.connection.execute(
            "DELETE FROM case_narratives WHERE narrative_id NOT IN (SELECT id FROM narratives WHERE pinned = 1)")
        touched = set(old.values())
        for (number, members), cluster_terms in zip(clusters.items(), terms, strict=True):
            nid = continued[number]
            if nid is None:
                nid = book._new_id()
                book._insert(nid, label="", terms=[], keywords=[])
                created += 1
            rows = [row_of[pk] for pk in members]
            centre = _normalised(vectors[rows].mean(axis=0, keepdims=True))[0]
            representative = int(index.case_pks[rows[int(np.argmax(vectors[rows] @ centre))]])
            store.connection.executemany("INSERT INTO case_narratives (case_pk, narrative_id) VALUES (?, ?)",
                                         [(pk, nid) for pk in members])
            store.connection.execute(
                "UPDATE narratives SET label = ?, terms = ?, representative = (SELECT id FROM cases WHERE pk = ?),"
                " retired = 0 WHERE id = ?", (", ".join(cluster_terms[:3]) or nid, json.dumps(cluster_terms),
                                              representative, nid))
            touched.add(nid)
        for nid in touched:
            book._refresh(nid)
    current = book.all()
    retired = sum(1 for nid in set(old.values()) if nid not in {c for c in continued.values() if c})
    return BuildReport(cases=len(index.case_pks), clustered=len(book.memberships()), narratives=len(current),
                       continued=len({c for c in continued.values() if c}), created=created, retired=retired,
                       pinned_cases=len(index.case_pks) - len(free), seconds=round(time.perf_counter() - started, 2))


def _claim_texts(store: SQLStore) -> dict[int, str]:
    """case pk -> title and summary, the text narratives are labelled from."""
    return {int(pk): f"{title}. {summary}" for pk, title, summary in store.connection.execute(
        "SELECT pk, title, summary FROM cases")}
