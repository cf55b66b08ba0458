"""PDF files: the text layer of every page (pypdf), as one document whose segments name
the pages, so a matched sentence says which page it is on.

A PDF without a text layer (a scan: OCR it first), one encrypted with a password, or one
pypdf cannot parse gives a located "no text" entry instead of a document; a page whose
text cannot be extracted is skipped with its number.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from disinfodb.documents.base import Document, Segment, Skipped, skip

_PAGE_BREAK = "\n\n"

logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on odd but readable files would flood a scan


def read(name: str, content: BinaryIO, skipped: Skipped, start_at: int = 0) -> Iterator[Document]:
    try:
        pdf = PdfReader(content)
        if pdf.is_encrypted and not pdf.decrypt(""):  # many are encrypted only against editing
            skip(skipped, name, "no text: the PDF is encrypted with a password")
            return
        pages = pdf.pages
        total = len(pages)
    except (PyPdfError, ValueError, KeyError, OSError) as error:  # pypdf's errors on a damaged file
        skip(skipped, name, f"no text: not a readable PDF ({error})")
        return
    parts: list[str] = []
    segments: list[Segment] = []
    offset = 0
    for number in range(1, total + 1):
        try:
            text = (pages[number - 1].extract_text() or "").strip()
        except Exception as error:  # pypdf raises many kinds on one broken page; the others still read
            skip(skipped, name, f"the page's text cannot be extracted ({error})", number, "page")
            continue
        if text:
            segments.append(Segment(offset, f"page {number}"))
            parts.append(text)
            offset += len(text) + len(_PAGE_BREAK)
    if not parts:
        skip(skipped, name, f"no text: none of its {total} page(s) has a text layer (a scan? run OCR first)")
        return
    info = _metadata(pdf)
    yield Document(name, _PAGE_BREAK.join(parts), title=info.get("title"), date=info.get("date"), source=name,
                   segments=tuple(segments), meta={"pages": str(total)})


def _metadata(pdf: PdfReader) -> dict[str, str]:
    """The title and creation date the file declares, where they can be read."""
    try:
        info = pdf.metadata
        if info is None:
            return {}
        found = {"title": info.title.strip()} if info.title and info.title.strip() else {}
        if info.creation_date is not None:
            found["date"] = info.creation_date.date().isoformat()
        return found
    except (PyPdfError, ValueError, TypeError):  # a malformed date or info dictionary
        return {}
