"""Weekly review digests: the cases one issue of the Disinformation Review reported.

A `Digest` holds the cases of one review issue (the `issue` field of a case), grouped so
a reader sees storylines rather than a flat list:

1. cases in a narrative (`NarrativeBook`) are grouped by it, when the issue has at least
   2 of its cases (a lone case of a narrative is no group; its narrative is still shown);
2. the others are grouped by keyword, greedily: the keyword most common among the
   still-ungrouped cases of the issue takes every such case carrying it, then the next
   (keywords compared case- and accent-insensitively; a keyword needs 2 cases);
3. what is left is "Other cases".

Groups are ordered by size (narratives before keywords on ties; "Other cases" last), the
cases of a group by date. Each group's heading says which kind it is.

Renderers: `to_markdown`, `to_html` (one standalone page: inline CSS, no external
resources, everything escaped by Jinja2's autoescape) and `atom_feed` (Atom 1.0 built
with xml.etree, one entry per issue, newest first). Everything credits EUvsDisinfo, the
source of the cases.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from slugify import slugify

from disinfodb import __version__
from disinfodb.cases import Case, web_url
from disinfodb.errors import NarrativeNotFound, ReviewNotFound
from disinfodb.markup import URL, linkify
from disinfodb.narratives import Narrative
from disinfodb.search import SearchQuery
from disinfodb.store import SQLStore
from disinfodb.vocab import fold, language_name

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
FEED_ENTRIES = 10
TOP = 5  # countries and languages listed in a digest's overview
MIN_GROUP = 2  # a narrative or keyword needs this many cases of the issue to make a group
NEAREST_SHOWN = 3
CREDIT = "Cases from the EUvsDisinfo database (East StratCom Task Force)"
CREDIT_URL = "https://euvsdisinfo.eu"
ATOM_NS = "http://www.w3.org/2005/Atom"
TEMPLATES = Path(__file__).resolve().parent / "templates"

GroupKind = Literal["narrative", "keyword", "other"]
_KIND_LABELS = {"narrative": "Narrative", "keyword": "Keyword", "other": "Other cases"}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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
            return max(_utc(s) for s in stamps)
        return _utc(datetime.combine(self.last or date(1970, 1, 1), time()))

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
            text += " Most discussed: " + _counted(self.top_countries) + "."
        if self.languages:
            text += " Languages: " + _counted(self.top_languages) + "."
        return text


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def period(first: date | None, last: date | None) -> str:
    """'15 Sep – 3 Oct 2017', '15–29 Sep 2017', '3 Oct 2017', or 'date unknown'."""
    if first is None or last is None:
        return "date unknown"
    if first == last:
        return _day(last)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{_day(last)}"
    if first.year == last.year:
        return f"{first.day} {first.strftime('%b')} – {_day(last)}"
    return f"{_day(first)} – {_day(last)}"


def _day(value: date) -> str:
    return f"{value.day} {value.strftime('%b %Y')}"


def _counted(pairs: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{name} ({n})" for name, n in pairs)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def review_issues(store: SQLStore) -> list[IssueInfo]:
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


def build_digest(store: SQLStore, issue: int) -> Digest:
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


def group_cases(store: SQLStore, cases: Sequence[Case]) -> tuple[list[Group], dict[str, str]]:
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
    groups = [Group("narrative", nid, names[nid], tuple(_by_date(members)))
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


# -- links --------------------------------------------------------------------------------


def clean_base_url(base_url: str) -> str:
    """An absolute http(s) base URL without a trailing slash ("" for links relative to a site)."""
    base = base_url.strip().rstrip("/")
    if base and urlsplit(base).scheme not in ("http", "https"):
        raise ValueError(f"base URL {base_url!r} must start with http:// or https://")
    return base


def case_link(base_url: str, case_id: str) -> str:
    return f"{base_url}/cases/{quote(case_id, safe='')}"


def review_link(base_url: str, issue: int, suffix: str = "") -> str:
    return f"{base_url}/review/{issue}{suffix}"


def paragraphs(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def template_context(digest: Digest, base_url: str) -> dict[str, object]:
    """What the digest templates (review_digest.html and its wrappers) need."""
    base = clean_base_url(base_url)
    return {"digest": digest, "base_url": base, "case_link": lambda case_id: case_link(base, case_id),
            "linkify": linkify, "paragraphs": paragraphs, "language_name": language_name,
            "plural": plural, "credit": CREDIT, "credit_url": CREDIT_URL, "version": __version__}


# -- Markdown -----------------------------------------------------------------------------

_MD_INLINE = re.compile(r"([\\`*_\[\]<>~])")
_MD_LINE_START = re.compile(r"^(#|[-+=](?=\s|$)|\d+(?=[.)])|[-=]+\s*$)")


def md_escape(text: str) -> str:
    """Markdown-escape text: no emphasis, link, HTML, list or heading can come from data.

    Web addresses become <autolinks> (escaping inside them would change the address)."""
    collapsed = " ".join(text.split())
    parts, at = [], 0
    for found in URL.finditer(collapsed):
        url = found.group(0).rstrip(".,;:!?)]")
        parts.append(_md_plain(collapsed[at:found.start()], at == 0))
        parts.append(f"<{url}>")
        at = found.start() + len(url)
    parts.append(_md_plain(collapsed[at:], at == 0))
    return "".join(parts)


def _md_plain(text: str, line_start: bool) -> str:
    escaped = _MD_INLINE.sub(r"\\\1", text)
    match = _MD_LINE_START.match(escaped) if line_start else None
    if match is None:
        return escaped
    if match.group(0)[:1].isdigit():
        return escaped[:match.end()] + "\\" + escaped[match.end():]
    return "\\" + escaped


def _md_link(label: str, url: str) -> str:
    target = url.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20").replace("\n", "")
    return f"[{md_escape(label)}](<{target}>)"


def _md_meta(case: Case) -> list[str]:
    parts = [_day(case.published)] if case.published else []
    if case.languages:
        parts.append(", ".join(language_name(code) for code in case.languages))
    if case.countries:
        parts.append("about " + ", ".join(case.countries))
    return [md_escape(p) for p in parts]


def to_markdown(digest: Digest, base_url: str = DEFAULT_BASE_URL) -> str:
    """The digest as Markdown: overview, then each group's cases with summary and disproof."""
    base = clean_base_url(base_url)
    lines = [f"# {md_escape(digest.title)}", "", md_escape(digest.lead), ""]
    if digest.countries:
        lines += ["**Top countries and regions:** " + md_escape(_counted(digest.top_countries)) + "  "]
    if digest.languages:
        lines += ["**Top languages:** " + md_escape(_counted(digest.top_languages))]
    lines += ["", "## In this issue", ""]
    lines += [f"- {md_escape(g.heading)} ({plural(len(g.cases), 'case')})" for g in digest.groups]
    for group in digest.groups:
        lines += ["", f"## {md_escape(group.heading)} ({plural(len(group.cases), 'case')})"]
        for case in group.cases:
            lines += ["", f"### {md_escape(case.title)}", ""]
            meta = _md_meta(case)
            outlets = [_md_link(o.name or url, url) if (url := web_url(o.url)) else md_escape(o.name or o.url or "")
                       for o in case.outlets]
            if outlets:
                meta.append("in " + ", ".join(outlets))
            note = digest.narrative_note(case, group)
            if note:
                meta.append("narrative: " + md_escape(note))
            lines.append(" · ".join([*meta, _md_link("Read the case", case_link(base, case.id))]))
            if case_url := web_url(case.url):
                lines[-1] += " · " + _md_link("EUvsDisinfo", case_url)
            for label, text in (("Summary", case.summary), ("Disproof", case.disproof)):
                paras = paragraphs(text)
                if paras:
                    lines += ["", f"**{label}:** {md_escape(paras[0])}"]
                    lines += [item for para in paras[1:] for item in ("", md_escape(para))]
    lines += ["", "---", "", f"{CREDIT}, <{CREDIT_URL}>. This digest: <{review_link(base, digest.issue)}>"
                             f" (disinfodb {__version__}).", ""]
    return "\n".join(lines)


