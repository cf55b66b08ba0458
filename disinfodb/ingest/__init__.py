"""Readers, one per input format, and the detection that picks one for a file."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO, cast

from disinfodb.errors import UnknownFormat
from disinfodb.ingest.base import Record, not_utf8, problem_record
from disinfodb.ingest.claimreview import read_claimreview
from disinfodb.ingest.csv import read_csv
from disinfodb.ingest.jsonl import read_json_array, read_jsonl
from disinfodb.ingest.listing import read_listing

FORMATS = ("listing", "jsonl", "json", "csv", "euvsdisinfo-2017", "euvsdisinfo-2021", "claimreview")
_SNIFF_BYTES = 1 << 16
_CLAIMREVIEW_TYPE = re.compile(rb'"@type"\s*:\s*(\[[^\]]*)?"ClaimReview"')

__all__ = ["FORMATS", "Record", "detect_format", "read_file"]


def detect_format(name: str, head: bytes) -> str:
    """Guess the format from the file name and its first bytes."""
    suffix = Path(name).suffix.lower()
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if _CLAIMREVIEW_TYPE.search(head) and text.startswith((b"{", b"[")):
        return "claimreview"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".json", ".jsonld") or text.startswith(b"["):
        return "json"
    if suffix == ".csv":
        return "csv"
    if suffix in (".txt", ".md") or text[:8].lower().startswith(b"disinfo:"):
        return "listing"
    if text.startswith(b"{"):
        return "jsonl"
    raise UnknownFormat(f"{name}: cannot tell the format; name it with `fmt` ({', '.join(FORMATS)})")


def read_file(path: str, fmt: str | None = None, source: str | None = None) -> Iterator[Record]:
    """Yield the records of a file ("-" is standard input), in the given or detected format.

    `source` names the file in problems and detection when `path` is not what the user
    knows it by (an upload kept in a temporary file)."""
    source = source or path
    with ExitStack() as stack:
        stream = _peekable(sys.stdin.buffer) if path == "-" else stack.enter_context(open(path, "rb"))
        head = stream.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
        fmt = fmt or detect_format(source, head)
        if fmt not in FORMATS:
            raise UnknownFormat(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
        yield from _decoded(_records(stream, source, fmt, stack), source)


def _peekable(raw: BinaryIO) -> io.BufferedReader:
    """Standard input as a stream whose head can be sniffed without consuming it."""
    if isinstance(raw, io.BufferedReader):
        return raw
    return io.BufferedReader(cast(io.RawIOBase, raw), buffer_size=_SNIFF_BYTES)


def _records(stream: BinaryIO, source: str, fmt: str, stack: ExitStack) -> Iterator[Record]:
    if fmt == "claimreview":
        return read_claimreview(stream, source)
    if fmt == "json":
        return read_json_array(stream, source)
    newline = None if fmt in ("listing", "jsonl") else ""  # csv handles its own newlines
    text = stack.enter_context(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=newline))
    if fmt == "listing":
        return read_listing(text, source)
    if fmt == "jsonl":
        return read_jsonl(text, source)
    return read_csv(text, source, None if fmt == "csv" else fmt)


def _decoded(records: Iterator[Record], source: str) -> Iterator[Record]:
    """Turn a decoding failure (binary input) into a located problem instead of a crash."""
    last_line = 0
    try:
        for record in records:
            last_line = record.line
            yield record
    except UnicodeDecodeError as error:
        yield problem_record(source, last_line + 1, not_utf8(error))
