"""Weekly review digests: the cases one issue of the Disinformation Review reported.

A `Digest` holds the cases of one review issue (the `issue` field of a case), grouped so
a reader sees storylines rather than a flat list:

1. cases in a narrative (`NarrativeBook`) are grouped by it, when the issue has at least
   2 of its cases (a lone case of a narrative is no group; its narrative is still shown);
   the group names the narrative's theme, the level above;
2. the others are grouped by keyword, greedily: the keyword most common among the
   still-ungrouped cases of the issue takes every such case carrying it, then the next
   (keywords compared case- and accent-insensitively; a keyword needs 2 cases);
3. what is left is "Other cases".

Groups are ordered by size (narratives before keywords on ties; "Other cases" last), the
cases of a group by date. Each group's heading says which kind it is.

The renderers are `disinfodb.review.render`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Literal

from slugify import slugify

from disinfodb.cases import Case
from disinfodb.errors import NarrativeNotFound, ReviewNotFound
from disinfodb.narratives import Narrative
from disinfodb.search import SearchQuery
from disinfodb.store import Store
from disinfodb.vocab import fold, language_name

TOP = 5  # countries and languages listed in a digest's overview
MIN_GROUP = 2  # a narrative or keyword needs this many cases of the issue to make a group
NEAREST_SHOWN = 3

GroupKind = Literal["narrative", "keyword", "other"]
_KIND_LABELS = {"narrative": "Narrative", "keyword": "Keyword", "other": "Other cases"}


# -- the digest ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueInfo:
    """One review issue: how many cases it reported and their publication dates."""

    issue: int
    cases: int
    first: date | None
    last: date | None

    @property
    def period(self) -> str:
        return period(self.first, self.last)


@dataclass(frozen=True)
class Group:
    """Cases of an issue that share a narrative, a keyword, or neither ("Other cases")."""

    kind: GroupKind
    key: str  # the narrative id, the folded keyword, or "" for other cases
    name: str  # the narrative's title or the keyword as written; "" for other cases
    cases: tuple[Case, ...]
    theme: str = ""  # a narrative group: its theme's label ("" if it has none)

    @property
    def heading(self) -> str:
        """Says which kind of group it is: 'Narrative: ...', 'Keyword: ...', 'Other cases'."""
        return f"{_KIND_LABELS[self.kind]}: {self.name}" if self.name else _KIND_LABELS[self.kind]

    @property
    def kind_label(self) -> str:
        return _KIND_LABELS[self.kind]

    @property
    def anchor(self) -> str:
        """A fragment id for links within a digest page."""
        if self.kind == "other":
            return "other-cases"
        slug = slugify(self.key, max_length=60) or hashlib.sha1(self.key.encode()).hexdigest()[:10]
        return f"{self.kind}-{slug}"


@dataclass(frozen=True)
class Digest:
    """The cases one review issue reported, grouped, with its counts."""

    issue: int
    cases: tuple[Case, ...]
    groups: tuple[Group, ...]
    first: date | None  # the issue's period: its cases' first and last publication dates
    last: date | None
    countries: tuple[tuple[str, int], ...]  # all, most discussed first
    languages: tuple[tuple[str, int], ...]  # (ISO code, cases), most used first
    narratives: Mapping[str, str] = field(default_factory=dict)  # case id -> its narrative's title

    def narrative_note(self, case: Case, group: Group) -> str | None:
        """The case's narrative, where its group does not already say it."""
        return None if group.kind == "narrative" else self.narratives.get(case.id)

    @property
    def title(self) -> str:
        return f"Disinformation Review {self.issue}"

    @property
    def period(self) -> str:
        return period(self.first, self.last)

    @property
    def top_countries(self) -> tuple[tuple[str, int], ...]:
        return self.countries[:TOP]

    @property
    def top_languages(self) -> tuple[tuple[str, int], ...]:
        """(language name, cases) of the most used languages."""
        return tuple((language_name(code), n) for code, n in self.languages[:TOP])

    @property
    def updated(self) -> datetime:
        """When a case of the issue last changed (else the end of its period)."""
        stamps = [c.updated_at for c in self.cases if c.updated_at is not None]
        if stamps:
            return max(as_utc(s) for s in stamps)
        return as_utc(datetime.combine(self.last or date(1970, 1, 1), time()))

    def count(self, kind: GroupKind) -> int:
        return sum(1 for g in self.groups if g.kind == kind)

    @property
    def lead(self) -> str:
        """One sentence: how many cases, when, in how many languages, about how many places."""
        return (f"{plural(len(self.cases), 'case')} published {self.period}, in "
                f"{plural(len(self.languages), 'language')}, about "
                f"{plural(len(self.countries), 'country or region', 'countries and regions')}.")

    @property
    def summary(self) -> str:
        """The lead with the most discussed countries and the languages: a feed entry's summary."""
        text = self.lead
        if self.countries:
            text += " Most discussed: " + counted_text(self.top_countries) + "."
        if self.languages:
            text += " Languages: " + counted_text(self.top_languages) + "."
        return text


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def period(first: date | None, last: date | None) -> str:
    """'15 Sep – 3 Oct 2017', '15–29 Sep 2017', '3 Oct 2017', or 'date unknown'."""
    if first is None or last is None:
        return "date unknown"
    if first == last:
        return day_text(last)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{day_text(last)}"
    if first.year == last.year:
        return f"{first.day} {first.strftime('%b')} – {day_text(last)}"
    return f"{day_text(first)} – {day_text(last)}"


