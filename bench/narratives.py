"""Narrative quality against the keywords analysts gave the cases, and clustering speed.

Run: .venv/bin/python -m bench.narratives [--model use-m]

On every real case (seed + both scrapes, 13,665), with the claim vectors of --model
(cached in bench/.cache/real.sqlite after the first run):
- the label of a case for evaluation is its rarest keyword among those that at least 20
  cases carry (the most frequent keywords are generic tags: "Conspiracy theory", "West");
  cases with no such keyword are left out of the scores;
- scored, in the same run: disinfodb's clustering (smoothed vectors, PCA, HDBSCAN, noise
  reassigned), k-means on the same vectors with the same number of clusters, and the
  baseline k-means on TF-IDF of title + summary. AMI counts unclustered cases as one more
  cluster; purity = share of a cluster's cases that carry its commonest label;
- speed: clustering 20,000 cases (the real ones plus perturbed copies of random real
  vectors: noise added, renormalised; for timing only);
- storylines: for Skripal, coronavirus and Navalny, the narrative most dominated by that
  keyword, its size and its cases per year.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_mutual_info_score

from bench.web_pages import real_database
from disinfodb.cases import Case
from disinfodb.embed import load_embedders
from disinfodb.matching import ClaimIndex
from disinfodb.narratives import ClusterParams, cluster_vectors
from disinfodb.store import SQLiteStore

MIN_LABEL_CASES = 20
STORYLINES = {"Skripal": "Sergei Skripal", "coronavirus": "coronavirus", "Navalny": "Alexei Navalny"}


def rarest_keyword_labels(keywords: list[list[str]]) -> list[str | None]:
    counts = Counter(k for ks in keywords for k in set(ks))
    return [min((k for k in ks if counts[k] >= MIN_LABEL_CASES), key=lambda k: (counts[k], k), default=None)
            for ks in keywords]


def scores(labels: list[str | None], clusters: np.ndarray) -> tuple[float, float, float, float]:
    """AMI (unclustered cases as one more cluster), AMI over clustered cases only, purity
    over clustered cases, share unclustered."""
    keep = np.array([label is not None for label in labels])
    truth = [label for label in labels if label is not None]
    ami = adjusted_mutual_info_score(truth, clusters[keep])
    inside = keep & (clusters >= 0)
    ami_inside = adjusted_mutual_info_score([label for label, i in zip(labels, inside, strict=True) if i],
                                            clusters[inside])
    clustered = keep & (clusters >= 0)
    by_cluster: dict[int, Counter[str]] = {}
    for label, cluster in zip(labels, clusters, strict=True):
        if label is not None and cluster >= 0:
            by_cluster.setdefault(int(cluster), Counter())[label] += 1
    purity = sum(c.most_common(1)[0][1] for c in by_cluster.values()) / max(1, int(clustered.sum()))
    return float(ami), float(ami_inside), purity, float((clusters < 0).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="use-m")
    args = parser.parse_args()
    store = real_database()
    started = time.perf_counter()
    index = ClaimIndex.build(store, load_embedders(args.model)[:1])
    print(f"claim vectors of {len(index.case_pks):,} cases ({args.model}) ready"
          f" in {time.perf_counter() - started:.1f} s")
    vectors = index.case_vectors()
    cases = {int(pk): case for pk, case in zip(index.case_pks, _cases_by_pk(store, index), strict=True)}
    keywords = [cases[int(pk)].keywords for pk in index.case_pks]
    labels = rarest_keyword_labels(keywords)
    print(f"evaluation labels: {len({label for label in labels if label})} keywords;"
          f" {sum(label is None for label in labels)} cases without one are left out")

    rows = []
    started = time.perf_counter()
    ours = cluster_vectors(vectors, ClusterParams())
    rows.append(("disinfodb (smoothed HDBSCAN)", ours, time.perf_counter() - started))
    k = len(set(ours.tolist()) - {-1})
    started = time.perf_counter()
    kmeans = KMeans(n_clusters=k, n_init=3, random_state=0).fit_predict(vectors)
    rows.append((f"k-means on the same vectors, k={k}", kmeans, time.perf_counter() - started))
    started = time.perf_counter()
    texts = [f"{cases[int(pk)].title}. {cases[int(pk)].summary}" for pk in index.case_pks]
    tfidf = TfidfVectorizer(stop_words="english", min_df=2, sublinear_tf=True).fit_transform(texts)
    baseline = KMeans(n_clusters=k, n_init=3, random_state=0).fit_predict(tfidf)
    rows.append((f"baseline: k-means on TF-IDF, k={k}", baseline, time.perf_counter() - started))
    shuffled = np.random.default_rng(0).permutation(ours)
    rows.append(("chance: our clusters, shuffled", shuffled, 0.0))

    print(f"\n{'method':<36} {'clusters':>8} {'unclustered':>11} {'AMI':>6} {'AMI in':>7} {'purity':>7}"
          f" {'seconds':>8}")
    for name, clusters, seconds in rows:
        ami, ami_inside, purity, noise = scores(labels, np.asarray(clusters))
        count = len(set(np.asarray(clusters).tolist()) - {-1})
        print(f"{name:<36} {count:>8} {noise:>10.0%} {ami:>6.3f} {ami_inside:>7.3f} {purity:>7.3f} {seconds:>8.1f}")

    rng = np.random.default_rng(1)
    extra = vectors[rng.integers(0, len(vectors), 20_000 - len(vectors))]
    extra = extra + rng.normal(0, 0.02, extra.shape).astype(np.float32)
    bigger = np.vstack([vectors, extra / np.linalg.norm(extra, axis=1, keepdims=True)]).astype(np.float32)
    started = time.perf_counter()
    cluster_vectors(bigger, ClusterParams())
    print(f"\nclustering 20,000 cases (real + perturbed copies): {time.perf_counter() - started:.1f} s")

    print("\nstorylines (the narratives where most cases carry the keyword; their cases per year, and that"
          " count as a share of all cases of the year):")
    year_of = [cases[int(pk)].published.year if cases[int(pk)].published else None  # type: ignore[union-attr]
               for pk in index.case_pks]
    all_per_year = Counter(y for y in year_of if y)
    for story, keyword in STORYLINES.items():
        carrying = np.array([keyword in ks for ks in keywords])
        chosen = [c for c in set(ours.tolist()) - {-1} if carrying[ours == c].mean() >= 0.5]
        members = np.flatnonzero(np.isin(ours, chosen))
        years = Counter(year_of[i] for i in members if year_of[i])
        recall = carrying[members].sum() / carrying.sum()
        print(f"  {story:<12} {len(chosen)} narrative(s), {len(members):>4} cases,"
              f" {carrying[members].mean():.0%} tagged {keyword!r}, recall {recall:.0%};"
              " per year: " + ", ".join(f"{y}: {n} ({n / all_per_year[y]:.1%})" for y, n in sorted(years.items())))
    store.close()
    return 0


def _cases_by_pk(store: SQLiteStore, index: ClaimIndex) -> list[Case]:
    by_id = {store.pk_of(case.id): case for case in store.iter_cases()}
    return [by_id[int(pk)] for pk in index.case_pks]


if __name__ == "__main__":
    sys.exit(main())
