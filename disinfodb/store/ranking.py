"""Top-k BM25 for broad text queries: FTS5's own bm25, scored from an in-memory copy of its index.

Why: `bm25()` in `ORDER BY ... LIMIT 20` scores every match before the LIMIT takes the best
20, and FTS5 does it row by row through its auxiliary-function API: 70-120 ms for a word
that 73k of 100k cases contain (`Ukraine`), more for a prefix (`Russ*`: 84k). FTS5 still
decides which cases match (words, phrases, prefixes, OR, exclusions: `SQLiteStore._text_pks`);
this module only puts a large match set in order. It holds what bm25 reads: per FTS5 term
the cases containing it with its column-weighted count in each (title 10, summary 4,
disproof 1, tags 3: COLUMN_WEIGHTS), and each case's length in tokens. Scoring a query is
a few NumPy operations over the match set, and `np.partition` finds the page.

Same terms: the index is read from FTS5's own index (its fts5vocab tables), and query words
are tokenised by an FTS5 table with the same tokenizer (`fts5_scratch`), so stems,
case and diacritic folding and prefix expansion are FTS5's. Same score: FTS5's formula
(k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)), at least 1e-6, the whole row's
length against the mean) in its order of operations, ties by pk as `ORDER BY score, rowid`.
For words and prefixes (and OR, exclusions, filters) the scores are FTS5's to the last bit
and so the pages are the same (tests/test_ranking.py checks both).

What it leaves to FTS5: a phrase of several tokens (a quoted phrase, or a word FTS5 splits,
such as `covid-19`): bm25 counts occurrences of the whole phrase, which needs positions
this index does not hold (an approximation from its words' counts shared 1 of the top 20
with FTS5 for `"Ukraine war"`), so such queries keep FTS5's bm25, as do small match sets
(`SQLiteStore.rank_index_from`), where it is fast.

Cost at 100k cases (bench.import_search --database): built in ~5.5 s on a thread of its own
(on a busy 2-core machine), 52 MB of arrays for 6.4M term-case pairs (RSS +72 MB; ~270 MB
more while it is built). After a write, the first search that finds it behind catches it
up from the audit trail (`caught_up`: ~4 ms at 13k cases, ~50 ms at 100k), so a new case
is ranked the moment it is committed. Until the first build is done, and when the trail
cannot say what changed (a restore), searches use FTS5's bm25 while it is built again
(`BackgroundSnapshot`, with a pause after each build).

PostgreSQL keeps `ts_rank_cd` over its tsvector matches: the same index could be read from
the tsvector column, but its rank is another function and not done here.
"""

from __future__ import annotations

import math
import sqlite3
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from disinfodb.search import parse_query
from disinfodb.store.fts5_scratch import FTS_COLUMNS, fts5_tokens, select_over
from disinfodb.store.term_index import IntArray, dropped_cases, int_array, spliced
from disinfodb.store.trail import TrailMark, changes_since, trail_end

if TYPE_CHECKING:
    from disinfodb.store.sql_store import SQLStore

#: FTS5's column order and SQLite's bm25 weights: a title match counts most.
COLUMN_WEIGHTS = dict(zip(FTS_COLUMNS, (10.0, 4.0, 1.0, 3.0), strict=True))
_K1, _B = 1.2, 0.75  # FTS5's bm25 constants
_MIN_IDF = 1e-6  # FTS5 replaces an idf <= 0 (a term in more than half the rows) by this
_LAST_CHAR = chr(0x10FFFF)  # after every term with a given prefix (terms sort by code point)
# Each instance's column, coded as where ",name," starts in this string (cheaper in SQL than a CASE).
_COLUMN_LIST = "," + ",".join(COLUMN_WEIGHTS) + ","
_COLUMN_CODE_BITS = 5
_WEIGHT_OF_CODE = np.zeros(1 << _COLUMN_CODE_BITS, dtype=np.float32)
for _name, _weight in COLUMN_WEIGHTS.items():
    _WEIGHT_OF_CODE[_COLUMN_LIST.index(f",{_name},") + 1] = _weight


