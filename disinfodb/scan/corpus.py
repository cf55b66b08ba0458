"""Reading a corpus to scan: JSON Lines, CSV or Parquet of {id, text, lang?, date?}, every
row checked (a bad one is a located error, as the importers' are), or documents as
analysts collect them (a folder, a web page, a PDF, a Telegram export, a feed, subtitles:
disinfodb.documents, what cannot be read skipped with its location); cut by position into
shards that a worker can read back by itself."""

from __future__ import annotations

import csv
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, NamedTuple

from disinfodb.documents import Document, Skipped, document_files, read_file
from disinfodb.documents.sources import EXTENSIONS, HEAD_BYTES, format_of
from disinfodb.errors import CorpusError, DisinfoError, Location
from disinfodb.ingest.base import decoded, not_utf8
from disinfodb.matching import MAX_INPUT_CHARS

SHARD_SIZE = 1_000
CORPUS_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_PARQUET_BATCH = 10_000
_CSV_FIELD_LIMIT = 4 * MAX_INPUT_CHARS  # the csv module's default (128 KiB) is below a long article


class Shard(NamedTuple):
    """Documents start..start+size of the corpus; `offset` is where the first one begins
    (a byte offset in JSONL and CSV, a row number in Parquet, the number of its file in a
    corpus of documents), `line` its line number (for documents: its Document.position
    in its file, where the reader starts again; a shard goes on into the next files)."""

    number: int
    start: int
    size: int
    offset: int
    line: int


def _doc(values: dict[str, Any], where: Location) -> Document:
    """A document from one row's fields; `where` locates the row in errors."""
    ident = values.get("id")
    if ident is None or isinstance(ident, bool) or not isinstance(ident, str | int):
        problem = "is missing" if ident is None else f"must be a string or an integer, not {type(ident).__name__}"
        raise CorpusError(_at(where, "id"), f"the id {problem}")
    if not str(ident).strip():
        raise CorpusError(_at(where, "id"), "the id is empty")
    text = values.get("text")
    if not isinstance(text, str):
        problem = "is missing" if text is None else f"must be a string, not {type(text).__name__}"
        raise CorpusError(_at(where, "text"), f"the text {problem}")
    optional: list[str | None] = []
    for name in ("lang", "date"):
        value = values.get(name)
        if value is not None and not isinstance(value, str | int):
            raise CorpusError(_at(where, name), f"must be a string, not {type(value).__name__}")
        optional.append(None if value is None or value == "" else str(value))
    return Document(str(ident), text, optional[0], optional[1])


def _at(where: Location, field: str) -> Location:
    return Location(where.source, where.line, field, where.unit)


def _decode(raw: bytes, where: Location, first: bool) -> str:
    try:
        return decoded(raw, first)
    except UnicodeDecodeError as error:
        raise CorpusError(where, not_utf8(error)) from None


