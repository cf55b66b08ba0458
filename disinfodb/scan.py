"""Scan a corpus: match every document against the cases and write the matches.

corpus (JSONL, CSV or Parquet of {id, text, lang?, date?})
  -> one pass in the driver: every row checked (file:line and field on error) and the
     corpus cut by position into shards of `shard_size` documents, each a small descriptor
     (byte offset, or row number for Parquet)
  -> an engine: `local` (a process pool) or `ray` (Ray Data `map_batches` over an actor
     pool); each worker loads the matcher once and reads its shards from the corpus itself
  -> the driver writes each finished shard to <out>.parts/shard-NNNNNN.<ext> (a temp file,
     then an atomic rename) and appends it to the manifest; a rerun skips finished shards,
     so a crash loses at most the shards in flight
  -> at the end the parts are joined, in shard order, into --out (written beside it, then
     renamed): rows come by shard, then input order, then score.

Every document is matched by `Matcher.match`, the code path of `disinfodb match`, so both
engines (and a rerun) give the same rows. `lang` and `date` are read and checked but do not
change the matching: the matcher judges each text's language by itself.
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import os
import re
import resource
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from disinfodb.embed import MODELS, Embedder, UniversalSentenceEncoder
from disinfodb.errors import DisinfoError
from disinfodb.match import MAX_INPUT_CHARS, ClaimIndex, Matcher, NothingToMatch
from disinfodb.store import SQLStore, open_store
from disinfodb.store.sql_store import redact_password

SHARD_SIZE = 1_000
LABELS = ("none", "related", "match")
CORPUS_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
MANIFEST = "manifest.jsonl"
_PARQUET_BATCH = 10_000
_CSV_FIELD_LIMIT = 4 * MAX_INPUT_CHARS  # the csv module's default (128 KiB) is below a long article


class CorpusError(DisinfoError):
    """A corpus row cannot be scanned (the message says where: file:line or row, and field)."""


class Doc(NamedTuple):
    id: str
    text: str
    lang: str | None = None
    date: str | None = None


class Shard(NamedTuple):
    """Documents start..start+size of the corpus; `offset` is where the first one begins
    (a byte offset in JSONL and CSV, a row number in Parquet), `line` its line number."""

    number: int
    start: int
    size: int
    offset: int
    line: int


# -- reading corpora --------------------------------------------------------------------


def _doc(values: dict[str, Any], where: str) -> Doc:
    """A document from one row's fields; `where` locates the row in errors."""
    ident = values.get("id")
    if ident is None or isinstance(ident, bool) or not isinstance(ident, str | int):
        problem = "is missing" if ident is None else f"must be a string or an integer, not {type(ident).__name__}"
        raise CorpusError(f"{where}: field 'id' {problem}")
    if not str(ident).strip():
        raise CorpusError(f"{where}: field 'id' is empty")
    text = values.get("text")
    if not isinstance(text, str):
        problem = "is missing" if text is None else f"must be a string, not {type(text).__name__}"
        raise CorpusError(f"{where}: field 'text' {problem}")
    optional: list[str | None] = []
    for name in ("lang", "date"):
        value = values.get(name)
        if value is not None and not isinstance(value, str | int):
            raise CorpusError(f"{where}: field {name!r} must be a string, not {type(value).__name__}")
        optional.append(None if value is None or value == "" else str(value))
    return Doc(str(ident), text, optional[0], optional[1])


