"""What the watch reads: a folder or a file of collected documents (pages, PDFs, Telegram
exports, feeds, subtitles, text: disinfodb.documents), or a feed at an http(s) URL.

Each document gets an id within its source that stays the same from one pass to the next:
its path in the folder, and for an item of a feed or a message of an export its link when
it has one (a feed's item number changes as new items arrive on top), else its place in
the file. A file read to its end is reported with its size and modification time, so a
later pass that finds it unchanged does not open it again.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from disinfodb.documents import Document, Skipped, document_files, read_content, read_file
from disinfodb.documents.base import skip

FETCH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Arrival:
    """A document of a source, with its id there."""

    doc_id: str
    document: Document


@dataclass(frozen=True)
class FileRead:
    """Every document of a file has arrived (the file as it was: size, mtime_ns)."""

    path: str
    size: int
    mtime_ns: int


def is_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


def source_key(source: str) -> str:
    """How a source is recorded: a URL as given, a path made absolute (so that the same
    folder named from elsewhere is the same source)."""
    return source if is_url(source) else str(Path(source).resolve())


def outlet_of(document: Document) -> str | None:
    """Where the document was published, as its source names it: a site, a channel; else
    its link's host."""
    named = document.meta.get("site") or document.meta.get("channel")
    return named or (urlsplit(document.url).hostname if document.url else None)


def _doc_id(document: Document, name: str) -> str:
    if document.position and document.url:
        return document.url
    _, hash_mark, place = document.id.partition("#")
    return name + (f"#{place}" if hash_mark else "")


def arrivals(key: str, skipped: Skipped, unchanged: Callable[[str, int, int], bool]
             ) -> Iterator[Arrival | FileRead]:
    """The documents of a source (`key` from source_key), file by file; `unchanged(path,
    size, mtime_ns)` says which files were read to their end as they are now (skipped)."""
    if is_url(key):
        yield from _fetched(key, skipped)
        return
    root = Path(key)
    for path in document_files(root):
        name = path.name if root.is_file() else path.relative_to(root).as_posix()
        stat = path.stat()
        if unchanged(name, stat.st_size, stat.st_mtime_ns):
            continue
        for document in read_file(path, skipped):
            yield Arrival(_doc_id(document, name), document)
        yield FileRead(name, stat.st_size, stat.st_mtime_ns)


def _fetched(url: str, skipped: Skipped) -> Iterator[Arrival]:
    """A feed at a URL, fetched once per pass (a failure is reported, and the next pass tries again)."""
    try:
        answer = httpx.get(url, timeout=FETCH_TIMEOUT_S, follow_redirects=True)
        answer.raise_for_status()
    except httpx.HTTPError as error:
        skip(skipped, url, f"cannot be fetched ({error})")
        return
    for document in read_content(url, io.BytesIO(answer.content), skipped):
        yield Arrival(_doc_id(document, url), document)
