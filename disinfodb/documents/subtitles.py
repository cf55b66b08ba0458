"""SRT and WebVTT subtitles: the cues' text as one spoken document (matched like a
transcript: each sentence with the one said before it), whose segments are the cues'
start times, so a matched sentence says when it was said ("00:01:02").

A cue with a broken timing line ("00:01:xx,000 --> ...", minutes past 59) is skipped
with its line number; the others are read. Cue numbers and identifiers, the WEBVTT
header, NOTE/STYLE/REGION blocks and tags (<i>, <v Speaker>, <c.yellow>) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from disinfodb.documents.base import Document, Segment, Skipped, skip
from disinfodb.ingest.base import not_utf8

# A cue's timing line, SRT ("00:01:02,000 --> 00:01:04,500") or WebVTT (hours optional, "."):
# matching.transcript recognises subtitles pasted as text by the same pattern.
CUE_TIME = re.compile(r"^\s*(?:(?P<hours>\d{1,2}):)?(?P<minutes>\d{1,2}):(?P<seconds>\d{2})[.,]\d{1,3}"
                      r"\s*-->\s*(\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{1,3}")
CUE_TAG = re.compile(r"<[^>]{0,40}>")
_NOT_CUES = ("WEBVTT", "NOTE", "STYLE", "REGION")


def read(name: str, content: BinaryIO, skipped: Skipped, start_at: int = 0) -> Iterator[Document]:
    try:
        text = content.read().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        skip(skipped, name, not_utf8(error))
        return
    spoken: list[str] = []
    segments: list[Segment] = []
    offset = 0
    for line, block in _blocks(text):
        if block[0].lstrip().startswith(_NOT_CUES):
            continue
        timing = next((n for n, row in enumerate(block) if "-->" in row), None)
        if timing is None:
            skip(skipped, name, f"not a cue: no timing line ({block[0].strip()[:40]!r})", line, "line")
            continue
        at = _start(block[timing])
        if at is None:
            skip(skipped, name, f"broken cue timing {block[timing].strip()[:60]!r}", line + timing, "line")
            continue
        said = " ".join(part for row in block[timing + 1:] if (part := CUE_TAG.sub("", row).strip()))
        if said:
            segments.append(Segment(offset, at))
            spoken.append(said)
            offset += len(said) + 1
    if not spoken:
        skip(skipped, name, "no subtitle cue with text")
        return
    yield Document(name, "\n".join(spoken), source=name, segments=tuple(segments), spoken=True)


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """The blocks of lines between blank lines, each with the number of its first line."""
    block: list[str] = []
    first = 0
    for number, row in enumerate(text.splitlines(), start=1):
        if row.strip():
            if not block:
                first = number
            block.append(row)
        elif block:
            yield first, block
            block = []
    if block:
        yield first, block


def _start(timing: str) -> str | None:
    """A timing line's start as HH:MM:SS, or None when the line is not a valid timing."""
    found = CUE_TIME.match(timing)
    if found is None or int(found["minutes"]) > 59 or int(found["seconds"]) > 59:
        return None
    return f"{int(found['hours'] or 0):02d}:{int(found['minutes']):02d}:{found['seconds']}"