def _decode(raw: bytes, where: str, first: bool) -> str:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorpusError(f"{where}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return line.removeprefix("\ufeff") if first else line


@dataclass(frozen=True)
class Corpus:
    """A corpus file; `columns` is the CSV header (names lower-cased), or the Parquet columns read."""

    path: str
    fmt: str
    columns: tuple[str, ...] = ()

    @classmethod
    def open(cls, path: str | Path) -> Corpus:
        location = Path(path)
        fmt = CORPUS_FORMATS.get(location.suffix.lower())
        if fmt is None:
            raise CorpusError(f"{location}: unknown corpus format {location.suffix or '(no extension)'!r}; "
                              f"use {', '.join(CORPUS_FORMATS)}")
        if not location.is_file():
            raise CorpusError(f"{location}: no such file")
        if fmt == "csv":
            return cls(str(location), fmt, _csv_header(location))
        if fmt == "parquet":
            return cls(str(location), fmt, _parquet_columns(location))
        return cls(str(location), fmt)

    def rows(self) -> Iterator[tuple[Doc, int, int]]:
        """Every document with its offset and line (row number for Parquet), checked."""
        if self.fmt == "jsonl":
            yield from self._jsonl(0, 1, None)
        elif self.fmt == "csv":
            yield from self._csv(None, None)
        else:
            yield from self._parquet_rows()

    def docs(self) -> Iterator[Doc]:
        return (doc for doc, _, _ in self.rows())

    def shards(self, size: int = SHARD_SIZE) -> Iterator[Shard]:
        """The corpus cut by position into shards of `size` documents (every row is checked)."""
        number = start = count = offset = line = 0
        for position, (_, row_offset, row_line) in enumerate(self.rows()):
            if count == 0:
                start, offset, line = position, row_offset, row_line
            count += 1
            if count == size:
                yield Shard(number, start, count, offset, line)
                number, count = number + 1, 0
        if count:
            yield Shard(number, start, count, offset, line)

    def read(self, shard: Shard) -> list[Doc]:
        """The documents of one shard."""
        if self.fmt == "jsonl":
            return [doc for doc, _, _ in self._jsonl(shard.offset, shard.line, shard.size)]
        if self.fmt == "csv":
            return [doc for doc, _, _ in self._csv(shard, shard.size)]
        return _parquet_slice(self, shard)

    # JSON Lines: one object a line; blank lines are skipped.
    def _jsonl(self, offset: int, line: int, count: int | None) -> Iterator[tuple[Doc, int, int]]:
        with open(self.path, "rb") as stream:
            stream.seek(offset)
            found = 0
            for raw in stream:
                where = f"{self.path}:{line}"
                text = _decode(raw, where, offset == 0 and line == 1)
                if text.strip():
                    try:
                        values = json.loads(text)
                    except json.JSONDecodeError as error:
                        raise CorpusError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
                    if not isinstance(values, dict):
                        raise CorpusError(f"{where}: a line must be a JSON object, not {type(values).__name__}")
                    yield _doc(values, where), offset, line
                    found += 1
                    if found == count:
                        return
                offset += len(raw)
                line += 1

    # CSV: a header row naming the columns (id, text, lang, date; others are ignored).
    def _csv(self, shard: Shard | None, count: int | None) -> Iterator[tuple[Doc, int, int]]:
        csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
        with open(self.path, "rb") as stream:
            consumed = [shard.offset if shard else 0]
            stream.seek(consumed[0])
            first_line = shard.line if shard else 1
            lines = _counted_lines(stream, consumed, self.path, first_line)
            reader = csv.reader(lines)
            base = first_line - 1  # reader.line_num counts the lines read from here
            if shard is None:
                next(reader, None)  # the header, read by Corpus.open
            found = 0
            while True:
                offset, line = consumed[0], base + reader.line_num + 1
                try:
                    record = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    raise CorpusError(f"{self.path}:{line}: not valid CSV ({error})") from None
                if not record or record == [""]:
                    continue
                where = f"{self.path}:{line}"
                if len(record) != len(self.columns):
                    raise CorpusError(f"{where}: {len(record)} fields where the header has {len(self.columns)}"
                                      " (a comma in an unquoted text?)")
                yield _doc(dict(zip(self.columns, record, strict=True)), where), offset, line
                found += 1
                if found == count:
                    return

    def _parquet_rows(self) -> Iterator[tuple[Doc, int, int]]:
        import pyarrow.parquet as pq  # noqa: PLC0415 - only Parquet needs it

        row = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=_PARQUET_BATCH, columns=list(self.columns)):
            for values in batch.to_pylist():
                yield _doc(values, f"{self.path}: row {row + 1}"), row, row + 1
                row += 1


def _counted_lines(stream: IO[bytes], consumed: list[int], path: str, first_line: int) -> Iterator[str]:
    """The decoded lines of a binary stream; consumed[0] is the offset after the last line given."""
    line = first_line
    for raw in stream:
        text = _decode(raw, f"{path}:{line}", consumed[0] == 0)
        consumed[0] += len(raw)
        line += 1
        yield text


def _csv_header(path: Path) -> tuple[str, ...]:
    with open(path, "rb") as stream:
        header = next(csv.reader(_counted_lines(stream, [0], str(path), 1)), None)
    if not header:
        raise CorpusError(f"{path}:1: no header row (the columns id and text are needed)")
    columns = tuple(name.strip().lower() for name in header)
    for needed in ("id", "text"):
        if needed not in columns:
            raise CorpusError(f"{path}:1: no {needed!r} column (columns: {', '.join(columns)})")
    return columns