@dataclass(frozen=True)
class Corpus:
    """A corpus file or folder; `columns` is the CSV header (names lower-cased), or the
    Parquet columns read; `files` the files of a corpus of documents, in order."""

    path: str
    fmt: str
    columns: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    @classmethod
    def open(cls, path: str | Path) -> Corpus:
        location = Path(path)
        fmt = CORPUS_FORMATS.get(location.suffix.lower())
        if fmt is None or location.is_dir():
            return cls._documents(location)
        if not location.is_file():
            raise CorpusError(Location(str(location)), "no such file")
        if fmt == "csv":
            return cls(str(location), fmt, _csv_header(location))
        if fmt == "parquet":
            return cls(str(location), fmt, _parquet_columns(location))
        return cls(str(location), fmt)

    @classmethod
    def _documents(cls, location: Path) -> Corpus:
        try:
            files = document_files(location)
        except DisinfoError as error:
            raise CorpusError(Location(str(location)), "no such file or folder") from error
        if location.is_file():
            with open(location, "rb") as content:
                if format_of(str(location), content.read(HEAD_BYTES)) is None:
                    raise CorpusError(Location(str(location)), f"unknown corpus format "
                                      f"{location.suffix or '(no extension)'!r}; use {', '.join(CORPUS_FORMATS)}, "
                                      f"a folder, or a document ({', '.join(sorted(filter(None, EXTENSIONS)))})")
        return cls(str(location), "documents", files=tuple(map(str, files)))

    def fingerprint(self) -> dict[str, Any]:
        """What says that the corpus is still the one an earlier run scanned."""
        paths = [Path(name) for name in self.files] or [Path(self.path)]
        stats = [path.stat() for path in paths]
        found = {"corpus": Path(self.path).name, "corpus_bytes": sum(stat.st_size for stat in stats),
                 "corpus_mtime_ns": max(stat.st_mtime_ns for stat in stats)}
        return {**found, "corpus_files": len(self.files)} if self.files else found

    def rows(self, skipped: Skipped | None = None) -> Iterator[tuple[Document, int, int]]:
        """Every document with its offset and line (row number for Parquet), checked; what a
        corpus of documents cannot read goes to `skipped`."""
        if self.fmt == "documents":
            for number, name in enumerate(self.files):
                for document in read_file(Path(name), [] if skipped is None else skipped):
                    yield document, number, document.position
        elif self.fmt == "jsonl":
            yield from self._jsonl(0, 1, None)
        elif self.fmt == "csv":
            yield from self._csv(None, None)
        else:
            yield from self._parquet_rows()

    def docs(self) -> Iterator[Document]:
        return (doc for doc, _, _ in self.rows())

    def shards(self, size: int = SHARD_SIZE, skipped: Skipped | None = None) -> Iterator[Shard]:
        """The corpus cut by position into shards of `size` documents (every row is checked)."""
        number = start = count = offset = line = 0
        for position, (_, row_offset, row_line) in enumerate(self.rows(skipped)):
            if count == 0:
                start, offset, line = position, row_offset, row_line
            count += 1
            if count == size:
                yield Shard(number, start, count, offset, line)
                number, count = number + 1, 0
        if count:
            yield Shard(number, start, count, offset, line)

    def read(self, shard: Shard) -> list[Document]:
        """The documents of one shard."""
        if self.fmt == "documents":
            return list(islice(self._documents_from(shard.offset, shard.line), shard.size))
        if self.fmt == "jsonl":
            return [doc for doc, _, _ in self._jsonl(shard.offset, shard.line, shard.size)]
        if self.fmt == "csv":
            return [doc for doc, _, _ in self._csv(shard, shard.size)]
        return _parquet_slice(self, shard)

    def _documents_from(self, file: int, position: int) -> Iterator[Document]:
        """The documents from one at `position` in file number `file` on, into the next files
        (what they skip was reported when the corpus was cut into shards)."""
        for number in range(file, len(self.files)):
            yield from read_file(Path(self.files[number]), [], position if number == file else 0)

    # JSON Lines: one object a line; blank lines are skipped.
    def _jsonl(self, offset: int, line: int, count: int | None) -> Iterator[tuple[Document, int, int]]:
        with open(self.path, "rb") as stream:
            stream.seek(offset)
            found = 0
            for raw in stream:
                where = Location(self.path, line)
                text = _decode(raw, where, offset == 0 and line == 1)
                if text.strip():
                    try:
                        values = json.loads(text)
                    except json.JSONDecodeError as error:
                        raise CorpusError(where, f"not valid JSON ({error.msg} at column {error.colno})") from None
                    if not isinstance(values, dict):
                        raise CorpusError(where, f"a line must be a JSON object, not {type(values).__name__}")
                    yield _doc(values, where), offset, line
                    found += 1
                    if found == count:
                        return
                offset += len(raw)
                line += 1

    # CSV: a header row naming the columns (id, text, lang, date; others are ignored).
    def _csv(self, shard: Shard | None, count: int | None) -> Iterator[tuple[Document, int, int]]:
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
                    raise CorpusError(Location(self.path, line), f"not valid CSV ({error})") from None
                if not record or record == [""]:
                    continue
                where = Location(self.path, line)
                if len(record) != len(self.columns):
                    raise CorpusError(where, f"{len(record)} fields where the header has {len(self.columns)}"
                                             " (a comma in an unquoted text?)")
                yield _doc(dict(zip(self.columns, record, strict=True)), where), offset, line
                found += 1
                if found == count:
                    return

    def _parquet_rows(self) -> Iterator[tuple[Document, int, int]]:
        import pyarrow.parquet as pq  # noqa: PLC0415 - only Parquet needs it

        row = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=_PARQUET_BATCH, columns=list(self.columns)):
            for values in batch.to_pylist():
                yield _doc(values, Location(self.path, row + 1, unit="row")), row, row + 1
                row += 1


def _counted_lines(stream: IO[bytes], consumed: list[int], path: str, first_line: int) -> Iterator[str]:
    """The decoded lines of a binary stream; consumed[0] is the offset after the last line given."""
    line = first_line
    for raw in stream:
        text = _decode(raw, Location(path, line), consumed[0] == 0)
        consumed[0] += len(raw)
        line += 1
        yield text


def _csv_header(path: Path) -> tuple[str, ...]:
    with open(path, "rb") as stream:
        header = next(csv.reader(_counted_lines(stream, [0], str(path), 1)), None)
    if not header:
        raise CorpusError(Location(str(path), 1), "no header row (the columns id and text are needed)")
    columns = tuple(name.strip().lower() for name in header)
    for needed in ("id", "text"):
        if needed not in columns:
            raise CorpusError(Location(str(path), 1), f"no {needed!r} column (columns: {', '.join(columns)})")
    return columns


def _parquet_columns(path: Path) -> tuple[str, ...]:
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except Exception as error:  # pyarrow raises ArrowInvalid (and OSError) for a file that is not Parquet
        raise CorpusError(Location(str(path)), f"not a Parquet file ({error})") from None
    for needed in ("id", "text"):
        if needed not in names:
            raise CorpusError(Location(str(path)), f"no {needed!r} column (columns: {', '.join(names)})")
    return tuple(name for name in ("id", "text", "lang", "date") if name in names)


_ROW_GROUPS: OrderedDict[tuple[str, int], Any] = OrderedDict()  # (path, row group) -> pyarrow.Table


def _parquet_slice(corpus: Corpus, shard: Shard) -> list[Document]:
    """A shard's rows: its row groups are read whole and the last two kept, because shards
    are smaller than row groups (pyarrow writes up to a million rows in one)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    source = pq.ParquetFile(corpus.path)
    docs: list[Document] = []
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
            docs.extend(_doc(values, Location(corpus.path, first + n + 1, unit="row"))
                        for n, values in enumerate(table.to_pylist()))
        group_start += rows
    return docs
