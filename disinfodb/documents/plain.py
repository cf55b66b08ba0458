"""Plain text files: the whole file is one document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from disinfodb.documents.base import Document, Skipped, skip
from disinfodb.ingest.base import not_utf8


def read(name: str, content: BinaryIO, skipped: Skipped, start_at: int = 0) -> Iterator[Document]:
    raw = content.read()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        skip(skipped, name, not_utf8(error))
        return
    if not text.strip():
        skip(skipped, name, "no text (the file is empty)")
        return
    yield Document(name, text, source=name)
