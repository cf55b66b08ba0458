"""Related cases: what a reader of one case should see next, each entry saying why it is there.

Every case in the matching index is a candidate, scored as

    cosine of the two claims (the cases' mean claim vectors, the first model's)
  + LEXICAL  x BM25 of this case's claim units against the other's title + summary, relative
               to the best other case (0..1): the rare words an embedding blurs
               ("Kazakhstan", "colour revolution") in a claim that reads like any NATO/Russia one
  + KEYWORDS x the rarity of the keywords both carry, summed and capped at 1 (rarity of a
               keyword = log(N / cases with it) / log(N): "Kazakhstan" ~0.7, "NATO" ~0.2)
  + NARRATIVE if both are in the same narrative
  + REBUTTAL  if their disproofs share a rebuttal paragraph (disinfodb.rebuttals)

then walked best first. One entry per claim: a candidate that is a near copy of an entry
already listed (the same normalised title, or claims at cosine >= NEAR_DUPLICATE: the two
scrapes repeat many cases) joins that entry as "also recorded as" instead of taking a place.
The weights were chosen on cases outside bench.related's held-out set (see the README).

Reasons: `narrative`, `keywords`, `rebuttal` when the pair shares one, and `claim` when the
claims themselves are close (cosine >= SIMILAR_CLAIM, or BM25 >= SIMILAR_WORDS of the best
other case's) or nothing else is shared.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from disinfodb.facets import FACET_NAMES
from disinfodb.matching.channels import FloatArray
from disinfodb.matching.matcher import NEAR_DUPLICATE, Matcher
from disinfodb.rebuttals import rebuttal_index
from disinfodb.store import Store
from disinfodb.store.term_index import IntArray
from disinfodb.vocab import fold

# use-m cosines: the closest other claim of a case is at 0.55-0.75 for most cases; from
# 0.6 a pair reads as the same kind of claim. Or words: from half the best other case's BM25.
SIMILAR_CLAIM = 0.6
SIMILAR_WORDS = 0.5
POOL = 8  # candidates compared per entry shown: the near copies collapsed need room
_KEYWORD = FACET_NAMES.index("keyword")
_NOT_WORD = re.compile(r"[^\w\s]+")


class Reason(StrEnum):
    NARRATIVE = "narrative"  # in the same narrative
    KEYWORDS = "keywords"  # both carry these keywords
    REBUTTAL = "rebuttal"  # their disproofs share a rebuttal paragraph
    CLAIM = "claim"  # the claims are similar


@dataclass(frozen=True)
class Weights:
    """What each shared trait adds to the claims' cosine (in cosine units). Chosen on the
    tuning set of bench.related (README: related cases): the most keyword-sharing lists
    within 0.02 of the claims-only ranking's mean cosine, keeping some weight on words
    (cases without keywords, like the seed's Kazakhstan cases) and on the narrative."""

    lexical: float = 0.1
    keywords: float = 0.2
    narrative: float = 0.05
    rebuttal: float = 0.05


@dataclass(frozen=True)
class CaseName:
    case_id: str
    title: str


@dataclass(frozen=True)
class RelatedCase:
    case_id: str
    title: str
    score: float  # what the list is ordered by: the cosine plus the weights of what is shared
    similarity: float  # the cosine of the two claims
    reasons: tuple[Reason, ...]
    keywords: tuple[str, ...]  # the keywords both carry, rarest first
    narrative: str | None  # the narrative both are in
    also: tuple[CaseName, ...]  # near copies of this entry: the same claim recorded again

    def as_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "title": self.title, "score": self.score, "similarity": self.similarity,
                "reasons": [reason.value for reason in self.reasons], "keywords": list(self.keywords),
                "narrative": self.narrative,
                "also": [{"case_id": other.case_id, "title": other.title} for other in self.also]}


def title_key(title: str) -> str:
    """A title as near copies share it: case, accents, punctuation and spacing ignored (the
    two scrapes write one case's title with other quotes, dashes or a final full stop)."""
    return " ".join(_NOT_WORD.sub(" ", fold(title)).split())


