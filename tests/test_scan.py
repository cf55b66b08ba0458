"""`disinfodb scan`: corpora read in three formats, located errors, the local engine's
matches, resuming after a crash, and the Ray engine giving the same rows (a local Ray).

The corpus: claims of real 2015-2017 cases (`claims_2017`), reworded for these tests and
set among sentences on other subjects, and documents that repeat no case.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Claims2017
from typer.testing import CliRunner

from disinfodb.cli import app
from disinfodb.documents import Document
from disinfodb.embed import load_embedders
from disinfodb.errors import CorpusError, DisinfoError
from disinfodb.matching import Label, Matcher
from disinfodb.scan import Corpus, ScanJob, ShardResult, read_rows

runner = CliRunner(env={"COLUMNS": "200", "DISINFODB_DB": None})

# Reworded claims, each with the start of the 2015-2017 case title it repeats.
KNOWN = {
    "brussels": ("Angela Merkel is responsible for the terrorist attacks in Brussels",
                 "Local elections are due in the spring. Merkel bears the blame for the Brussels terror attacks, "
                 "since she negotiated with Erdogan, the man who created Daesh. Ticket prices rose again."),
    "aydar": ("Soldiers of the Aydar battalion raped orphan boys",
              "In 2014 fighters from the Aydar battalion raped orphaned girls and boys."),
    "vinnitsa": ("Explosions in Vinnitsa were organized by Ukrainian soldiers",
                 "The blasts at the ammunition depot near Vinnitsa were staged by Ukrainian troops themselves "
                 "to hide that they had stolen weapons. The harvest was good this year."),
    "drowned": ("Donald Tusk and Angela Merkel have direct responsibility",
                "Tusk and Merkel are directly to blame for the thousands of people who drowned in the "
                "Mediterranean."),
}
UNRELATED = {
    "cake": "Preheat the oven to 180 degrees. Mix the flour, the sugar and three eggs, then bake for forty minutes.",
    "football": "The football club won its third match in a row on Sunday, and the coach praised the young keeper.",
    "weather": "A mild and sunny week is expected, with light rain on Thursday in the north of the country.",
    "garden": "Water the tomatoes in the evening, and pick the beans before they grow too long and tough.",
    "bridge": "The new bridge over the river opened to traffic after two years of work, a day ahead of plan.",
    "symbols": "12345 ... !!! ###",  # no words: no row, counted as empty
}
ORDER = ["cake", "brussels", "football", "aydar", "weather", "vinnitsa", "garden", "drowned", "bridge", "symbols"]
SHARD = 3  # 10 documents: 4 shards


def corpus_docs() -> list[dict[str, Any]]:
    texts = {**{key: text for key, (_, text) in KNOWN.items()}, **UNRELATED}
    return [{"id": f"doc-{key}", "text": texts[key], "lang": "en", "date": "2017-05-01"} for key in ORDER]


def write_corpus(path: Path, docs: list[dict[str, Any]]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs), encoding="utf-8")
    elif path.suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, ["id", "text", "lang", "date"])
            writer.writeheader()
            writer.writerows(docs)
    else:
        pq.write_table(pa.Table.from_pylist(docs), path, row_group_size=4)  # shards cross row groups
    return path


def job(corpus: Path, out: Path, claims: Claims2017, **options: Any) -> ScanJob:
    return ScanJob(Corpus.open(corpus), out, str(claims.path), "use-m", shard_size=SHARD, **options)


@dataclass
class Reference:
    corpus: Path
    out: Path
    rows: list[dict[str, Any]]


@pytest.fixture(scope="module")
def reference(claims_2017: Claims2017, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The JSONL corpus scanned once through the CLI with the local engine (2 workers)."""
    folder = tmp_path_factory.mktemp("scan")
    corpus = write_corpus(folder / "corpus.jsonl", corpus_docs())
    out = folder / "matches.jsonl"
    result = runner.invoke(app, ["scan", str(corpus), "--out", str(out), "--db", str(claims_2017.path),
                                 "--model", "use-m", "--workers", "2", "--shard-size", str(SHARD)])
    assert result.exit_code == 0, result.output
    assert "Scanned 10 documents: 4 matched" in result.stderr
    assert "1 had no words to match" in result.stderr
    return Reference(corpus, out, read_rows(out))


# -- reading ------------------------------------------------------------------------------


def row(doc: Document) -> tuple[str, str, str | None, str | None]:
    return doc.id, doc.text, doc.lang, doc.date