def _parquet_columns(path: Path) -> tuple[str, ...]:
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except Exception as error:  # pyarrow raises ArrowInvalid (and OSError) for a file that is not Parquet
        raise CorpusError(f"{path}: not a Parquet file ({error})") from None
    for needed in ("id", "text"):
        if needed not in names:
            raise CorpusError(f"{path}: no {needed!r} column (columns: {', '.join(names)})")
    return tuple(name for name in ("id", "text", "lang", "date") if name in names)


_ROW_GROUPS: OrderedDict[tuple[str, int], Any] = OrderedDict()  # (path, row group) -> pyarrow.Table


def _parquet_slice(corpus: Corpus, shard: Shard) -> list[Doc]:
    """A shard's rows: its row groups are read whole and the last two kept, because shards
    are smaller than row groups (pyarrow writes up to a million rows in one)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    source = pq.ParquetFile(corpus.path)
    docs: list[Doc] = []
    group_start = 0
    for group in range(source.metadata.num_row_groups):
        rows = source.metadata.row_group(group).num_rows
        first, last = max(shard.offset, group_start), min(shard.offset + shard.size, group_start + rows)
        if first < last:
            key = (corpus.path, group)
            if key not in _ROW_GROUPS:
                _ROW_GROUPS[key] = source.read_row_group(group, columns=list(corpus.columns))
                while len(_ROW_GROUPS) > 2:
                    _ROW_GROUPS.popitem(last=False)
            table = _ROW_GROUPS[key].slice(first - group_start, last - first)
            docs.extend(_doc(values, f"{corpus.path}: row {first + n + 1}")
                        for n, values in enumerate(table.to_pylist()))
        group_start += rows
    return docs


# -- matching a shard (in a worker) ------------------------------------------------------


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
    """The models of a spec, fresh (not the process-wide cache), USE on `threads` threads."""
    names = [name.strip() for name in spec.split("+")]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise DisinfoError(f"unknown model {unknown[0]!r}; one of {', '.join(MODELS)}")
    return [UniversalSentenceEncoder(threads=threads) if name == UniversalSentenceEncoder.name else MODELS[name]()
            for name in names]


def cases_version(store: SQLStore) -> list[int]:
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
        self.matcher = Matcher(self.store, embedders, ClaimIndex.build(self.store, embedders))
        if cases is not None and cases_version(self.store) != cases:
            raise DisinfoError(f"the cases in {redact_password(db)} changed while the scan ran; the shards done so far "
                               "matched the old ones: start it again with --restart")

    def run(self, corpus: Corpus, shard: Shard, limit: int, min_label: str) -> ShardResult:
        started = time.perf_counter()
        result = ShardResult(shard.number, shard.size)
        for doc in corpus.read(shard):
            text = doc.text
            if len(text) > MAX_INPUT_CHARS:
                text = text[:MAX_INPUT_CHARS]
                result.truncated += 1
            try:
                matches = self.matcher.match(text, limit=limit, min_label=min_label)
            except NothingToMatch:
                result.empty += 1
                continue
            except DisinfoError as error:
                raise DisinfoError(f"{corpus.path}: document {doc.id!r}: {error}") from error
            except Exception as error:  # a bug: say which document, keep the finished shards
                raise DisinfoError(f"{corpus.path}: document {doc.id!r}: matching failed: {error!r}") from error
            result.matched += bool(matches)
            result.rows.extend(
                {"doc_id": doc.id, "case_id": found.case_id, "score": found.score, "label": found.label,
                 "evidence": [{"input_sentence": e.input_sentence, "case_sentence": e.case_sentence,
                               "score": e.score} for e in found.evidence]}
                for found in matches)
        result.seconds = round(time.perf_counter() - started, 4)
        result.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return result


# -- writing parts and the output --------------------------------------------------------


def _parquet_schema() -> Any:
    import pyarrow as pa  # noqa: PLC0415

    evidence = pa.struct([("input_sentence", pa.string()), ("case_sentence", pa.string()), ("score", pa.float64())])
    return pa.schema([("doc_id", pa.string()), ("case_id", pa.string()), ("score", pa.float64()),
                      ("label", pa.string()), ("evidence", pa.list_(evidence))])


def _write_atomic(target: Path, write: Callable[[Path], object]) -> None:
    """Write through a temp file beside `target`, flushed to disk, then renamed over it."""
    partial = target.with_name(target.name + ".tmp")
    try:
        write(partial)
        with open(partial, "rb+") as stream:
            os.fsync(stream.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)


def write_rows(path: Path, fmt: str, rows: list[dict[str, Any]]) -> None:
    if fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as stream:
            stream.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    pq.write_table(pa.Table.from_pylist(rows, schema=_parquet_schema()), path)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a scan's output (or of one part), JSONL or Parquet by extension."""
    location = Path(path)
    if OUTPUT_FORMATS.get(location.suffix.lower()) == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        rows: list[dict[str, Any]] = pq.read_table(location).to_pylist()
        return rows
    with open(location, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def _join_parts(parts: list[Path], target: Path, fmt: str) -> None:
    def write(partial: Path) -> None:
        if fmt == "jsonl":
            with open(partial, "wb") as sink:
                for part in parts:
                    with open(part, "rb") as source:
                        while block := source.read(1 << 20):
                            sink.write(block)
            return
        import pyarrow.parquet as pq  # noqa: PLC0415

        with pq.ParquetWriter(partial, _parquet_schema()) as writer:
            for part in parts:
                writer.write_table(pq.read_table(part, schema=_parquet_schema()))

    _write_atomic(target, write)


# -- the job -----------------------------------------------------------------------------


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

    @property
    def docs_per_s(self) -> float:
        return self.scanned / self.seconds if self.seconds > 0 else 0.0


# An engine runs shards on `workers` workers (None: one per core, of this machine or of
# the Ray cluster), sets ScanJob.workers_used, and gives the results as they finish.
Engine = Callable[["ScanJob", list[Shard], int | None, str | None], Iterator[ShardResult]]


@dataclass
class ScanJob:
    corpus: Corpus
    out: Path
    db: str
    model: str
    limit: int = 5
    min_label: str = "related"
    shard_size: int = SHARD_SIZE
    cases: list[int] = field(default_factory=list)  # set by prepare(): the cases matched against
    workers_used: int = 0  # set by the engine

    def __post_init__(self) -> None:
        if self.min_label not in LABELS:
            raise DisinfoError(f"--min-label must be one of {', '.join(LABELS)}, not {self.min_label!r}")
        if self.limit < 1 or self.shard_size < 1:
            raise DisinfoError("--limit and --shard-size must be at least 1")
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

    def prepare(self, progress: Callable[[int, int], None] | None = None) -> None:
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
        stat = Path(self.corpus.path).stat()
        return {"corpus": Path(self.corpus.path).name, "corpus_bytes": stat.st_size,
                "corpus_mtime_ns": stat.st_mtime_ns, "shard_size": self.shard_size, "model": self.model,
                "limit": self.limit, "min_label": self.min_label, "format": self.fmt, "cases": self.cases}

    def finished(self, restart: bool = False) -> dict[int, dict[str, Any]]:
        """The shards an earlier run of this same scan finished (their stats), after checking
        that the parts folder belongs to this scan; starts the manifest if there is none."""
        manifest = self.parts / MANIFEST
        if restart:
            self.discard_parts()
        self.parts.mkdir(exist_ok=True)
        for stale in self.parts.glob("*.tmp"):  # a write that a crash cut short
            stale.unlink()
        fingerprint = self.fingerprint()
        if not manifest.exists():
            _write_atomic(manifest, lambda path: path.write_text(json.dumps({"scan": fingerprint}) + "\n"))
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
                                           "changed); rerun with --restart to discard them")
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
            if path.name == MANIFEST or path.name.startswith("shard-") or path.suffix == ".tmp":
                path.unlink()
        if not any(self.parts.iterdir()):
            self.parts.rmdir()

    def record(self, result: ShardResult) -> None:
        """Write a finished shard's part, then append it to the manifest."""
        _write_atomic(self.part(result.number), lambda path: write_rows(path, self.fmt, result.rows))
        with open(self.parts / MANIFEST, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(result.stats()) + "\n")
            stream.flush()
            os.fsync(stream.fileno())

    def run(self, engine: str = "local", workers: int | None = None, address: str | None = None,
            restart: bool = False, on_start: Callable[[int, int], None] | None = None,
            on_shard: Callable[[ShardResult], None] | None = None,
            on_embedding: Callable[[int, int], None] | None = None) -> ScanSummary:
        """Scan the corpus; `on_start(total docs, docs already done)` and `on_shard` report progress."""
        if engine not in ENGINES:
            raise DisinfoError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
        if address is not None and engine != "ray":
            raise DisinfoError("--address is for --engine ray")
        shards = list(self.corpus.shards(self.shard_size))  # every row checked before any work
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
        _join_parts([self.part(shard.number) for shard in shards], self.out, self.fmt)
        return ScanSummary(
            docs=sum(shard.size for shard in shards), scanned=sum(shard.size for shard in pending),
            matched=totals["matched"], rows=totals["rows"], empty=totals["empty"], truncated=totals["truncated"],
            shards=len(shards), resumed_shards=len(done), seconds=round(seconds, 3),
            worker_seconds=round(worker_seconds, 3), peak_worker_rss_mb=peak, engine=engine, workers=self.workers_used,
            out=str(self.out))


