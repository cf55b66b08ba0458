"""Trends over a store: cases per narrative or facet value per week or month, emerging
narratives, first/last-seen dates, and which values appear together (co-occurrence).

Everything is counted in NumPy over the store's in-memory TermIndex (a facet value's
cases are a slice of its CSR arrays) and the `case_narratives` table, so a series or a
co-occurrence matrix over 100k cases costs milliseconds, not a GROUP BY per request.

Case volume differs a lot between periods (the 2015-2021 data has ~1k cases in 2018 and
~3.3k in 2020), so every series carries the count *and* its share of all cases published
in the same period.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from scipy import sparse

from disinfodb.cases import plausible_dates
from disinfodb.errors import QuerySyntaxError
from disinfodb.facets import FACET_NAMES, GROUPINGS, NARRATIVE, THEME
from disinfodb.facets import facet as facet_of
from disinfodb.search import SearchQuery
from disinfodb.store import Store
from disinfodb.store.term_index import NO_DATE, IntArray, TermIndex, _gather

Period = Literal["week", "month", "year"]
PERIODS: tuple[str, ...] = get_args(Period)
MAX_PERIODS: dict[str, int] = {"week": 1200, "month": 600, "year": 200}  # ~23, 50 and 200 years
_EPOCH = date(1970, 1, 1).toordinal()


# -- results ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """One period: its first day, the matching cases, all cases, and the share."""

    start: date
    count: int
    total: int  # all cases published in the period (within the query's dates)
    share: float  # count / total (0 when the period has no case)


@dataclass(frozen=True)
class Series:
    facet: str | None  # None: the cases the query selects
    value: str | None  # the value's key (a narrative id for narratives)
    label: str
    period: Period
    points: list[Point]

    @property
    def count(self) -> int:
        return sum(p.count for p in self.points)

    def peak(self, share: bool = False) -> Point | None:
        """The period with the most cases (or the highest share); the earliest on ties."""
        if not self.points:
            return None
        return max(self.points, key=lambda p: p.share if share else p.count)


@dataclass(frozen=True)
class TopValue:
    value: str  # key (a language code, a narrative id, a folded keyword)
    label: str
    count: int
    share: float  # of the selected cases


@dataclass(frozen=True)
class Span:
    label: str
    count: int  # dated cases
    first_seen: date
    last_seen: date


@dataclass(frozen=True)
class Growth:
    """How fast a narrative (or facet value) grew in the last weeks against its baseline."""

    value: str
    label: str
    recent: int  # cases in the recent window
    baseline: int  # cases in the baseline window before it
    expected: float  # baseline scaled to the recent window's length
    growth: float  # (recent + 1) / (expected + 1)
    relative: float  # growth / the growth of all cases: >1 grows faster than the database
    first_seen: date | None
    new: bool  # first seen inside the recent window


@dataclass(frozen=True)
class Emerging:
    as_of: date | None  # the end of the recent window ("now": the newest case by default)
    weeks: int
    baseline_weeks: int
    volume_growth: float  # (all recent + 1) / (all expected + 1)
    items: list[Growth]


@dataclass(frozen=True)
class Pair:
    row: TopValue
    col: TopValue
    count: int
    lift: float  # P(row and col) / (P(row) P(col)); log2 of it is the PMI


@dataclass(frozen=True)
class Cooccurrence:
    rows_facet: str
    cols_facet: str
    total: int  # selected cases
    rows: list[TopValue]
    cols: list[TopValue]
    counts: list[list[int]]  # counts[i][j]: cases with rows[i] and cols[j]
    lift: list[list[float]]
    pairs: list[Pair]  # the most frequent pairs over all values (not only the top rows/cols)


# -- groups: a facet's values (or the narratives) as CSR arrays of case pks --------------

@dataclass(frozen=True)
class _Groups:
    keys: list[str]
    labels: list[str]
    indptr: IntArray  # group g's cases: pks[indptr[g]:indptr[g + 1]]
    pks: IntArray
    term_ids: IntArray | None = None  # a facet's groups: each one's term id in the TermIndex

    @property
    def size(self) -> int:
        return len(self.keys)

    def group_of_link(self) -> IntArray:
        return np.repeat(np.arange(self.size, dtype=np.int64), np.diff(self.indptr))

    def members(self, group: int) -> IntArray:
        return self.pks[self.indptr[group]:self.indptr[group + 1]]


def _check_grouping(facet: str) -> None:
    if facet not in GROUPINGS:
        raise QuerySyntaxError(f"unknown facet {facet!r}: use one of {', '.join(GROUPINGS)}")


def _groups(store: Store, index: TermIndex, facet: str) -> _Groups:
    _check_grouping(facet)
    if facet == NARRATIVE:
        return _narrative_groups(store.narratives.groups())
    if facet == THEME:
        return _narrative_groups(store.narratives.theme_groups())
    ids = np.flatnonzero(index.term_facet == FACET_NAMES.index(facet))
    indptr, values = index.cases_of_term
    lengths = indptr[ids + 1] - indptr[ids]
    ids = ids[lengths > 0]
    lengths = lengths[lengths > 0]
    return _Groups(keys=[index.keys[i] for i in ids], labels=[index.labels[i] for i in ids],
                   indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                   pks=_gather(indptr, values, ids), term_ids=ids)


def _narrative_groups(rows: list[tuple[str, str, int]]) -> _Groups:
    """The current narratives (or themes) with members, from (id, label, case pk) rows by id."""
    keys, labels, lengths = [], [], []
    for (nid, label), members in groupby(rows, key=lambda row: (row[0], row[1])):
        keys.append(nid)
        labels.append(label)
        lengths.append(sum(1 for _ in members))
    return _Groups(keys=keys, labels=labels, indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                   pks=np.array([row[2] for row in rows], dtype=np.int64))


# -- selection ----------------------------------------------------------------------------

@contextmanager
def _reading(store: Store) -> Iterator[TermIndex]:
    """One read transaction: the index and the narrative tables are one snapshot."""
    with store.snapshot():
        yield store.term_index()


def _selected(store: Store, index: TermIndex, query: SearchQuery | None) -> IntArray:
    """The cases a query selects: its filters, dates and (if any) its words."""
    if query is None:
        return index.case_pks
    return index.select(query, within=store.text_matches(query.text))


def _period_of(days: IntArray, period: Period) -> IntArray:
    """Date ordinals -> period numbers (weeks start on Monday; months and years as usual)."""
    if period == "week":
        return (days - 1) // 7  # ordinal 1 (0001-01-01) is a Monday
    months = (days - _EPOCH).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months if period == "month" else months // 12


def _period_start(number: int, period: Period) -> date:
    if period == "week":
        return date.fromordinal(number * 7 + 1)
    if period == "year":
        return date(1970 + number, 1, 1)
    years, month = divmod(number, 12)
    return date(1970 + years, month + 1, 1)


def _known(days: IntArray) -> npt.NDArray[np.bool_]:
    """Which day numbers are publication dates a series counts: known and plausible. A
    case dated 0001-01-01 (kept from before dates were checked) would stretch every axis
    over two thousand years; such cases count as undated."""
    earliest, latest = plausible_dates()
    return np.asarray((days != NO_DATE) & (days >= earliest.toordinal()) & (days <= latest.toordinal()))


def _dated(index: TermIndex, pks: IntArray) -> IntArray:
    days: IntArray = index.published[pks]
    dated: IntArray = days[_known(days)]
    return dated


def _axis(all_periods: IntArray, period: Period) -> tuple[int, int]:
    """The first and last period of an axis over these periods, at most MAX_PERIODS long
    (the most recent ones), so no page draws tens of thousands of points."""
    first, last = int(all_periods.min()), int(all_periods.max())
    return max(first, last - MAX_PERIODS[period] + 1), last


def _points(index: TermIndex, pks: IntArray, query: SearchQuery | None, period: Period) -> list[Point]:
    """Counts of `pks` per period, with all cases in each period (within the query's dates)."""
    everything = index.select(SearchQuery(since=query.since, until=query.until)) if query else index.case_pks
    all_days = _dated(index, everything)
    if not len(all_days):
        return []
    first, last = _axis(_period_of(all_days, period), period)
    all_periods = _period_of(all_days, period)
    all_periods = all_periods[all_periods >= first]
    totals = np.bincount(all_periods - first, minlength=last - first + 1)
    periods = _period_of(_dated(index, pks), period)
    counts = np.bincount(periods[periods >= first] - first, minlength=last - first + 1)
    return [Point(_period_start(first + i, period), int(c), int(t), float(c / t) if t else 0.0)
            for i, (c, t) in enumerate(zip(counts.tolist(), totals.tolist(), strict=True))]


# -- the public functions -----------------------------------------------------------------

def series(store: Store, facet: str | None = None, value: str | None = None, period: Period = "month",
           query: SearchQuery | None = None) -> Series:
    """Cases per period: of a facet value (`facet` in FACETS) or a narrative (`facet` =
    "narrative", `value` its id), among the cases `query` selects; with neither, the cases
    the query selects. Shares are of all cases published in the period.

    Periods run from the first to the last period with any case (limited by the query's
    dates), empty ones included, so series of different values line up.
    """
    if period not in PERIODS:
        raise QuerySyntaxError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")
    with _reading(store) as index:
        selected = _selected(store, index, query)
        label = "All cases" if query is None or query == SearchQuery() else "Matching cases"
        key = None
        if facet is not None:
            if value is None:
                raise QuerySyntaxError("a series of a facet needs a value")
            members, key, label = _members(store, index, facet, value)
            selected = index.intersect(selected, members)
        return Series(facet, key, label, period, _points(index, selected, query, period))


def series_table(store: Store, facet: str = NARRATIVE, period: Period = "month"
                 ) -> tuple[list[date], dict[str, list[int]]]:
    """Cases per period of every value of a facet (or every narrative) at once, on one
    axis (the first to the last period of all cases): (period starts, key -> counts)."""
    if period not in PERIODS:
        raise QuerySyntaxError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}")
    with _reading(store) as index:
        groups = _groups(store, index, facet)
    all_days = _dated(index, index.case_pks)
    if not len(all_days):
        return [], {}
    first, last = _axis(_period_of(all_days, period), period)
    size = last - first + 1
    days = index.published[groups.pks]
    dated = _known(days)
    periods = _period_of(days[dated], period)
    shown = periods >= first
    cells = groups.group_of_link()[dated][shown] * size + (periods[shown] - first)
    table = np.bincount(cells, minlength=groups.size * size).reshape(groups.size, size)
    return ([_period_start(first + i, period) for i in range(size)],
            dict(zip(groups.keys, table.tolist(), strict=True)))


