"""A scan's output: the rows of each finished shard in a part file (in <out>.parts/, each
written whole, then named in the manifest), and at the end all parts joined in shard
order into the output; JSON Lines or Parquet by the output's extension."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from disinfodb.files import write_atomic

OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
MANIFEST = "manifest.jsonl"


def _parquet_schema() -> Any:
    import pyarrow as pa  # noqa: PLC0415

    evidence = pa.struct([("input_sentence", pa.string()), ("case_sentence", pa.string()), ("score", pa.float64()),
                          ("at", pa.string())])
    return pa.schema([("doc_id", pa.string()), ("case_id", pa.string()), ("score", pa.float64()),
                      ("label", pa.string()), ("evidence", pa.list_(evidence))])


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


def join_parts(parts: list[Path], target: Path, fmt: str) -> None:
    """The parts, in order, as one output file (written whole or not at all)."""
    with write_atomic(target, durable=True) as partial:
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
