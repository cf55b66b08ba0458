"""Web pages: the main text (trafilatura: boilerplate such as menus, footers and
comments left out) and the page's metadata: title, date, site name, canonical URL and
the language its `<html lang>` declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import trafilatura
from trafilatura.utils import load_html

from disinfodb.documents.base import Document, Skipped, language_code, skip


def read(name: str, content: BinaryIO, skipped: Skipped, start_at: int = 0) -> Iterator[Document]:
    tree = load_html(content.read())  # decodes by the page's own charset, else by guessing
    if tree is None:
        skip(skipped, name, "not an HTML page (nothing could be parsed)")
        return
    lang = language_code(tree.get("lang"))
    found = trafilatura.bare_extraction(tree, with_metadata=True, include_comments=False)
    if isinstance(found, dict):  # as_dict=True's shape; not asked for, but the signature allows it
        raise TypeError("trafilatura returned a dict, not a Document")
    text = found.text if found is not None else None
    if found is None or not text or not text.strip():
        skip(skipped, name, "no main text found in the page")
        return
    meta = {"site": found.sitename} if found.sitename else {}
    yield Document(name, text, lang=lang or language_code(found.language), date=found.date, title=found.title,
                   url=found.url, source=name, meta=meta)
