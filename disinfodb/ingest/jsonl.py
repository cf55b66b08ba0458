"""Readers for our own JSON Lines and JSON exports (lossless round trips).

JSON arrays are streamed with ijson, so a 1 GB export is read in constant memory;
records are then numbered by position ("record N") instead of by line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

import ijson

from disinfodb.ingest.base import Record, build_record, problem_record

RecordBuilder = Callable[[str, int, dict[str, Any]], Record]


def read_jsonl(stream: Iterable[str], source: str, build: RecordBuilder = build_record) -> Iterator[Record]:
    """One JSON object per line; blank lines are skipped."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            yield problem_record(source, number, f"invalid JSON: {error.msg} (column {error.colno})")
            continue
        if not isinstance(data, dict):
            yield problem_record(source, number, "expected a JSON object")
            continue
        yield build(source, number, data)


def read_json_array(stream: BinaryIO, source: str, build: RecordBuilder = build_record) -> Iterator[Record]:
    """A JSON array of objects (or `{"cases": [...]}`), streamed item by item."""
    prefix = "cases.item" if _starts_with_object(stream) else "item"
    number = 0
    try:
        for number, data in enumerate(ijson.items(stream, prefix, use_float=True), start=1):
            if not isinstance(data, dict):
                yield problem_record(source, number, "expected a JSON object")
                continue
            yield build(source, number, data)
    except ijson.JSONError as error:
        yield problem_record(source, number + 1, f"invalid JSON after record {number}: {error}")


def _starts_with_object(stream: BinaryIO) -> bool:
    """Peek at the first non-blank byte without consuming the stream."""
    head = stream.peek(64) if hasattr(stream, "peek") else b""
    return head.lstrip().lstrip(b"\xef\xbb\xbf").startswith(b"{")
