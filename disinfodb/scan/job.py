"""A scan: match every document of a corpus against the cases and write the matches.

corpus (JSONL, CSV or Parquet of {id, text, lang?, date?}; or documents: a folder, pages,
PDFs, Telegram exports, feeds, subtitles, text files)
  -> one pass in the driver: every row checked (file:line and field on error; what a
     document reader cannot read is skipped, located, and listed in the summary) and the
     corpus cut by position into shards of `shard_size` documents, each a small descriptor
     (byte offset, row number for Parquet; for documents the file's number and the
     message or item to start at)
  -> an engine: `local` (a process pool) or `ray` (Ray Data `map_batches` over an actor
     pool); each worker loads the matcher once and reads its shards from the corpus itself
  -> the driver writes each finished shard to <out>.parts/shard-NNNNNN.<ext> (a temp file,
     then an atomic rename) and appends it to the manifest; a rerun skips finished shards,
     so a crash loses at most the shards in flight
  -> at the end the parts are joined, in shard order, into --out (written beside it, then
     renamed): rows come by shard, then input order, then score.

Every document is matched by `Matcher.match_documents`, a batch of documents at a time,
which gives each the matches `disinfodb match` gives it alone, so both engines, a rerun and
any batch size give the same rows. `lang` and `date` are read and checked but do not
change the matching: the matcher judges each text's language by itself.
"""


from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disinfodb.documents import Skipped
from disinfodb.errors import DisinfoError
from disinfodb.files import PARTIAL, write_atomic
from disinfodb.matching import ClaimIndex, EmbeddingProgress, Label
from disinfodb.scan.corpus import SHARD_SIZE, Corpus
from disinfodb.scan.engines import ENGINES
from disinfodb.scan.output import MANIFEST, OUTPUT_FORMATS, join_parts, write_rows
from disinfodb.scan.worker import BATCH, ShardResult, cases_version, worker_embedders
from disinfodb.store import open_store
from disinfodb.store.sql_store import redact_password