# -- engines -----------------------------------------------------------------------------

_WORKER: ShardMatcher | None = None


def _local_shard(db: str, model: str, cases: list[int], corpus: Corpus, shard: Shard, limit: int,
                 min_label: str) -> ShardResult:
    """A pool task: the process's matcher is loaded by its first task (so that a load error
    comes back as that task's exception, with its message), then reused."""
    global _WORKER  # noqa: PLW0603 - one matcher per worker process
    if _WORKER is None:
        _WORKER = ShardMatcher(db, model, cases)
    return _WORKER.run(corpus, shard, limit, min_label)


def run_local(job: ScanJob, shards: list[Shard], workers: int | None,
              address: str | None = None) -> Iterator[ShardResult]:
    """A pool of `workers` processes (spawned: each loads its own matcher), at most two
    shards queued per worker so that memory stays flat; results in completion order."""
    workers = job.workers_used = min(workers or os.cpu_count() or 1, len(shards))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    queue = iter(shards)
    running: set[Future[ShardResult]] = set()
    try:
        while True:
            while len(running) < 2 * workers and (shard := next(queue, None)) is not None:
                running.add(pool.submit(_local_shard, job.db, job.model, job.cases, job.corpus, shard,
                                        job.limit, job.min_label))
            if not running:
                return
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    except BrokenProcessPool:
        raise DisinfoError("a worker process died (killed, or out of memory?); the finished shards are kept: "
                           "run the same command again to resume") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class RayShardMatcher:
    """The Ray Data callable class: one per actor, the matcher built in __init__."""

    def __init__(self, db: str, model: str, cases: list[int], corpus: Corpus, limit: int, min_label: str) -> None:
        self.worker = ShardMatcher(db, model, cases)
        self.corpus, self.limit, self.min_label = corpus, limit, min_label

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        results = [self.worker.run(self.corpus, Shard(*(int(batch[name][n]) for name in Shard._fields)),
                                   self.limit, self.min_label)
                   for n in range(len(batch["number"]))]
        return {"number": [r.number for r in results],
                "result": [json.dumps(asdict(r), ensure_ascii=False) for r in results]}


