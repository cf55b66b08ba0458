"""Narrative quality against held-out analysts' keywords, label readability, and clustering speed.

Run: .venv/bin/python -m bench.narratives [--sizes 20000 50000]

On every real case (seed + both scrapes, 13,665; claim vectors of the default pair, cached
in bench/.cache/real.sqlite after the first run):
- 30% of the cases (chosen by a hash of the case id) are held out: their keywords are
  hidden from the clustering (its keyword space learns from the other 70% only) and the
  scores are computed on them alone, so a method cannot score by reading the answer;
- the label of a held-out case for evaluation is its rarest keyword among those that at
  least 20 cases carry (the most frequent keywords are generic tags: "Conspiracy theory",
  "West"); cases with no such keyword are left out of the scores;
- scored in the same run with the same number of clusters: disinfodb's clustering, the same
  without its keyword space (an ablation), k-means on the pair's joined vectors, k-means on
  use-m's vectors and the baseline k-means on TF-IDF of title + summary; themes against
  k-means on the joined vectors with as many clusters. AMI counts unclustered cases as one
  more cluster; purity = share of a cluster's cases that carry its commonest label;
- labels: the share of narrative labels that read as statements (4-14 words, not a comma
  list, with a finite verb by a small heuristic: an auxiliary or copula, or a word ending
  in -s/-ed after the first), for disinfodb's labels (a central case's title) and the terms;
- speed: clustering 20,000 and 50,000 cases (the real ones plus perturbed copies of random
  real vectors and their keywords; for timing only), themes included.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from collections import Counter

import numpy as np
import scipy.sparse
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_mutual_info_score

from bench.web_pages import real_database
from disinfodb.embed import load_embedders
from disinfodb.embed.base import joined, normalised
from disinfodb.matching import ClaimIndex
from disinfodb.matching.matcher import NEAR_DUPLICATE
from disinfodb.narratives.build import CENTRAL_TITLES, case_links
from disinfodb.narratives.cluster import (
    ClusterParams,
    centres_of,
    cluster_points,
    distinctive_terms,
    narrative_points,
    reduced,
    smoothed,
    themes_of,
)
from disinfodb.narratives.statement import statement

MIN_LABEL_CASES = 20
HELD_OUT = 0.3
_AUXILIARY = {"is", "are", "was", "were", "will", "would", "has", "have", "had", "can", "could", "should",
              "may", "might", "must", "does", "did", "do", "be", "been", "wants", "want", "plans", "seeks"}


def held_out(case_id: str) -> bool:
    return int(hashlib.sha1(case_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < HELD_OUT


def rarest_keyword_labels(keywords: scipy.sparse.csr_matrix) -> list[int | None]:
    """Per case: the column of its rarest keyword carried by >= MIN_LABEL_CASES cases."""
    counts = np.asarray(keywords.sum(axis=0)).ravel()
    out: list[int | None] = []
    for row in range(keywords.shape[0]):
        columns = [c for c in keywords.indices[keywords.indptr[row]:keywords.indptr[row + 1]]
                   if counts[c] >= MIN_LABEL_CASES]
        out.append(min(columns, key=lambda c: (counts[c], c)) if columns else None)
    return out


def scores(labels: list[int | None], clusters: np.ndarray, rows: np.ndarray) -> tuple[float, float, float]:
    """Over the given rows with a label: AMI (unclustered as one more cluster), purity over
    clustered cases, share unclustered."""
    keep = np.array([labels[r] is not None for r in rows])
    chosen = rows[keep]
    truth = [labels[r] for r in chosen]
    ami = adjusted_mutual_info_score(truth, clusters[chosen])
    by_cluster: dict[int, Counter[int]] = {}
    for row in chosen:
        if clusters[row] >= 0:
            by_cluster.setdefault(int(clusters[row]), Counter())[labels[row]] += 1
    clustered = int((clusters[chosen] >= 0).sum())
    purity = sum(c.most_common(1)[0][1] for c in by_cluster.values()) / max(1, clustered)
    return float(ami), purity, float((clusters[rows] < 0).mean())


def is_statement(label: str) -> bool:
    words = re.findall(r"[\w'-]+", label.lower())
    if not 4 <= len(words) <= 14 or label.count(",") >= len(words) // 2:
        return False
    return any(w in _AUXILIARY for w in words) or any(w.endswith(("s", "ed")) and len(w) > 3 for w in words[1:])


def main() -> int:  # noqa: PLR0915 - one report, printed in order
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[20_000, 50_000])
    args = parser.parse_args()
    params = ClusterParams()
    store = real_database()
    started = time.perf_counter()
    index = ClaimIndex.build(store, load_embedders(None))
    print(f"claim vectors of {len(index.case_pks):,} cases (default pair) ready"
          f" in {time.perf_counter() - started:.1f} s")
    per_model = [v.group_means(index.unit_start) for v in index.vectors.values()]
    vectors, primary = joined(per_model), per_model[0]
    names = store.case_ids([int(pk) for pk in index.case_pks])
    ids = [names[int(pk)][0] for pk in index.case_pks]
    titles = [names[int(pk)][1] for pk in index.case_pks]
    _, keywords = store.term_index().facet_matrix("keyword", index.case_pks)
    test = np.array([held_out(i) for i in ids])
    visible = scipy.sparse.diags((~test).astype(np.float32)) @ keywords
    labels = rarest_keyword_labels(keywords.tocsr())
    test_rows = np.flatnonzero(test)
    title_only = index.title_only
    links = case_links(store, index.case_pks)
    print(f"held out: {len(test_rows):,} cases ({int(title_only[test_rows].sum()):,} title-only),"
          f" {sum(labels[r] is not None for r in test_rows):,} with an evaluation label;"
          f" {len(links)} shared-rebuttal links")

    rows = []
    started = time.perf_counter()
    points = narrative_points(vectors, primary, visible.tocsr(), links, NEAR_DUPLICATE, params)
    ours = cluster_points(points, params)
    seconds = time.perf_counter() - started
    rows.append(("disinfodb", ours, seconds))
    k = len(set(ours.tolist()) - {-1})
    started = time.perf_counter()
    ablation = cluster_points(smoothed(reduced(vectors, params), params.neighbours), params)
    rows.append(("  without the keyword space", ablation, time.perf_counter() - started))
    for name, space in (("k-means on the pair's vectors", vectors), ("k-means on use-m's vectors", primary)):
        started = time.perf_counter()
        rows.append((f"{name}, k={k}", KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(space),
                     time.perf_counter() - started))
    started = time.perf_counter()
    claims = store.claim_texts()
    texts = [claims[int(pk)] for pk in index.case_pks]
    tfidf = TfidfVectorizer(stop_words="english", min_df=2, sublinear_tf=True).fit_transform(texts)
    rows.append((f"baseline: k-means on TF-IDF, k={k}", KMeans(n_clusters=k, n_init=1, random_state=0)
                 .fit_predict(tfidf), time.perf_counter() - started))
    rows.append(("chance: our clusters, shuffled", np.random.default_rng(0).permutation(ours), 0.0))

    held_title_only = test_rows[title_only[test_rows]]
    print(f"\nheld-out cases: {'method':<40} {'clusters':>8} {'unclustered':>11} {'AMI':>6} {'purity':>7}"
          f" {'AMI titles':>10} {'seconds':>8}")
    for name, found, took in rows:
        clusters = np.asarray(found)
        ami, purity, noise = scores(labels, clusters, test_rows)
        ami_titles = scores(labels, clusters, held_title_only)[0]
        count = len(set(clusters.tolist()) - {-1})
        print(f"{'':16}{name:<40} {count:>8} {noise:>10.0%} {ami:>6.3f} {purity:>7.3f} {ami_titles:>10.3f}"
              f" {took:>8.1f}")

    centres, sizes = centres_of(points, ours)
    themes = themes_of(centres, sizes, params)[ours]
    t = len(set(themes.tolist()))
    coarse = KMeans(n_clusters=t, n_init=1, random_state=0).fit_predict(vectors)
    print(f"\nthemes: {t}, AMI {scores(labels, themes, test_rows)[0]:.3f}; k-means on the pair's vectors with"
          f" k={t}: {scores(labels, coarse, test_rows)[0]:.3f}")

    statements, term_labels = [], []
    docs = {c: [] for c in range(k)}  # type: dict[int, list[str]]
    for row, c in enumerate(ours):
        docs[int(c)].append(texts[row])
    terms = distinctive_terms([" ".join(docs[c]) for c in range(k)], params.label_terms)
    for c in range(k):
        members = np.flatnonzero(ours == c)
        central = members[np.argsort(-(points[members] @ centres[c]), kind="stable")[:CENTRAL_TITLES]]
        statements.append(statement([titles[r] for r in central], ", ".join(terms[c][:3])))
        term_labels.append(", ".join(terms[c][:3]))
    print(f"labels that read as statements: disinfodb {np.mean([is_statement(s) for s in statements]):.0%},"
          f" terms {np.mean([is_statement(s) for s in term_labels]):.0%}; the five largest:")
    for c in range(min(5, k)):
        print(f"  {int((ours == c).sum()):>5} cases  {statements[c]}  [{term_labels[c]}]")

    rng = np.random.default_rng(1)
    for size in args.sizes:
        picks = rng.integers(0, len(vectors), size - len(vectors))
        def perturbed(base: np.ndarray, picks: np.ndarray = picks) -> np.ndarray:
            return normalised(base[picks] + rng.normal(0, 0.02, (len(picks), base.shape[1])).astype(np.float32))
        big_vectors = np.vstack([vectors, perturbed(vectors)])
        big_primary = np.vstack([primary, perturbed(primary)])
        big_keywords = scipy.sparse.vstack([visible, visible[picks]]).tocsr()
        started = time.perf_counter()
        big_points = narrative_points(big_vectors, big_primary, big_keywords, links, NEAR_DUPLICATE, params)
        themes_of(*centres_of(big_points, cluster_points(big_points, params)), params)
        print(f"clustering {size:,} cases (real + perturbed copies), themes included:"
              f" {time.perf_counter() - started:.1f} s")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