@dataclass(frozen=True)
class RankIndex:
    """A snapshot of FTS5's index as bm25 needs it: term -> (case, weighted count) postings."""

    terms: list[str]  # FTS5's terms in its order (UTF-8 bytes, which is code point order)
    starts: IntArray  # term i's postings: cases[starts[i]:starts[i + 1]]
    cases: npt.NDArray[np.int32]  # ascending within a term
    counts: npt.NDArray[np.float32]  # the term's occurrences in that case, times its columns' weights
    lengths: npt.NDArray[np.int32]  # per pk: the case's tokens in all columns
    mean_length: float
    case_pks: IntArray  # the cases it holds (the FTS5 table's rows), ascending
    trail: TrailMark  # the last audit entry it holds

    @classmethod
    def load(cls, db: sqlite3.Connection) -> RankIndex:
        """Read FTS5's index through its fts5vocab tables, on a connection of the caller's
        own, in one read transaction (the terms and the instances must agree).

        The instances (8M at 100k cases) come as one aggregated string, each a number that
        codes case and column: row by row through Python they take seven times as long."""
        for kind in ("row", "instance"):
            db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.cases_fts_{kind}"
                       f" USING fts5vocab (main, cases_fts, {kind})")
        db.execute("BEGIN")
        try:
            vocabulary = db.execute("SELECT term, doc, cnt FROM temp.cases_fts_row").fetchall()
            coded = int_array(db.execute(
                f"SELECT group_concat((doc << {_COLUMN_CODE_BITS}) + instr(?, ',' || col || ','))"
                " FROM temp.cases_fts_instance", (_COLUMN_LIST,)).fetchone()[0])
            case_pks = np.sort(int_array(db.execute("SELECT group_concat(pk) FROM cases").fetchone()[0]))
            trail = trail_end(lambda sql: db.execute(sql).fetchall())
        finally:
            db.execute("ROLLBACK")
        terms = [term for term, _, _ in vocabulary]
        documents = np.array([n for _, n, _ in vocabulary], dtype=np.int64)
        per_term = np.array([n for _, _, n in vocabulary], dtype=np.int64)
        weights = _WEIGHT_OF_CODE[coded & ((1 << _COLUMN_CODE_BITS) - 1)]
        coded >>= _COLUMN_CODE_BITS  # now each instance's case
        if int(per_term.sum()) != len(coded):
            raise RuntimeError("FTS5's term and instance tables disagree")
        # Instances come by term, case, column, offset: a posting starts where the case or the term changes.
        first = np.ones(len(coded), dtype=bool)
        first[1:] = coded[1:] != coded[:-1]
        first[np.cumsum(per_term)[:-1]] = True
        posting_starts = np.flatnonzero(first)
        if len(posting_starts) != int(documents.sum()):
            raise RuntimeError("FTS5's term and instance tables disagree")
        counts = np.add.reduceat(weights, posting_starts) if len(coded) else weights
        size = int(case_pks[-1]) + 1 if len(case_pks) else 1
        lengths = np.bincount(coded, minlength=size).astype(np.int32)
        return cls(terms=terms, starts=np.concatenate([[0], np.cumsum(documents, dtype=np.int64)]),
                   cases=coded[posting_starts].astype(np.int32), counts=counts.astype(np.float32),
                   lengths=lengths, mean_length=len(coded) / len(case_pks) if len(case_pks) else 1.0,
                   case_pks=case_pks, trail=trail)

    def caught_up(self, source: SQLStore, case_pks: IntArray) -> RankIndex | None:
        """This index brought up to the caller's snapshot (`case_pks`: every case in it)
        from the audit trail, in a few ms on the request: the postings of the cases named
        since are taken out, and their current text, tokenised by FTS5 itself (the scratch
        table), put in; the same arrays a full read would give. None when the trail
        cannot say what changed (the caller builds it afresh in the background)."""
        changes = changes_since(source.fetch_all, self.trail)
        if changes is None:
            return None
        if not changes.case_ids:
            return self
        where, param = source.in_list("id", changes.case_ids)
        texts = source.fetch_all(f"SELECT pk, {', '.join(FTS_COLUMNS)} FROM cases WHERE {where}", (param,))
        size = max(len(self.lengths), int(case_pks[-1]) + 1 if len(case_pks) else 0)
        dropped = dropped_cases(size, np.array([int(row[0]) for row in texts], dtype=np.int64), self.case_pks,
                                case_pks if changes.deleted else None)
        weight: dict[tuple[str, int], float] = defaultdict(float)
        lengths = np.zeros(size, dtype=np.int32)
        lengths[:len(self.lengths)] = self.lengths
        lengths[dropped] = 0
        for term, pk, code in select_over(texts, "SELECT term, doc, instr(?, ',' || col || ',')"
                                                 " FROM scratch_instances", [_COLUMN_LIST]):
            weight[term, pk] += float(_WEIGHT_OF_CODE[code])
            lengths[pk] += 1
        terms, starts, inserted_at = self._with_terms(sorted({term for term, _ in weight}))
        row_of = {term: bisect_left(terms, term) for term, _ in weight}
        gone = np.flatnonzero(dropped[self.cases])  # positions of the postings taken out
        gone_rows = np.searchsorted(self.starts, gone, side="right") - 1
        gone_rows += np.searchsorted(inserted_at, gone_rows, side="right")  # rows moved down by new terms
        added = sorted(weight.items())
        starts, cases, counts = spliced(
            (starts, self.cases), (gone_rows, self.cases[gone].astype(np.int64)),
            (np.array([row_of[term] for (term, _), _ in added], dtype=np.int64),
             np.array([pk for (_, pk), _ in added], dtype=np.int64)),
            len(terms), (self.counts, np.array([count for _, count in added], dtype=np.float32)))
        assert counts is not None
        return RankIndex(terms=terms, starts=starts, cases=cases.astype(np.int32), counts=counts, lengths=lengths,
                         mean_length=int(lengths.sum()) / len(case_pks) if len(case_pks) else 1.0,
                         case_pks=case_pks, trail=changes.end)

    def _with_terms(self, new_terms: list[str]) -> tuple[list[str], IntArray, IntArray]:
        """The terms with those not held yet put in their places (as empty rows of
        `starts`), and the old row each was put before, ascending."""
        missing = [term for term in new_terms if not self._holds(term)]
        if not missing:
            return self.terms, self.starts, np.zeros(0, dtype=np.int64)
        at = [bisect_left(self.terms, term) for term in missing]
        terms: list[str] = []
        previous = 0
        for position, term in zip(at, missing, strict=True):
            terms += self.terms[previous:position]
            terms.append(term)
            previous = position
        terms += self.terms[previous:]
        return terms, np.insert(self.starts, at, self.starts[at]), np.array(at, dtype=np.int64)

    def _holds(self, term: str) -> bool:
        position = bisect_left(self.terms, term)
        return position < len(self.terms) and self.terms[position] == term

    @property
    def rows(self) -> int:
        """Cases in the FTS5 table (bm25's N)."""
        return len(self.case_pks)

    @property
    def nbytes(self) -> int:
        """The arrays' memory (the term strings add ~6 MB at 100k cases)."""
        return self.starts.nbytes + self.cases.nbytes + self.counts.nbytes + self.lengths.nbytes

    def page(self, text: str, matches: IntArray, start: int, count: int) -> list[tuple[int, float]] | None:
        """Cases start..start+count of `matches` (ascending pks, all FTS5 matches of
        `text`) by bm25, best first: (pk, score) as `-bm25(cases_fts, weights)`. None
        when the query has a phrase of several tokens: only FTS5 can count those."""
        parsed = parse_query(text)
        if parsed is None:
            return []
        terms = [(fts5_tokens(text), prefix) for group in parsed.groups for text, prefix in group]
        if any(len(tokens) > 1 for tokens, _ in terms):
            return None
        lengths = self.lengths[matches].astype(np.float64)
        saturation = _K1 * ((1 - _B) + (_B * lengths) / self.mean_length)
        scores = np.zeros(len(matches))
        for tokens, prefix in terms:  # the excluded terms never occur in a match: they add 0
            if not tokens:
                continue
            counts, documents = self._counts(tokens[0], prefix)
            idf = math.log((self.rows - documents + 0.5) / (documents + 0.5))
            idf = idf if idf > 0 else _MIN_IDF
            counts_here = counts[matches]
            scores += idf * ((counts_here * (_K1 + 1.0)) / (counts_here + saturation))
        return [(int(matches[i]), float(scores[i])) for i in _best(scores, matches, start + count)[start:]]

    def _counts(self, token: str, prefix: bool) -> tuple[npt.NDArray[np.float64], int]:
        """A term's (or, for a prefix, all its terms' summed) weighted count per pk, and its cases."""
        first = bisect_left(self.terms, token)
        last = bisect_left(self.terms, token + _LAST_CHAR) if prefix else first + int(
            first < len(self.terms) and self.terms[first] == token)
        low, high = int(self.starts[first]), int(self.starts[last])
        if prefix:
            summed = np.bincount(self.cases[low:high], weights=self.counts[low:high], minlength=len(self.lengths))
            return summed.astype(np.float64, copy=False), int(np.count_nonzero(summed))
        counts = np.zeros(len(self.lengths))
        counts[self.cases[low:high]] = self.counts[low:high]
        return counts, high - low


def _best(scores: npt.NDArray[np.float64], pks: IntArray, k: int) -> IntArray:
    """Positions of the k best scores, best first, equal scores by ascending pk: the
    k-th best score found in linear time, only the candidates at or above it sorted."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    candidates = np.flatnonzero(scores >= kth)
    return candidates[np.lexsort((pks[candidates], -scores[candidates]))][:k]
