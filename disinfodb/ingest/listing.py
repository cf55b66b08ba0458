"""Reader for the listing text format of the public database (the seed file).

A case is a line `Disinfo: <title>`, an optional `Summary` section, a `Disproof` section,
an optional `publication/media` block of bullet lines and an optional `see more` line.
Exports without a Summary heading put the claim paragraphs straight after the title.
Anything else is reported with its line number rather than guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from disinfodb.errors import Location, Problem
from disinfodb.ingest.base import Record, build_record, parse_date, split_list, urls_in

_TITLE = re.compile(r"^\s*Disinfo:\s*(?P<title>.*)$", re.IGNORECASE)
_HEADINGS = {"summary": "summary", "disproof": "disproof", "publication/media": "meta"}
_BULLET = re.compile(r"^\s*[•*\-–]\s*(?P<item>.+)$")
_LABEL_END = re.compile(r":(?!//)")
_DATE_FORMATS = ("%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d")

# Metadata keys as they appear in exports, matched by prefix, and the field each fills.
_META_KEYS = (
    ("reported in", "issue"),
    ("date of publication", "published"),
    ("article language", "languages"),
    ("language", "languages"),
    ("countries and/or regions", "countries"),
    ("countries", "countries"),
    ("country", "countries"),
    ("keywords", "keywords"),
    ("keyword", "keywords"),
    ("outlets", "outlets"),
    ("outlet", "outlets"),
)


@dataclass
class _Draft:
    """A case being read: its lines per section and the metadata found so far."""

    line: int
    title: str
    section: str = "summary"
    sections: dict[str, list[str]] = field(default_factory=lambda: {"summary": [], "disproof": []})
    seen_disproof: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_listing(stream: TextIO, source: str) -> Iterator[Record]:
    """Yield one Record per `Disinfo:` block of the stream."""
    draft: _Draft | None = None
    for number, raw in enumerate(stream, start=1):
        line = raw.rstrip("\n").replace("\ufeff", "")
        title = _TITLE.match(line)
        if title:
            if draft is not None:
                yield _finish(draft, source)
            draft = _Draft(line=number, title=title.group("title"))
            continue
        if not line.strip():
            if draft is not None and draft.section in draft.sections:
                draft.sections[draft.section].append("")
            continue
        if draft is None:
            yield Record(source, number, problems=[Problem(
                Location(source, number), "text before the first 'Disinfo: <title>' line")])
            continue
        _read_line(draft, line, number, source)
    if draft is not None:
        yield _finish(draft, source)


def _read_line(draft: _Draft, line: str, number: int, source: str) -> None:
    """Put one non-blank line of a case where it belongs."""
    heading = line.strip().casefold()
    if heading in _HEADINGS:
        draft.section = _HEADINGS[heading]
        draft.seen_disproof |= draft.section == "disproof"
        return
    if heading == "see more":
        draft.section = "done"
        return
    if draft.section == "meta":
        _read_meta(draft, line, number, source)
    elif draft.section == "done":
        draft.problems.append(Problem(Location(source, number), "text after 'see more'"))
    else:
        draft.sections[draft.section].append(line)


def _read_meta(draft: _Draft, line: str, number: int, source: str) -> None:
    """Read a `• Key: value` bullet of the publication/media block."""
    bullet = _BULLET.match(line)
    item = bullet.group("item").strip() if bullet else line.strip()
    lowered = item.casefold()
    for key, field_name in _META_KEYS:
        if lowered.startswith(key):
            # The rest of the label, then ':' (not the one of 'https://'), or no colon at all.
            parts = _LABEL_END.split(item[len(key):], maxsplit=1)
            value = re.sub(r"^\(s\)", "", parts[-1].strip()).strip()
            try:
                draft.data[field_name] = _meta_value(field_name, value)
            except ValueError as error:
                draft.problems.append(Problem(Location(source, number, field_name), str(error)))
            return
    draft.problems.append(Problem(Location(source, number), f"unknown metadata line {item!r}"))


def _meta_value(field_name: str, value: str) -> Any:
    """Convert the text of one metadata bullet to the field's value."""
    if field_name == "issue":
        digits = re.search(r"\d+", value)
        if not digits:
            raise ValueError(f"{value!r} names no issue number")
        return int(digits.group())
    if field_name == "published":
        return parse_date(value, _DATE_FORMATS)
    if field_name == "outlets":
        return [{"url": part} if part.startswith("http") else {"name": part}
                for part in split_list(value, ",")]
    return split_list(value, ",")


def _finish(draft: _Draft, source: str) -> Record:
    """Turn a finished draft into a Record, checking the structure the format requires."""
    if not draft.seen_disproof:
        draft.problems.append(Problem(Location(source, draft.line, "disproof"),
                                      "case has no 'Disproof' section"))
    if draft.problems:
        return Record(source, draft.line, problems=draft.problems)
    disproof = "\n".join(draft.sections["disproof"])
    data = {
        "title": draft.title,
        "summary": "\n".join(draft.sections["summary"]),
        "disproof": disproof,
        "links": urls_in(disproof),
        **draft.data,
    }
    return build_record(source, draft.line, data)