_RAY_TOLD = re.compile(r"^disinfodb\.[\w.]+: (.+)$", re.MULTILINE)  # our error's line in a traceback


def run_ray(job: ScanJob, shards: list[Shard], workers: int | None,
            address: str | None = None) -> Iterator[ShardResult]:
    """Ray Data: the shard descriptors as a dataset, `map_batches` over an actor pool of
    `workers` actors (one CPU each). A local Ray is started unless one runs (or --address
    names a cluster; its nodes must see the corpus and the database at the same paths)."""
    try:
        import ray  # noqa: PLC0415 - only this engine needs Ray
        import ray.data  # noqa: PLC0415
    except ImportError as error:
        raise DisinfoError(f"--engine ray needs Ray Data (pip install 'ray[data]'): {error}") from None
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                   "logging_level": "ERROR", "configure_logging": True}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **options)
        started = True
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its INFO and WARNING lines would interleave with our progress
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        workers = job.workers_used = min(workers or cpus, len(shards))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        dataset = ray.data.from_items([shard._asdict() for shard in shards], override_num_blocks=len(shards))
        matched = dataset.map_batches(
            RayShardMatcher, batch_size=1, batch_format="numpy", num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            fn_constructor_kwargs={"db": job.db, "model": job.model, "cases": job.cases, "corpus": job.corpus,
                                   "limit": job.limit, "min_label": job.min_label})
        for row in matched.iter_rows():
            yield ShardResult(**json.loads(row["result"]))
    except Exception as error:
        cause = getattr(error, "cause", None)  # a RayTaskError carries the worker's exception ...
        if isinstance(cause, DisinfoError):
            raise cause from None
        told = _RAY_TOLD.findall(str(error))  # ... an actor that failed to start only its traceback
        if told:
            raise DisinfoError(told[-1]) from None
        raise
    finally:
        quiet.setLevel(level)
        if started:
            ray.shutdown()


ENGINES: dict[str, Engine] = {"local": run_local, "ray": run_ray}