def _members(store: Store, index: TermIndex, facet: str, value: str) -> tuple[IntArray, str, str]:
    """A facet value's (or a narrative's) cases, its key and its label."""
    _check_grouping(facet)
    if facet == NARRATIVE:
        narrative = store.narratives.get(value)  # a merged one: the narrative it joined
        return store.narratives.member_pks(narrative.id), narrative.id, narrative.title
    if facet == THEME:
        theme = store.narratives.theme(value)
        return store.narratives.theme_member_pks(theme.id), theme.id, theme.label
    key = facet_of(facet).key(value)
    term_id = index.term_ids.get((facet, key))
    if term_id is None:
        return np.zeros(0, dtype=np.int64), key, value
    indptr, values = index.cases_of_term
    return values[indptr[term_id]:indptr[term_id + 1]], key, index.labels[term_id]


def count(store: Store, query: SearchQuery | None = None) -> int:
    """How many cases a query selects (dated or not)."""
    with _reading(store) as index:
        return len(_selected(store, index, query))


def top_values(store: Store, facet: str, query: SearchQuery | None = None, n: int = 10) -> list[TopValue]:
    """The `n` most frequent values of a facet (or narratives) among the selected cases;
    each value's share is of the selected cases."""
    with _reading(store) as index:
        selected = _selected(store, index, query)
        groups = _groups(store, index, facet)
    counts = np.bincount(_case_links(index, groups, selected)[1], minlength=groups.size)
    return [_value(groups, counts, g, len(selected)) for g in _best(groups, counts, n).tolist()]