@dataclass
class ScanSummary:
    docs: int  # in the corpus
    scanned: int  # matched in this run (the rest were in shards an earlier run finished)
    matched: int  # documents with at least one row
    rows: int
    empty: int
    truncated: int
    shards: int
    resumed_shards: int
    seconds: float  # this run's matching phase, wall clock, workers' start-up included
    worker_seconds: float  # the workers' time on this run's shards, added up
    peak_worker_rss_mb: float
    engine: str
    workers: int
    out: str
    skipped: list[str] = field(default_factory=list)  # what the document readers could not read, located

    @property
    def docs_per_s(self) -> float:
        return self.scanned / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ScanJob:
    corpus: Corpus
    out: Path
    db: str
    model: str
    limit: int = 5
    min_label: Label = Label.RELATED
    shard_size: int = SHARD_SIZE
    batch: int = BATCH  # documents matched together; not in the fingerprint: the rows do not depend on it
    cases: list[int] = field(default_factory=list)  # set by prepare(): the cases matched against
    workers_used: int = 0  # set by the engine

    def __post_init__(self) -> None:
        if self.min_label not in set(Label):
            raise DisinfoError(f"`min_label` must be one of {', '.join(Label)}, not {self.min_label!r}")
        self.min_label = Label(self.min_label)
        if self.limit < 1 or self.shard_size < 1 or self.batch < 1:
            raise DisinfoError("--limit, --shard-size and --batch must be at least 1")
        fmt = OUTPUT_FORMATS.get(self.out.suffix.lower())
        if fmt is None:
            raise DisinfoError(f"{self.out}: the output must end in .jsonl or .parquet")
        if not self.out.parent.is_dir():
            raise DisinfoError(f"cannot write {self.out}: folder {self.out.parent} does not exist")
        self.fmt = fmt

    @property
    def parts(self) -> Path:
        return self.out.with_name(self.out.name + ".parts")

    def part(self, number: int) -> Path:
        return self.parts / f"shard-{number:06d}{self.out.suffix.lower()}"

    def prepare(self, progress: EmbeddingProgress | None = None) -> None:
        """Embed (and cache) what the store lacks, once, so that the workers only read."""
        store = open_store(self.db)
        try:
            if store.count() == 0:
                raise DisinfoError(f"the database {redact_password(self.db)} has no cases: import some first")
            ClaimIndex.build(store, worker_embedders(self.model, threads=None), progress)
            self.cases = cases_version(store)
        finally:
            store.close()

    def fingerprint(self) -> dict[str, Any]:
        return {**self.corpus.fingerprint(), "shard_size": self.shard_size, "model": self.model,
                "limit": self.limit, "min_label": self.min_label, "format": self.fmt, "cases": self.cases}

    def finished(self, restart: bool = False) -> dict[int, dict[str, Any]]:
        """The shards an earlier run of this same scan finished (their stats), after checking
        that the parts folder belongs to this scan; starts the manifest if there is none."""
        manifest = self.parts / MANIFEST
        if restart:
            self.discard_parts()
        self.parts.mkdir(exist_ok=True)
        for stale in self.parts.glob(f"*{PARTIAL}"):  # a write that a crash cut short
            stale.unlink()
        fingerprint = self.fingerprint()
        if not manifest.exists():
            with write_atomic(manifest, durable=True) as partial:
                partial.write_text(json.dumps({"scan": fingerprint}) + "\n")
            return {}
        done: dict[int, dict[str, Any]] = {}
        with open(manifest, encoding="utf-8") as stream:
            for number, line in enumerate(stream):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line a crash cut short: that shard is done again
                if number == 0:
                    earlier = entry.get("scan", {})
                    changed = [key for key in fingerprint if earlier.get(key) != fingerprint[key]]
                    if changed:
                        raise DisinfoError(f"{self.parts} holds the parts of another scan ({', '.join(changed)} "
                                           "changed); run again with `restart` to discard them")
                elif self.part(entry["number"]).exists():
                    done[entry["number"]] = entry
        with open(manifest, "rb+") as stream:  # a torn last line must not swallow the next entry
            stream.seek(-1, os.SEEK_END)
            if stream.read(1) != b"\n":
                stream.write(b"\n")
        return done

    def discard_parts(self) -> None:
        if not self.parts.is_dir():
            return
        for path in self.parts.iterdir():
            if path.name == MANIFEST or path.name.startswith("shard-") or path.name.endswith(PARTIAL):
                path.unlink()
        if not any(self.parts.iterdir()):
            self.parts.rmdir()

    def record(self, result: ShardResult) -> None:
        """Write a finished shard's part, then append it to the manifest."""
        with write_atomic(self.part(result.number), durable=True) as partial:
            write_rows(partial, self.fmt, result.rows)
        with open(self.parts / MANIFEST, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(result.stats()) + "\n")
            stream.flush()
            os.fsync(stream.fileno())

    def run(self, engine: str = "local", workers: int | None = None, address: str | None = None,
            restart: bool = False, on_start: Callable[[int, int], None] | None = None,
            on_shard: Callable[[ShardResult], None] | None = None,
            on_embedding: EmbeddingProgress | None = None) -> ScanSummary:
        """Scan the corpus; `on_start(total docs, docs already done)` and `on_shard` report progress."""
        if engine not in ENGINES:
            raise DisinfoError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
        if address is not None and engine != "ray":
            raise DisinfoError("`address` is for the ray `engine`")
        skipped: Skipped = []
        shards = list(self.corpus.shards(self.shard_size, skipped))  # every row checked before any work
        self.prepare(on_embedding)
        done = self.finished(restart)
        pending = [shard for shard in shards if shard.number not in done]
        totals = {key: sum(entry.get(key, 0) for entry in done.values())
                  for key in ("docs", "matched", "empty", "truncated")}
        totals["rows"] = sum(entry.get("rows_written", 0) for entry in done.values())
        if on_start:
            on_start(sum(shard.size for shard in shards), totals["docs"])
        started = time.perf_counter()
        worker_seconds, peak = 0.0, 0.0
        for result in (ENGINES[engine](self, pending, workers, address) if pending else iter(())):
            self.record(result)
            for key in ("docs", "matched", "empty", "truncated"):
                totals[key] += getattr(result, key)
            totals["rows"] += len(result.rows)
            worker_seconds += result.seconds
            peak = max(peak, result.peak_rss_mb)
            if on_shard:
                on_shard(result)
        seconds = time.perf_counter() - started
        join_parts([self.part(shard.number) for shard in shards], self.out, self.fmt)
        return ScanSummary(
            docs=sum(shard.size for shard in shards), scanned=sum(shard.size for shard in pending),
            matched=totals["matched"], rows=totals["rows"], empty=totals["empty"], truncated=totals["truncated"],
            shards=len(shards), resumed_shards=len(done), seconds=round(seconds, 3),
            worker_seconds=round(worker_seconds, 3), peak_worker_rss_mb=peak, engine=engine, workers=self.workers_used,
            out=str(self.out), skipped=[str(problem) for problem in skipped])
