"""One watch: pass after pass over its sources, each new document fingerprinted and, unless
it copies one seen before, matched once; its hits at or above the chosen label go to the
triage queue.

A document and its hits are recorded in one transaction, after it was matched, so a watch
killed at any moment has either recorded a document (and it is not read again) or not
(and the next pass matches it): nothing is lost, nothing is queued twice. A transaction per
document is the batch: matching one takes 10-300 ms, its commit well under one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from disinfodb.documents import Document, Skipped
from disinfodb.errors import NothingToMatch, Problem
from disinfodb.matching import MAX_INPUT_CHARS, Label, Matcher
from disinfodb.store import Store
from disinfodb.store.triage import QueuedHit, SeenDocument
from disinfodb.triage import hit_payload
from disinfodb.watch.fingerprint import NearCopies, simhash, text_hash
from disinfodb.watch.sources import Arrival, arrivals, outlet_of, source_key
from disinfodb.watch.webhook import Webhook

HITS_PER_DOCUMENT = 5
STORED_TEXT_CHARS = 200_000  # of a queued document's text (a case's text fields hold as much)


@dataclass
class PassSummary:
    """What one pass over the sources did."""

    documents: int = 0  # read in this pass (known ones included)
    known: int = 0  # recorded by an earlier pass: not matched again
    copies: int = 0  # new, but an exact or near copy of a document recorded before: not matched
    matched: int = 0  # new documents matched
    with_hits: int = 0  # of them, with a hit at or above the label
    queued: int = 0  # triage items added
    files_unchanged: int = 0  # files read to their end before and unchanged since: not opened
    skipped: list[Problem] = field(default_factory=list)


# (source, what became of a document: "known", "copy", "matched" or "queued")
Progress = Callable[[str, str], None]


class Watch:
    """Sources watched into one store's triage queue with one matcher."""

    def __init__(self, store: Store, matcher: Matcher, sources: list[str], min_label: Label = Label.RELATED,
                 webhook: Webhook | None = None) -> None:
        self.store = store
        self.matcher = matcher
        self.sources = [source_key(source) for source in sources]
        self.min_label = min_label
        self.webhook = webhook
        self._near = NearCopies(store.triage.fingerprints())

    def run_pass(self, progress: Progress | None = None) -> PassSummary:
        summary = PassSummary()
        for source in self.sources:
            seen = self.store.triage.seen_ids(source)
            skipped: Skipped = []

            def unchanged(path: str, size: int, mtime_ns: int, source: str = source) -> bool:
                same = self.store.triage.file_state(source, path) == (size, mtime_ns)
                summary.files_unchanged += same
                return same

            for event in arrivals(source, skipped, unchanged):
                if not isinstance(event, Arrival):
                    self.store.triage.file_read(source, event.path, event.size, event.mtime_ns)
                    continue
                summary.documents += 1
                if event.doc_id in seen:
                    summary.known += 1
                    outcome = "known"
                else:
                    outcome = self._take(source, event, summary)
                    seen.add(event.doc_id)
                if progress is not None:
                    progress(source, outcome)
            summary.skipped.extend(skipped)
        return summary

    def _take(self, source: str, arrival: Arrival, summary: PassSummary) -> str:
        """Fingerprint, match and record one new document; what became of it."""
        document = arrival.document
        exact, near = text_hash(document.text), simhash(document.text)
        original = self.store.triage.with_text_hash(exact) or self._near.find(near)
        if original is not None:
            self.store.triage.record(SeenDocument(source, arrival.doc_id, exact, near, duplicate_of=original), [])
            summary.copies += 1
            return "copy"
        hits = self._hits(document)
        kept = _kept(source, arrival, document, exact, near) if hits else SeenDocument(source, arrival.doc_id,
                                                                                       exact, near)
        pk, queued = self.store.triage.record(kept, hits)
        summary.matched += 1
        if pk is not None:
            self._near.add(pk, near)
        if not queued:
            return "matched"
        summary.with_hits += 1
        summary.queued += len(queued)
        if self.webhook is not None:
            for item_id in queued:
                self.webhook.notify(hit_payload(self.store.triage.get(item_id)))
        return "queued"

    def _hits(self, document: Document) -> list[QueuedHit]:
        if len(document.text) > MAX_INPUT_CHARS:
            document = dataclasses.replace(document, text=document.text[:MAX_INPUT_CHARS])  # its start is matched
        try:
            found = self.matcher.match_document(document, limit=HITS_PER_DOCUMENT, min_label=self.min_label)
        except NothingToMatch:
            return []
        return [QueuedHit(m.case_id, m.score, m.label.value, [dataclasses.asdict(pair) for pair in m.evidence])
                for m in found if m.label is not Label.NONE]


def _kept(source: str, arrival: Arrival, document: Document, exact: str, near: int) -> SeenDocument:
    """A document with hits, with what the queue shows of it."""
    return SeenDocument(source, arrival.doc_id, exact, near, title=document.title, outlet=outlet_of(document),
                        url=document.url, published=document.date, lang=document.lang,
                        text=document.text[:STORED_TEXT_CHARS])