def test_three_formats_read_the_same_documents_and_shards(tmp_path: Path) -> None:
    docs = [*corpus_docs(), {"id": "doc-7", "text": 'A "quoted", comma\nand a second line — ünïcode', "lang": "",
                             "date": None}]
    expected = [(str(d["id"]), d["text"], d["lang"] or None, d["date"]) for d in docs]
    for name in ("c.jsonl", "c.csv", "c.parquet"):
        corpus = Corpus.open(write_corpus(tmp_path / name, docs))
        assert [row(doc) for doc in corpus.docs()] == expected, name
        shards = list(corpus.shards(4))
        assert [(s.number, s.start, s.size) for s in shards] == [(0, 0, 4), (1, 4, 4), (2, 8, 3)]
        assert [row(doc) for shard in shards for doc in corpus.read(shard)] == expected, name
    blank_lines = tmp_path / "blank.jsonl"
    blank_lines.write_text('\n{"id": 1, "text": "x"}\n\n{"id": "b", "text": "y"}\n')
    corpus = Corpus.open(blank_lines)
    assert [(s.line, [d.id for d in corpus.read(s)]) for s in corpus.shards(1)] == [(2, ["1"]), (4, ["b"])]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("c.jsonl", '{"id": "a", "text": "x"}\n{"id": "b"}\n', "c.jsonl:line 2 [text]: the text is missing"),
    ("c.jsonl", '{"id": "a", "text": "x"}\n\n{"text": "y"}\n', "c.jsonl:line 3 [id]: the id is missing"),
    ("c.jsonl", '{"id": "a", "text": "x"}\n{"id": "b", "text": "y"', "c.jsonl:line 2: not valid JSON"),
    ("c.jsonl", '{"id": " ", "text": "x"}\n', "c.jsonl:line 1 [id]: the id is empty"),
    ("c.jsonl", '{"id": "a", "text": ["x"]}\n', "c.jsonl:line 1 [text]: the text must be a string, not list"),
    ("c.jsonl", '["a", "x"]\n', "c.jsonl:line 1: a line must be a JSON object"),
    ("c.csv", 'id,text\na,"one\ntwo"\n,three\n', "c.csv:line 4 [id]: the id is empty"),
    ("c.csv", "id,text\na,x\nb\n", "c.csv:line 3: 1 fields where the header has 2"),
    ("c.csv", "id,body\na,x\n", "c.csv:line 1: no 'text' column (columns: id, body)"),
    ("c.bin", "\x00\x01\x02", "unknown corpus format '.bin'"),
])
def test_bad_rows_are_located(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        list(Corpus.open(path).shards(2))


def test_parquet_null_text_is_located(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["x", None]}), path)
    with pytest.raises(CorpusError, match=r"c\.parquet:row 2 \[text\]: the text is missing"):
        list(Corpus.open(path).shards())


def test_cli_bad_row_exit_1_and_nothing_written(claims_2017: Claims2017, tmp_path: Path) -> None:
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "text": "x"}\n{"id": "b", "txt": "y"}\n')
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["scan", str(corpus), "--out", str(out), "--db", str(claims_2017.path)])
    assert result.exit_code == 1
    assert f"{corpus}:line 2 [text]: the text is missing" in result.stderr
    assert not out.exists() and not Path(f"{out}.parts").exists()
    wrong = runner.invoke(app, ["scan", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "out.csv"),
                                "--db", str(claims_2017.path)])
    assert wrong.exit_code == 1 and "must end in .jsonl or .parquet" in wrong.stderr


# -- matching -----------------------------------------------------------------------------


def test_known_documents_match_their_case_and_unrelated_ones_write_no_row(
        reference: Reference, claims_2017: Claims2017) -> None:
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for row in reference.rows:
        by_doc.setdefault(row["doc_id"], []).append(row)
    assert set(by_doc) == {f"doc-{key}" for key in KNOWN}
    for key, (title, text) in KNOWN.items():
        top = by_doc[f"doc-{key}"][0]
        assert top["case_id"] == claims_2017.case(title).id, key
        assert top["label"] in ("match", "related") and top["evidence"][0]["input_sentence"] in text
        assert set(top) == {"doc_id", "case_id", "score", "label", "evidence"}
    # by shard, then input order, then best first; the scores are Matcher.match's own
    assert [row["doc_id"] for row in reference.rows] == sorted(
        (row["doc_id"] for row in reference.rows), key=lambda d: ORDER.index(d.removeprefix("doc-")))
    matcher = Matcher(claims_2017.store, load_embedders("use-m"))  # the scan's model
    for key, (_, text) in KNOWN.items():
        expected = matcher.match(text, limit=5, min_label=Label.RELATED)
        assert [(r["case_id"], r["score"], r["label"]) for r in by_doc[f"doc-{key}"]] == [
            (m.case_id, m.score, m.label) for m in expected]


