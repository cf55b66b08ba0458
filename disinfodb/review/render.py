"""The digest as Markdown, as one standalone HTML page (inline CSS, no external resource,
everything escaped by Jinja2's autoescape) and as an Atom 1.0 feed (xml.etree, one entry
per issue, newest first). Everything credits EUvsDisinfo, the source of the cases.
Absolute links start at a base URL the caller configures, never at a request's Host."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime, time
from pathlib import Path
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from disinfodb import __version__
from disinfodb.cases import Case, web_url
from disinfodb.markup import URL, linkify
from disinfodb.review.digest import (
    Digest,
    as_utc,
    build_digest,
    counted_text,
    day_text,
    not_found,
    plural,
    review_issues,
)
from disinfodb.store import Store
from disinfodb.vocab import language_name

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
FEED_ENTRIES = 10
CREDIT = "Cases from the EUvsDisinfo database (East StratCom Task Force)"
CREDIT_URL = "https://euvsdisinfo.eu"
ATOM_NS = "http://www.w3.org/2005/Atom"
TEMPLATES = Path(__file__).resolve().parent / "templates"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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
    parts = [day_text(case.published)] if case.published else []
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
        lines += ["**Top countries and regions:** " + md_escape(counted_text(digest.top_countries)) + "  "]
    if digest.languages:
        lines += ["**Top languages:** " + md_escape(counted_text(digest.top_languages))]
    lines += ["", "## In this issue", ""]
    lines += [f"- {md_escape(g.heading)} ({plural(len(g.cases), 'case')})" for g in digest.groups]
    for group in digest.groups:
        lines += ["", f"## {md_escape(group.heading)} ({plural(len(group.cases), 'case')})"]
        if group.theme:
            lines += ["", f"Theme: {md_escape(group.theme)}"]
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
    return as_utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")


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


def atom_feed(store: Store, issues: int | Sequence[int] = FEED_ENTRIES, base_url: str = DEFAULT_BASE_URL,
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
