"""What every reader of collected material yields: Documents, each with the text to match
and what the source says of it, and the located problems of what it had to skip.

A reader never stops at a bad part of its input (a page without text, a broken cue, an
export cut short): it reports the part to `skipped` with where it is and why, and goes on.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from disinfodb.errors import Location, Problem


@dataclass(frozen=True)
class Segment:
    """A part of a document's text: where it starts in the text, and where it is in the
    source (a subtitle cue's start time "00:01:02", a PDF's "page 3")."""

    start: int
    at: str


@dataclass(frozen=True)
class Document:
    """One text to match, with what its source says of it. `date` is ISO 8601 (a date, or
    a date and time); `source` the file it came from; `meta` what only some formats have
    (site name, channel, forwarded from, ...); `spoken` marks a transcript, whose sentences
    are matched with the ones said before them (matching.transcript); `position` is its
    place in a file of many (the message or item number, from 1; 0 for a file that is
    one document), where a reader can start again (`Reader`'s start_at)."""

    id: str
    text: str
    lang: str | None = None
    date: str | None = None
    title: str | None = None
    url: str | None = None
    source: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    segments: tuple[Segment, ...] = ()
    spoken: bool = False
    position: int = 0

    def at(self, sentence: str) -> str | None:
        """Where in the source a sentence of the text is: the segment it starts in (None
        when the document has no segments or the sentence is not in its text)."""
        if not self.segments:
            return None
        found = locate(sentence, self.text)
        if found is None:
            return None
        index = bisect_right([segment.start for segment in self.segments], found[0]) - 1
        return self.segments[index].at if index >= 0 else None


PART_BREAK = "\n\n"


def joined(name: str, parts: list[Document]) -> Document:
    """The documents of one file (a feed's items, an export's messages) as one text to check
    together, where each part stays locatable: `at` is the part's own segment where it has
    one (a cue, a page), else the part's id ("feed.xml#3")."""
    if len(parts) == 1:
        return parts[0]
    segments, start = [], 0
    for part in parts:
        segments.append(Segment(start, part.id))
        segments.extend(Segment(start + segment.start, segment.at) for segment in part.segments)
        start += len(part.text) + len(PART_BREAK)
    return Document(name, PART_BREAK.join(part.text for part in parts), source=name, segments=tuple(segments))


def locate(sentence: str, text: str) -> tuple[int, int] | None:
    """Where a sentence is in a text, its whitespace matched loosely (the matcher sees
    sentences with their whitespace normalised): (start, end), or None."""
    words = sentence.split()
    hit = re.search(r"\s+".join(map(re.escape, words)), text) if words else None
    return (hit.start(), hit.end()) if hit else None


Skipped = list[Problem]  # where a reader reports what it could not read, and goes on
# (name, content, skipped, start_at) -> the documents from position start_at on
Reader = Callable[[str, BinaryIO, Skipped, int], Iterator[Document]]


def skip(skipped: Skipped, source: str, message: str, number: int | None = None, unit: str = "line",
         field_name: str | None = None) -> None:
    """Report a part of the input that is not read, with where it is."""
    skipped.append(Problem(Location(source, number, field_name, unit), message))


def language_code(value: str | None) -> str | None:
    """A language tag as the source gives it ("en-US", "de_DE", "RU") as its ISO 639 code."""
    if not value:
        return None
    code = re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower()
    return code if code.isalpha() and 2 <= len(code) <= 3 else None
