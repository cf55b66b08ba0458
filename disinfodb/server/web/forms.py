"""The case editor's form, and the highlighting of matched sentences in a checked text.

The form keeps what the editor typed as strings, so a page with validation errors shows
their input back unchanged, with each message beside its field.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from gettext import NullTranslations
from typing import Any

from pydantic import ValidationError

from disinfodb.cases import Case
from disinfodb.documents import locate
from disinfodb.matching import Label, Match
from disinfodb.vocab import language_name

_LIST_FIELDS = ("languages", "countries", "keywords")


@dataclass
class CaseForm:
    title: str = ""
    summary: str = ""
    disproof: str = ""
    published: str = ""
    issue: str = ""
    languages: str = ""
    countries: str = ""
    keywords: str = ""
    outlets: str = ""  # one per line: name | URL | archived URL | date
    links: str = ""  # one per line
    url: str = ""
    version: int | None = None
    csrf: str = ""

    @classmethod
    def from_form(cls, data: dict[str, str]) -> CaseForm:
        values: dict[str, Any] = {f.name: data.get(f.name, "") for f in fields(cls) if f.name != "version"}
        version = data.get("version", "")
        return cls(**values, version=int(version) if version.isdigit() else None)

    @classmethod
    def of(cls, case: Case) -> CaseForm:
        outlets = "\n".join(" | ".join(p or "" for p in (o.name, o.url, o.archive_url,
                                                           o.published and o.published.isoformat())).rstrip(" |")
                            for o in case.outlets)
        return cls(title=case.title, summary=case.summary, disproof=case.disproof,
                   published=case.published.isoformat() if case.published else "",
                   issue="" if case.issue is None else str(case.issue),
                   languages=", ".join(language_name(code) for code in case.languages),
                   countries=", ".join(case.countries),
                   keywords=", ".join(case.keywords), outlets=outlets, links="\n".join(case.links),
                   url=case.url or "", version=case.version)

    def to_case(self, base: Case | None = None) -> Case:
        """The case the form describes (raises pydantic's ValidationError, located by field).

        Fields the form does not show (related cases, narratives, who reported it) are
        kept from `base`, the case being edited."""
        data: dict[str, Any] = base.content() if base else {}
        data.update({
            "title": self.title, "summary": self.summary, "disproof": self.disproof,
            "published": self.published.strip() or None, "issue": self.issue.strip() or None,
            "url": self.url.strip() or None, "links": _lines(self.links),
            "outlets": [_outlet(line) for line in _lines(self.outlets)],
        })
        for name in _LIST_FIELDS:
            data[name] = [v.strip() for v in getattr(self, name).split(",") if v.strip()]
        return Case.model_validate(data)

    @staticmethod
    def errors_of(error: ValidationError, tr: NullTranslations) -> dict[str, str]:
        """Field name -> the first message about it (the rule's own words stay English:
        they name the rule, as the API and the CLI do)."""
        messages: dict[str, str] = {}
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "title"
            at = item["loc"][1] if len(item["loc"]) > 1 else None
            line = tr.gettext(" (line %(line)s)") % {"line": at + 1} if isinstance(at, int) else ""
            messages.setdefault(name, item["msg"].removeprefix("Value error, ") + line)
        return messages


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _outlet(line: str) -> dict[str, str]:
    parts = [p.strip() for p in line.split("|")]
    if len(parts) == 1 and parts[0].startswith(("http://", "https://")):
        return {"url": parts[0]}
    keys = ("name", "url", "archive_url", "published")
    return {k: v for k, v in zip(keys, parts, strict=False) if v}


@dataclass(frozen=True)
class Segment:
    """A piece of the checked text; `match` is the 1-based number of the case it matched."""

    text: str
    match: int | None = None
    label: str = ""


def highlighted(text: str, matches: list[Match]) -> list[Segment]:
    """The text cut into segments, with each match's evidence sentence marked (the best
    match wins where two cases matched the same sentence)."""
    spans: list[tuple[int, int, int, str]] = []
    for number, found in enumerate(matches, start=1):
        if found.label is Label.NONE:
            continue
        for evidence in found.evidence:
            hit = locate(evidence.input_sentence, text)
            if hit and all(hit[1] <= s or hit[0] >= e for s, e, _, _ in spans):
                spans.append((hit[0], hit[1], number, found.label))
    segments, at = [], 0
    for start, end, number, label in sorted(spans):
        if start > at:
            segments.append(Segment(text[at:start]))
        segments.append(Segment(text[start:end], number, label))
        at = end
    if at < len(text):
        segments.append(Segment(text[at:]))
    return segments