def spans(store: Store, facet: str = NARRATIVE) -> dict[str, Span]:
    """First and last publication date (and dated cases) of every value of a facet, or of
    every narrative: key -> Span. Values without a dated case are left out."""
    with _reading(store) as index:
        groups = _groups(store, index, facet)
    days = index.published[groups.pks]
    dated = _known(days)
    group = groups.group_of_link()[dated]
    days = days[dated]
    first = np.full(groups.size, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(groups.size, -1, dtype=np.int64)
    np.minimum.at(first, group, days)
    np.maximum.at(last, group, days)
    counts = np.bincount(group, minlength=groups.size)
    return {groups.keys[g]: Span(groups.labels[g], int(counts[g]), date.fromordinal(int(first[g])),
                                 date.fromordinal(int(last[g])))
            for g in np.flatnonzero(counts).tolist()}


def first_seen(store: Store, facet: str, value: str) -> date | None:
    """The first publication date of a facet value's (or a narrative's) cases."""
    with _reading(store) as index:
        members, _, _ = _members(store, index, facet, value)
    days = _dated(index, members)
    return date.fromordinal(int(days.min())) if len(days) else None


STRAGGLER_GAP = 56  # days: cases published this long after all the others ...
STRAGGLER_SHARE = 0.01  # ... and this few of them do not move "now"


def data_end(days: IntArray) -> int:
    """ "Now" for the data (a date ordinal): the newest case's date, unless a few
    stragglers (<1% of cases) come after a gap of more than 8 weeks, e.g. a handful of
    cases added long after a scrape ended; then the date before the gap."""
    ordered = np.unique(days)
    counts = np.cumsum(np.bincount(np.searchsorted(ordered, days), minlength=len(ordered))[::-1])[::-1]
    end = len(ordered) - 1
    for gap in np.flatnonzero(np.diff(ordered) > STRAGGLER_GAP)[::-1].tolist():
        if counts[gap + 1] >= STRAGGLER_SHARE * len(days):
            break
        end = gap
    return int(ordered[end])


def emerging(store: Store, weeks: int = 12, baseline_weeks: int = 52, min_cases: int = 5,
             facet: str = NARRATIVE, as_of: date | None = None, min_growth: float = 2.0) -> Emerging:
    """The narratives (or facet values) that grow: at least `min_cases` cases in the last
    `weeks` weeks up to `as_of` (default: the newest case's date, as the data may end long
    ago; see `data_end`), at a rate at least `min_growth` times their rate in the `baseline_weeks` before,
    after allowing for the growth of the whole database in the same windows.

    growth = (recent + 1) / (expected + 1), expected = baseline * weeks / baseline_weeks:
    the +1 keeps a value seen once from outranking a steady one. `relative` divides it by
    the same ratio for all cases, so a busier period does not make everything emerge.
    Sorted by `relative`, highest first.
    """
    if weeks < 1 or baseline_weeks < 1:
        raise QuerySyntaxError("weeks and baseline_weeks must be 1 or more")
    with _reading(store) as index:
        groups = _groups(store, index, facet)
    all_days = _dated(index, index.case_pks)
    if not len(all_days):
        return Emerging(None, weeks, baseline_weeks, 1.0, [])
    end = as_of.toordinal() if as_of else data_end(all_days)
    cut, start = end - 7 * weeks, end - 7 * (weeks + baseline_weeks)
    scale = weeks / baseline_weeks

    def ratio(recent: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        return (recent + 1) / (baseline * scale + 1)

    days = index.published[groups.pks]
    group = groups.group_of_link()
    recent = np.bincount(group[(days > cut) & (days <= end)], minlength=groups.size)
    baseline = np.bincount(group[(days > start) & (days <= cut)], minlength=groups.size)
    volume = float(ratio(np.array(((all_days > cut) & (all_days <= end)).sum()),
                         np.array(((all_days > start) & (all_days <= cut)).sum())))
    growth = ratio(recent, baseline)
    relative = growth / volume
    dated = _known(days)
    first = np.full(groups.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, group[dated], days[dated])
    items = []
    for g in np.flatnonzero((recent >= min_cases) & (relative >= min_growth)).tolist():
        seen = date.fromordinal(int(first[g])) if first[g] != np.iinfo(np.int64).max else None
        items.append(Growth(groups.keys[g], groups.labels[g], int(recent[g]), int(baseline[g]),
                            round(float(baseline[g] * scale), 3), round(float(growth[g]), 3),
                            round(float(relative[g]), 3), seen, bool(first[g] > cut)))
    items.sort(key=lambda item: (-item.relative, -item.recent, item.value))
    return Emerging(date.fromordinal(end), weeks, baseline_weeks, round(volume, 3), items)


def cooccurrence(store: Store, rows: str = "keyword", cols: str = "country",
                 query: SearchQuery | None = None, n: int = 15, pairs: int = 25) -> Cooccurrence:
    """Which values of two facets (or narratives) appear in the same cases.

    The matrix crosses the `n` most frequent values of each among the selected cases;
    `pairs` lists the most frequent pairs over all values. Lift = P(a, b) / (P(a) P(b))
    among the selected cases: above 1 the two go together more often than chance.
    When both axes are the same facet, a value is not paired with itself (the matrix's
    diagonal holds each value's own count).
    """
    with _reading(store) as index:
        selected = _selected(store, index, query)
        row_groups = _groups(store, index, rows)
        col_groups = row_groups if cols == rows else _groups(store, index, cols)
    total = len(selected)
    row_case, row_group = _case_links(index, row_groups, selected)
    col_case, col_group = (row_case, row_group) if cols == rows else _case_links(index, col_groups, selected)
    row_counts = np.bincount(row_group, minlength=row_groups.size)
    col_counts = np.bincount(col_group, minlength=col_groups.size)
    row_ids, col_ids = _best(row_groups, row_counts, n), _best(col_groups, col_counts, n)
    # cases x values incidence matrices: their product counts the cases that carry both
    together = (_incidence(row_case, row_group, total, row_groups.size).T
                @ _incidence(col_case, col_group, total, col_groups.size)).tocsr()
    matrix = together[row_ids][:, col_ids].toarray().astype(np.int64)
    if rows == cols:  # a value is not paired with itself: the diagonal holds its own count
        same = row_ids[:, None] == col_ids[None, :]
        matrix[same] = np.broadcast_to(row_counts[row_ids][:, None], same.shape)[same]
    expected = np.outer(row_counts[row_ids], col_counts[col_ids]) / max(total, 1)
    lift = np.divide(matrix, expected, out=np.zeros(matrix.shape), where=expected > 0)
    found = together.tocoo()
    left, right, counts = found.row.astype(np.int64), found.col.astype(np.int64), found.data.astype(np.int64)
    if rows == cols:  # each unordered pair once
        keep = left < right
        left, right, counts = left[keep], right[keep], counts[keep]
    best = np.lexsort((left * col_groups.size + right, -counts))[:max(pairs, 0)]
    listed = [Pair(_value(row_groups, row_counts, r, total), _value(col_groups, col_counts, c, total), count,
                   round(count * total / (int(row_counts[r]) * int(col_counts[c])), 3))
              for r, c, count in zip(left[best].tolist(), right[best].tolist(), counts[best].tolist(), strict=True)]
    return Cooccurrence(
        rows_facet=rows, cols_facet=cols, total=total,
        rows=[_value(row_groups, row_counts, g, total) for g in row_ids.tolist()],
        cols=[_value(col_groups, col_counts, g, total) for g in col_ids.tolist()],
        counts=matrix.tolist(), lift=np.round(lift, 3).tolist(), pairs=listed)


def _value(groups: _Groups, counts: IntArray, group: int, total: int) -> TopValue:
    return TopValue(groups.keys[group], groups.labels[group], int(counts[group]), int(counts[group]) / max(total, 1))


def _best(groups: _Groups, counts: IntArray, n: int) -> IntArray:
    """The n groups with the most cases (ties: by key), as group numbers."""
    present = np.flatnonzero(counts)
    order = sorted(present.tolist(), key=lambda g: (-int(counts[g]), groups.keys[g]))[:max(n, 0)]
    return np.array(order, dtype=np.int64)


def _case_links(index: TermIndex, groups: _Groups, selected: IntArray) -> tuple[IntArray, IntArray]:
    """(position in `selected`, group) of every value the selected cases carry, by position."""
    if groups.term_ids is not None:
        lookup = np.full(len(index.term_facet), -1, dtype=np.int64)
        lookup[groups.term_ids] = np.arange(groups.size)
        indptr, terms = index.terms_of_case
        lengths = indptr[selected + 1] - indptr[selected]
        case = np.repeat(np.arange(len(selected), dtype=np.int64), lengths)
        group = lookup[_gather(indptr, terms, selected)]
    else:
        of_pk = np.full(len(index.published), -1, dtype=np.int64)
        of_pk[groups.pks] = groups.group_of_link()
        case, group = np.arange(len(selected), dtype=np.int64), of_pk[selected]
    keep = group >= 0
    return case[keep], group[keep]


def _incidence(case: IntArray, group: IntArray, cases: int, groups: int) -> sparse.csr_matrix:
    """cases x groups: 1 where a selected case (by position) carries a group's value."""
    return sparse.csr_matrix((np.ones(len(case), dtype=np.int64), (case, group)), shape=(cases, groups))


def pmi(lift: float) -> float | None:
    """Pointwise mutual information (bits) of a lift; None for pairs never seen together."""
    return math.log2(lift) if lift > 0 else None
