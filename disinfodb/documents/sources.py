"""Which reader reads a file (its first bytes, else its extension), and the documents of
a file, of a folder (every file in it, recursively, in name order) or of an upload.

Readers are imported when a file needs them (trafilatura alone takes ~1 s to import).
The language of a document whose source does not say is detected (documents.lang).
"""

from __future__ import annotations

import codecs
import importlib
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, cast

from disinfodb.documents.base import Document, Reader, Skipped, skip
from disinfodb.documents.lang import detect
from disinfodb.errors import DisinfoError

EXTENSIONS = {".html": "html", ".htm": "html", ".xhtml": "html", ".pdf": "pdf", ".json": "telegram",
              ".rss": "feeds", ".atom": "feeds", ".xml": "feeds", ".srt": "subtitles", ".vtt": "subtitles",
              ".txt": "plain", ".text": "plain", ".md": "plain", "": "plain"}
HEAD_BYTES = 4096  # what sniffing reads of a file
_FEED = re.compile(rb"^(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(rss|feed|rdf:rdf)\b", re.DOTALL)
_HTML = re.compile(rb"^(<!--.*?-->\s*)*<(!doctype html|html)\b", re.DOTALL)
_SRT = re.compile(rb"^\d+\s*\r?\n\s*(\d{1,2}:)?\d{1,2}:\d{2}[,.]\d{1,3}\s*-->")


def sniff(head: bytes) -> str | None:
    """The format that a file's first bytes show, if they show one."""
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    lowered = start.lower()
    if start.startswith(b"%PDF-"):
        return "pdf"
    if start.startswith(b"WEBVTT") or _SRT.match(start):
        return "subtitles"
    if _FEED.match(lowered):
        return "feeds"
    if _HTML.match(lowered):
        return "html"
    if start.startswith(b"{") and (b'"messages"' in head or b'"chats"' in head):
        return "telegram"
    return None


def format_of(path: str, head: bytes) -> str | None:
    """The reader for a file: the one its content shows, else the one of its extension,
    else plain text if it is text (None for binary data of no format read here)."""
    return sniff(head) or EXTENSIONS.get(Path(path).suffix.lower()) or ("plain" if _is_text(head) else None)


def _is_text(head: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a character may be cut at the end
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def reader(fmt: str) -> Reader:
    return cast(Reader, importlib.import_module(f"disinfodb.documents.{fmt}").read)


def document_files(path: Path) -> list[Path]:
    """A file, or every file of a folder and its subfolders, in name order (hidden ones left out)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DisinfoError(f"{path}: no such file or folder")
    return sorted((found for found in path.rglob("*") if found.is_file()
                   and not any(part.startswith(".") for part in found.relative_to(path).parts)),
                  key=lambda found: found.relative_to(path).as_posix())


def read_documents(path: Path, skipped: Skipped) -> Iterator[Document]:
    """Every document of a file or a folder; what cannot be read goes to `skipped`."""
    for file in document_files(path):
        yield from read_file(file, skipped)


def read_file(path: Path, skipped: Skipped, start_at: int = 0) -> Iterator[Document]:
    """The documents of one file (from position `start_at` on: see Document.position)."""
    try:
        with open(path, "rb") as content:
            yield from read_content(str(path), content, skipped, start_at)
    except OSError as error:
        skip(skipped, str(path), f"cannot be read ({error.strerror or error})")


def read_upload(name: str, data: bytes, skipped: Skipped) -> list[Document]:
    """The documents of an uploaded file (`name` is its file name, for its extension)."""
    return list(read_content(name, io.BytesIO(data), skipped))


def read_content(name: str, content: BinaryIO, skipped: Skipped, start_at: int = 0) -> Iterator[Document]:
    head = content.read(HEAD_BYTES)
    content.seek(0)
    fmt = format_of(name, head)
    if fmt is None:
        skip(skipped, name, f"not a format read here ({Path(name).suffix or 'no extension'}): "
                            f"use {', '.join(sorted({ext for ext in EXTENSIONS if ext}))}")
        return
    for document in reader(fmt)(name, content, skipped, start_at):
        yield document if document.lang else replace(document, lang=detect(document.text))
