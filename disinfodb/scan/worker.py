"""Matching one shard of a corpus, in a worker process or a Ray actor: the worker loads the
store, the models and the claim index once and matches the shard's documents `batch` at a
time with `Matcher.match_documents`: each document gets the matches `disinfodb match` gives
it alone, whatever the batch (so the batch size is not part of a scan's identity)."""

from __future__ import annotations

import dataclasses
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from disinfodb.documents import Document
from disinfodb.embed import MODELS, Embedder, model_names
from disinfodb.errors import DisinfoError
from disinfodb.matching import MAX_INPUT_CHARS, ClaimIndex, Label, Matcher
from disinfodb.scan.corpus import Corpus, Shard
from disinfodb.store import Store, open_store
from disinfodb.store.sql_store import redact_password

ROW_FIELDS = ("case_id", "score", "label", "evidence")  # what a scan row keeps of a match, after the doc_id
# Documents matched together: their sentences' products with the case vectors are one pass
# over the index (bench.scan: see the README). Memory: the batch's documents and matches,
# and the products of QuantisedVectors.PRODUCT_ROWS sentences at a time.
BATCH = 32


@dataclass
class ShardResult:
    """One finished shard: its rows and what a worker saw doing it."""

    number: int
    docs: int
    matched: int = 0  # documents with at least one row
    empty: int = 0  # documents with no words to match
    truncated: int = 0  # documents longer than MAX_INPUT_CHARS (their start was matched)
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0  # the worker's time on it
    peak_rss_mb: float = 0.0  # the worker's peak resident memory so far

    def stats(self) -> dict[str, Any]:
        """What the manifest keeps of a finished shard: everything but the rows themselves."""
        return {**{key: value for key, value in asdict(self).items() if key != "rows"}, "rows_written": len(self.rows)}


def worker_embedders(spec: str, threads: int | None = 1) -> list[Embedder]:
    """The models of a spec, fresh (not the process-wide cache), on `threads` threads each."""
    return [MODELS[name](threads) for name in model_names(spec)]


def cases_version(store: Store) -> list[int]:
    """What identifies the cases a scan matched against: their count and the last audit entry."""
    return [store.count(), store.last_audit_seq()]


class ShardMatcher:
    """A worker's matcher, loaded once: the store (read only here: the claim vectors are
    cached), the models on one thread each, and the claim index."""

    def __init__(self, db: str, model: str, cases: list[int] | None = None) -> None:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415 - scikit-learn's dependency

        self._limits = threadpool_limits(1)  # one BLAS thread per worker: the workers are the parallelism
        self.store = open_store(db)
        embedders = worker_embedders(model)
        self.matcher = Matcher(self.store, embedders, ClaimIndex.build(self.store, embedders, threads=1))
        if cases is not None and cases_version(self.store) != cases:
            raise DisinfoError(f"the cases in {redact_password(db)} changed while the scan ran; the shards done so far "
                               "matched the old ones: start it again with `restart`")

    def run(self, corpus: Corpus, shard: Shard, limit: int, min_label: Label, batch: int = BATCH) -> ShardResult:
        started = time.perf_counter()
        result = ShardResult(shard.number, shard.size)
        every = corpus.read(shard)
        for docs in (every[start:start + batch] for start in range(0, len(every), batch)):
            for number, doc in enumerate(docs):
                if len(doc.text) > MAX_INPUT_CHARS:
                    docs[number] = dataclasses.replace(doc, text=doc.text[:MAX_INPUT_CHARS])  # its start is matched
                    result.truncated += 1
            try:
                found = self.matcher.match_documents(docs, limit=limit, min_label=min_label)
            except DisinfoError as error:
                raise DisinfoError(f"{corpus.path}: {_which(docs)}: {error}") from error
            except Exception as error:  # a bug: say which documents, keep the finished shards
                raise DisinfoError(f"{corpus.path}: {_which(docs)}: matching failed: {error!r}") from error
            for doc, matches in zip(docs, found, strict=True):
                if matches is None:
                    result.empty += 1
                    continue
                result.matched += bool(matches)
                result.rows.extend({"doc_id": doc.id, **{key: value for key, value in match.as_json().items()
                                                          if key in ROW_FIELDS}} for match in matches)
        result.seconds = round(time.perf_counter() - started, 4)
        result.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return result


def _which(docs: list[Document]) -> str:
    return f"document {docs[0].id!r}" if len(docs) == 1 else f"one of documents {docs[0].id!r}..{docs[-1].id!r}"