def day_text(value: date) -> str:
    return f"{value.day} {value.strftime('%b %Y')}"


def counted_text(pairs: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{name} ({n})" for name, n in pairs)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def review_issues(store: Store) -> list[IssueInfo]:
    """Every review issue that has cases, newest (highest number) first."""
    return [IssueInfo(*row) for row in store.review_issues()]


def not_found(issue: int, known: Sequence[IssueInfo]) -> ReviewNotFound:
    """The error for an issue without cases, naming the nearest issues that have some."""
    if not known:
        return ReviewNotFound(f"no cases are reported in review issue {issue}: no case in this database"
                              " names a review issue")
    nearest = sorted(sorted(known, key=lambda i: (abs(i.issue - issue), i.issue))[:NEAREST_SHOWN],
                     key=lambda i: i.issue)
    listed = ", ".join(f"{i.issue} ({plural(i.cases, 'case')})" for i in nearest)
    return ReviewNotFound(f"no cases are reported in review issue {issue}; the nearest issues with cases are"
                          f" {listed} (issues {known[-1].issue}..{known[0].issue} exist)")


def build_digest(store: Store, issue: int) -> Digest:
    """The digest of one review issue; ReviewNotFound when no case names that issue."""
    cases = list(store.iter_cases(SearchQuery(issues=(issue,)))) if issue >= 1 else []
    if not cases:
        raise not_found(issue, review_issues(store))
    groups, narratives = group_cases(store, cases)
    dates = sorted(c.published for c in cases if c.published)
    return Digest(issue=issue, cases=tuple(_by_date(cases)), groups=tuple(groups),
                  first=dates[0] if dates else None, last=dates[-1] if dates else None,
                  countries=_tally(v for c in cases for v in c.countries),
                  languages=_tally(v for c in cases for v in c.languages), narratives=narratives)


def group_cases(store: Store, cases: Sequence[Case]) -> tuple[list[Group], dict[str, str]]:
    """Narrative groups, then keyword groups for the rest, then "Other cases" (see the module
    doc); and case id -> narrative title for the cases in a narrative."""
    book = store.narratives
    narrative_of = book.of_cases(c.id for c in cases)
    resolved: dict[str, Narrative | None] = {}
    by_narrative: dict[str, list[Case]] = {}
    rest: list[Case] = []
    for case in cases:
        nid = narrative_of.get(case.id)
        if nid is not None and nid not in resolved:
            try:
                resolved[nid] = book.get(nid)  # a merged narrative resolves to the one it joined
            except NarrativeNotFound:
                resolved[nid] = None
        narrative = resolved.get(nid) if nid is not None else None
        if narrative is None:
            rest.append(case)
        else:
            by_narrative.setdefault(narrative.id, []).append(case)
    names = {n.id: n.title for n in resolved.values() if n is not None}
    themes = {t.id: t.label for t in book.themes(include_retired=True)}
    theme_of = {n.id: themes.get(n.theme or "", "") for n in resolved.values() if n is not None}
    groups = [Group("narrative", nid, names[nid], tuple(_by_date(members)), theme_of[nid])
              for nid, members in by_narrative.items() if len(members) >= MIN_GROUP]
    rest += [c for members in by_narrative.values() if len(members) < MIN_GROUP for c in members]
    groups += _keyword_groups(_by_date(rest))
    grouped = {c.id for g in groups for c in g.cases}
    others = [c for c in rest if c.id not in grouped]
    groups.sort(key=lambda g: (-len(g.cases), g.kind != "narrative", g.name.casefold(), g.key))
    if others:
        groups.append(Group("other", "", "", tuple(_by_date(others))))
    narrative_titles = {case_id: names[nid] for nid, members in by_narrative.items() for case_id in
                        (c.id for c in members)}
    return groups, narrative_titles


def _keyword_groups(cases: Sequence[Case]) -> list[Group]:
    """Greedy: the keyword most common among the ungrouped cases takes all of them that carry it."""
    keys = {c.id: {fold(k) for k in c.keywords if fold(k)} for c in cases}
    spellings: dict[str, Counter[str]] = {}
    for case in cases:
        for keyword in case.keywords:
            spellings.setdefault(fold(keyword), Counter())[keyword] += 1
    ungrouped = list(cases)
    groups: list[Group] = []
    while ungrouped:
        counts = Counter(k for c in ungrouped for k in keys[c.id])
        if not counts:
            break
        key, n = min(counts.items(), key=lambda item: (-item[1], item[0]))
        if n < MIN_GROUP:
            break
        members = [c for c in ungrouped if key in keys[c.id]]
        ungrouped = [c for c in ungrouped if key not in keys[c.id]]
        label = spellings[key].most_common(1)[0][0]
        groups.append(Group("keyword", key, label, tuple(_by_date(members))))
    return groups


def _by_date(cases: Sequence[Case]) -> list[Case]:
    return sorted(cases, key=lambda c: (c.published or date.max, c.title.casefold(), c.id))


def _tally(values: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """(label, count), most common first; values compared case- and accent-insensitively."""
    counts: Counter[str] = Counter()
    labels: dict[str, str] = {}
    for value in values:
        key = fold(value)
        if key:
            labels.setdefault(key, value)
            counts[key] += 1
    return tuple((labels[k], n) for k, n in sorted(counts.items(), key=lambda item: (-item[1], labels[item[0]])))
