"""RSS and Atom feeds: one document per item (its title and content, else summary; date;
link).

feedparser normalises what feeds disagree on (RSS 0.9x/1.0/2.0 and Atom element names,
a dozen date formats, HTML in content), but builds the whole feed in memory: a 29 MB
feed of 100,000 items took 28 s and ~200 MB more. So lxml's iterparse walks the file one
item at a time (each dropped once read) and feedparser reads each item alone, wrapped in
its feed's root element: memory stays that of one item (bench.documents measures it).
Malformed XML is read as far as lxml can recover it; what is lost is reported.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import feedparser
from lxml import etree

from disinfodb.documents.base import Document, Skipped, language_code, skip

_ATOM = "{http://www.w3.org/2005/Atom}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_ITEMS = {"item", f"{_ATOM}entry", f"{_RSS1}item"}
_BATCH = 200  # items per feedparser call
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_WRAPPERS = {  # an item alone, as the feed its kind of root makes
    "rss": (b'<rss version="2.0"><channel>', b"</channel></rss>"),
    "feed": (b'<feed xmlns="http://www.w3.org/2005/Atom">', b"</feed>"),
    "RDF": (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">',
            b"</rdf:RDF>"),
}


def read(name: str, content: BinaryIO, skipped: Skipped, start_at: int = 0) -> Iterator[Document]:
    """The feed's items from item number `start_at` on (1-based; those before are passed over unread)."""
    root_kind, lang, number = "", None, 0
    batch: list[tuple[int, bytes]] = []
    parser = etree.iterparse(content, events=("start", "end"), recover=True, resolve_entities=False,
                             no_network=True, huge_tree=True)
    try:
        for event, element in parser:
            local = etree.QName(element).localname if isinstance(element.tag, str) else ""
            if event == "start":
                if not root_kind:
                    root_kind, lang = local, language_code(element.get(_XML_LANG))
                continue
            if local == "language" and lang is None and element.text:
                lang = language_code(element.text)
            if element.tag not in _ITEMS:
                continue
            number += 1
            if number >= start_at:
                batch.append((number, etree.tostring(element)))
            element.clear(keep_tail=False)
            while element.getprevious() is not None:  # what lxml keeps of the items read before
                del element.getparent()[0]
            if len(batch) == _BATCH:
                yield from _documents(name, batch, root_kind, lang, skipped)
                batch = []
    except etree.XMLSyntaxError as error:  # what recovery could not mend
        yield from _documents(name, batch, root_kind, lang, skipped)
        skip(skipped, name, f"not well-formed XML after {number:,} items: {error.msg}", error.lineno)
        return
    yield from _documents(name, batch, root_kind, lang, skipped)
    if root_kind not in _WRAPPERS:
        skip(skipped, name, f"not an RSS or Atom feed (its root element is <{root_kind or '?'}>)")


def _documents(name: str, batch: list[tuple[int, bytes]], root_kind: str, lang: str | None,
               skipped: Skipped) -> Iterator[Document]:
    """A batch of items read by feedparser in one go (its set-up costs more than an item);
    one by one where it did not give back one entry per item."""
    if not batch:
        return
    head, tail = _WRAPPERS.get(root_kind, _WRAPPERS["rss"])
    entries = feedparser.parse(head + b"".join(item for _, item in batch) + tail).entries
    if len(entries) != len(batch):
        if len(batch) > 1:
            for one in batch:
                yield from _documents(name, [one], root_kind, lang, skipped)
            return
        skip(skipped, name, "the item could not be read", batch[0][0], "item")
        return
    for (number, _), entry in zip(batch, entries, strict=True):
        found = _document(name, number, entry, lang, skipped)
        if found is not None:
            yield found


def _document(name: str, number: int, entry: Any, lang: str | None, skipped: Skipped) -> Document | None:
    title = _plain(entry.get("title", ""))
    body = _plain(entry["content"][0].get("value", "")) if entry.get("content") else _plain(entry.get("summary", ""))
    text = "\n\n".join(part for part in (title, body) if part)
    if not text:
        skip(skipped, name, "the item has no title and no text", number, "item")
        return None
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(stamp))) if stamp else None
    link = entry.get("link")
    return Document(f"{name}#{number}", text, lang=lang or language_code(entry.get("language")), date=date,
                    title=title or None, url=link if isinstance(link, str) and link.startswith("http") else None,
                    source=name, position=number)


def _plain(markup: str) -> str:
    """The text of a title or content that may be HTML (feedparser has sanitised it)."""
    if "<" not in markup and "&" not in markup:
        return markup.strip()
    try:
        return " ".join("".join(etree.fromstring(f"<div>{markup}</div>", etree.HTMLParser()).itertext()).split())
    except etree.XMLSyntaxError:
        return markup.strip()
