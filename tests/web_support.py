"""Shared by the web page tests (test_web, test_browser): a small real database, and a
tolerant HTML tree to read the pages with.

The database holds the seed cases and the first rows of the 2015-2017 scrape, an editor
and a reader, and the use-m vectors of every case (so matching starts in milliseconds).
"""

from __future__ import annotations

import csv
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import uvicorn
from pg_cluster import free_port

from disinfodb.accounts import Accounts
from disinfodb.embed import DEFAULT_MODEL, load_embedders
from disinfodb.ingest import read_file
from disinfodb.ingest.pipeline import import_records
from disinfodb.matching import ClaimIndex
from disinfodb.narratives import ClusterParams, build_narratives
from disinfodb.server.app import create_app
from disinfodb.server.service import Service, Settings
from disinfodb.store import SQLStore, open_store

MODEL = DEFAULT_MODEL  # what every user gets
CSV_ROWS = 300
EDITOR, EDITOR_PASSWORD = "ed", "a-password"
READER, READER_PASSWORD = "rita", "r-password"

# Cases of the seed file and of the first rows of the 2015-2017 scrape.
KAZAKH_EEU = "Kazakhstan’s destabilisation attempts to obstruct EEU membership and China’s new Silk Road"
KAZAKH_COUP = "A coup in Kazakhstan was meant to divert Russia’s attention before negotiations"
VINNITSA = "Explosions in Vinnitsa were organized by Ukrainian soldiers"
COUP_EN = "What happened in Kazakhstan is yet another attempt at a colour revolution."


def truncated_csv(source: Path, target: Path, rows: int = CSV_ROWS) -> Path:
    """The header and the first `rows` records of a CSV file (records may span lines)."""
    with open(source, newline="", encoding="utf-8") as stream, open(target, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        for number, row in enumerate(csv.reader(stream)):
            if number > rows:
                break
            writer.writerow(row)
    return target


def build_web_db(path: Path, seed: Path, csv_2017: Path) -> int:
    """Write the test database at `path`; returns its number of cases."""
    store = open_store(str(path))
    try:
        assert import_records(store, read_file(str(seed))).created == 4
        report = import_records(store, read_file(str(truncated_csv(csv_2017, path.with_suffix(".csv")))))
        assert report.created > 250 and not report.problems
        accounts = Accounts(store)
        accounts.add_user(EDITOR, "editor", EDITOR_PASSWORD)
        accounts.add_user(READER, "reader", READER_PASSWORD)
        ClaimIndex.build(store, load_embedders(MODEL))  # caches the vectors in the file
        # A few hundred cases: small narratives (about 25 cases each), so pages show several.
        build_narratives(store, MODEL, ClusterParams(min_cluster_size=5, cases_per_narrative=25))
        return store.count()
    finally:
        store.close()


def copy_db(source: Path, target: Path) -> SQLStore:
    """A private copy of the test database, opened."""
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        origin.close()
        copy.close()
    return open_store(str(target))


@contextmanager
def served(store: SQLStore, settings: Settings | None = None) -> Iterator[str]:
    """The app over a store, served by uvicorn in a thread on loopback: its URL."""
    app = create_app(store, MODEL, settings)
    service: Service = app.state.service
    service.matcher()  # the vectors are cached in the file: pages show similar cases at once
    port = free_port()
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uvicorn_server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(timeout=10)
    service.close()


# -- reading HTML -------------------------------------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text inside, whitespace collapsed."""
        return " ".join("".join(c if isinstance(c, str) else c.text for c in self.children).split())

    def get(self, name: str) -> str:
        return self.attrs.get(name, "")

    def has_class(self, name: str) -> bool:
        return name in self.get("class").split()

    def iter(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or e.has_class(cls))
                and all(e.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag or '*'}> with class {cls!r} and {attrs} in <{self.tag}>"
        return found[0]

    def links(self) -> dict[str, str]:
        """Link text -> href (the first link of each text)."""
        out: dict[str, str] = {}
        for a in self.find_all("a"):
            out.setdefault(a.text, a.get("href"))
        return out


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root