def related_cases(matcher: Matcher, store: Store, case_id: str, k: int = 10,
                  weights: Weights = Weights()) -> list[RelatedCase]:
    """The k cases most related to this one, best first, one entry per claim, with reasons.
    CaseNotFound for an unknown case or one newer than the matcher's index."""
    row, cosines, lexical = matcher.neighbourhood(case_id)
    pks = matcher.index.case_pks
    keyword_weight, keyword_terms = _shared_keywords(store, int(pks[row]), pks)
    narrative = next(iter(store.get(case_id).narratives), None)
    same_narrative = _rows_of(pks, store.narratives.member_pks(narrative) if narrative else np.zeros(0, np.int64))
    same_rebuttal = _rows_of(pks, _rebuttal_partners(store, case_id))
    score = (cosines + weights.lexical * lexical + weights.keywords * np.minimum(keyword_weight, 1.0)
             + weights.narrative * same_narrative + weights.rebuttal * same_rebuttal)
    score[row] = -np.inf
    pool = np.argsort(-score, kind="stable")[:POOL * k]
    pool = pool[np.isfinite(score[pool])]
    names = store.case_ids([int(pks[i]) for i in pool])
    between = matcher.index.cases.cosines(matcher.index.cases.take(pool))[:, pool] if len(pool) else None
    entries: list[int] = []  # positions in pool
    copies: dict[int, list[int]] = {}
    titles: dict[str, int] = {}
    for position, candidate in enumerate(pool):
        key = title_key(names[int(pks[candidate])][1])
        near = titles.get(key)
        if near is None and between is not None:
            near = next((e for e in entries if between[position, e] >= NEAR_DUPLICATE), None)
        if near is not None:
            copies[near].append(position)
        elif len(entries) < k:
            entries.append(position)
            copies[position] = []
            titles[key] = position
    terms = store.term_index()
    found = []
    for position in entries:
        candidate = int(pool[position])
        shared = keyword_terms.get(int(pks[candidate]), [])
        reasons = [reason for reason, shares in ((Reason.NARRATIVE, same_narrative[candidate]),
                                                 (Reason.KEYWORDS, bool(shared)),
                                                 (Reason.REBUTTAL, same_rebuttal[candidate])) if shares]
        if cosines[candidate] >= SIMILAR_CLAIM or lexical[candidate] >= SIMILAR_WORDS or not reasons:
            reasons.append(Reason.CLAIM)
        case_pk = int(pks[candidate])
        found.append(RelatedCase(
            *names[case_pk], round(float(score[candidate]), 4), round(float(cosines[candidate]), 4),
            tuple(reasons), tuple(terms.labels[t] for t in shared),
            narrative if same_narrative[candidate] else None,
            tuple(CaseName(*names[int(pks[pool[p]])]) for p in copies[position])))
    return found


def _rows_of(pks: IntArray, members: IntArray) -> FloatArray:
    """1.0 at the index rows of the given case pks (those the index has), else 0.0."""
    marks = np.zeros(len(pks))
    rows = np.searchsorted(pks, members)
    inside = rows < len(pks)
    rows = rows[inside][pks[rows[inside]] == members[inside]]
    marks[rows] = 1.0
    return marks


def _shared_keywords(store: Store, case_pk: int, pks: IntArray) -> tuple[FloatArray, dict[int, list[int]]]:
    """Per index row, the summed rarity of the keywords it shares with the case; and per
    case pk sharing any, those keywords' term ids, rarest first."""
    terms = store.term_index()
    indptr, values = terms.terms_of_case
    mine = values[indptr[case_pk]:indptr[case_pk + 1]] if case_pk + 1 < len(indptr) else values[:0]
    mine = mine[terms.term_facet[mine] == _KEYWORD]
    members_ptr, members = terms.cases_of_term
    counts = members_ptr[mine + 1] - members_ptr[mine]
    n = max(len(terms.case_pks), 2)
    weight = np.zeros(len(pks))
    shared: dict[int, list[int]] = {}
    for term in mine[np.argsort(counts, kind="stable")]:
        carriers = members[members_ptr[term]:members_ptr[term + 1]]
        rarity = math.log(n / max(len(carriers), 1)) / math.log(n)
        weight += rarity * _rows_of(pks, carriers)
        for pk in carriers.tolist():
            if pk != case_pk:
                shared.setdefault(pk, []).append(int(term))
    return weight, shared


def _rebuttal_partners(store: Store, case_id: str) -> IntArray:
    """The pks of the other cases whose disproofs share a rebuttal paragraph with this one's."""
    index = rebuttal_index(store)
    row = index.row_of_id.get(case_id)
    if row is None:
        return np.zeros(0, dtype=np.int64)
    partners = {index.pks[other] for key in index.keys_of[row] for other in index.groups[key].rows if other != row}
    return np.array(sorted(partners), dtype=np.int64)