def test_csv_and_parquet_corpora_and_parquet_output_give_the_same_rows(
        reference: Reference, claims_2017: Claims2017, tmp_path: Path) -> None:
    for name in ("corpus.csv", "corpus.parquet"):
        corpus = write_corpus(tmp_path / name, corpus_docs())
        out = tmp_path / f"{name}.matches.parquet"
        summary = job(corpus, out, claims_2017).run("local", workers=1)
        assert (summary.docs, summary.matched, summary.rows, summary.empty) == (10, 4, len(reference.rows), 1)
        assert pq.read_table(out).schema.names == ["doc_id", "case_id", "score", "label", "evidence"]
        assert read_rows(out) == reference.rows, name


def test_any_batch_gives_the_same_rows(reference: Reference, claims_2017: Claims2017, tmp_path: Path) -> None:
    """Documents matched together get the rows each gets alone: one at a time, two, and the
    whole corpus in one shard and one batch (the wordless document among them)."""
    for shard_size, batch in ((SHARD, 1), (SHARD, 2), (10, 10), (10, 1)):
        out = tmp_path / f"matches-{shard_size}-{batch}.jsonl"
        summary = ScanJob(Corpus.open(reference.corpus), out, str(claims_2017.path), "use-m", shard_size=shard_size,
                          batch=batch).run("local", workers=1)
        assert (summary.matched, summary.empty) == (4, 1)
        assert out.read_bytes() == reference.out.read_bytes(), (shard_size, batch)
    with pytest.raises(DisinfoError, match="--batch must be at least 1"):
        job(reference.corpus, tmp_path / "x.jsonl", claims_2017, batch=0)


def test_a_rerun_after_a_crash_does_only_the_missing_shards(
        reference: Reference, claims_2017: Claims2017, tmp_path: Path) -> None:
    out = tmp_path / "matches.jsonl"
    first: list[int] = []

    def crash(result: ShardResult) -> None:  # the machine "dies" once the first shard is written
        first.append(result.number)
        for child in multiprocessing.active_children():
            os.kill(child.pid or 0, signal.SIGKILL)

    with pytest.raises(DisinfoError, match="worker process died"):
        job(reference.corpus, out, claims_2017).run("local", workers=1, on_shard=crash)
    assert not out.exists() and 1 <= len(first) < 4
    second: list[int] = []
    summary = job(reference.corpus, out, claims_2017).run("local", workers=1,
                                                          on_shard=lambda r: second.append(r.number))
    assert sorted(first + second) == [0, 1, 2, 3]
    assert summary.resumed_shards == len(first) and summary.docs == 10 and summary.matched == 4
    assert out.read_bytes() == reference.out.read_bytes()

    # the output and one part lost: only that shard is matched again, the output is the same
    out.unlink()
    Path(f"{out}.parts/shard-000002.jsonl").unlink()
    Path(f"{out}.parts/shard-000003.jsonl.partial").write_text("half a part")  # a write a crash cut short
    third: list[int] = []
    job(reference.corpus, out, claims_2017).run("local", workers=1, on_shard=lambda r: third.append(r.number))
    assert third == [2]
    assert out.read_bytes() == reference.out.read_bytes()
    assert not Path(f"{out}.parts/shard-000003.jsonl.partial").exists()

    # other options would mix results: refused, unless the parts are discarded
    with pytest.raises(DisinfoError, match=r"holds the parts of another scan \(limit changed\)"):
        job(reference.corpus, out, claims_2017, limit=1).run("local", workers=1)
    summary = job(reference.corpus, out, claims_2017, limit=1).run("local", workers=1, restart=True)
    assert summary.resumed_shards == 0 and summary.rows == 4


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own deprecated settings
def test_ray_engine_gives_the_same_rows_as_local(reference: Reference, claims_2017: Claims2017,
                                                 tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray.jsonl"
        summary = job(reference.corpus, out, claims_2017).run("ray", workers=2)
    finally:
        ray.shutdown()
    assert (summary.engine, summary.docs, summary.matched) == ("ray", 10, 4)
    assert out.read_bytes() == reference.out.read_bytes()