# -- standalone HTML ----------------------------------------------------------------------

_ENV = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters["web_url"] = web_url


def to_html(digest: Digest, base_url: str = DEFAULT_BASE_URL) -> str:
    """The digest as one standalone HTML page: inline CSS, no scripts or external resources."""
    return _ENV.get_template("review_standalone.html").render(template_context(digest, base_url))


# -- Atom ---------------------------------------------------------------------------------


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("", text)


def _rfc3339(value: datetime) -> str:
    return _utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _xml_text(text)
    return element


def summary_html(digest: Digest, base_url: str) -> str:
    """The digest's overview as an HTML fragment (escaped): what a feed entry shows."""
    base = clean_base_url(base_url)
    items = Markup("").join(
        Markup('<li><a href="{}#{}">{}</a> ({})</li>').format(review_link(base, digest.issue), g.anchor, g.heading,
                                                            plural(len(g.cases), "case"))
        for g in digest.groups)
    return str(Markup('<p>{}</p><ul>{}</ul><p>{}, <a href="{}">{}</a>.</p>').format(
        digest.summary, items, CREDIT, CREDIT_URL, CREDIT_URL))


def atom_feed(store: SQLStore, issues: int | Sequence[int] = FEED_ENTRIES, base_url: str = DEFAULT_BASE_URL,
              up_to: int | None = None) -> str:
    """An Atom 1.0 feed with one entry per review issue, newest first.

    `issues`: how many of the latest issues (those up to `up_to`, if given), or which ones.
    """
    base = clean_base_url(base_url)
    if not base:
        raise ValueError("a feed needs an absolute base URL")
    known = review_issues(store)
    if up_to is not None and up_to not in {i.issue for i in known}:
        raise not_found(up_to, known)
    if isinstance(issues, int):
        chosen = [i.issue for i in known if up_to is None or i.issue <= up_to][:max(issues, 0)]
    else:
        chosen = sorted(set(issues), reverse=True)
    digests = [build_digest(store, issue) for issue in chosen]

    # Unqualified names under an xmlns attribute: the Atom namespace is the default one.
    feed = ET.Element("feed", xmlns=ATOM_NS)
    _sub(feed, "id", f"{base}/feed.xml")
    _sub(feed, "title", "Disinformation Review digests")
    _sub(feed, "subtitle", "The cases each weekly review issue reported, grouped by narrative.")
    updated = max((d.updated for d in digests), default=datetime.now(UTC))
    _sub(feed, "updated", _rfc3339(updated))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=f"{base}/feed.xml")
    _sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/review")
    author = _sub(feed, "author")
    _sub(author, "name", "disinfodb")
    _sub(feed, "rights", f"{CREDIT}, {CREDIT_URL}")
    _sub(feed, "generator", "disinfodb", version=__version__)
    for digest in digests:
        entry = _sub(feed, "entry")
        _sub(entry, "id", review_link(base, digest.issue))
        _sub(entry, "title", f"{digest.title}: {plural(len(digest.cases), 'case')}, {digest.period}")
        _sub(entry, "updated", _rfc3339(digest.updated))
        if digest.last:
            _sub(entry, "published", _rfc3339(datetime.combine(digest.last, time(), UTC)))
        _sub(entry, "link", rel="alternate", type="text/html", href=review_link(base, digest.issue))
        _sub(entry, "link", rel="alternate", type="text/markdown", href=review_link(base, digest.issue, ".md"))
        _sub(entry, "summary", digest.summary, type="text")
        _sub(entry, "content", summary_html(digest, base), type="html")
        for name, _n in digest.top_countries:
            _sub(entry, "category", term=name)
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"
