"""`disinfodb scan CORPUS --out FILE`: match every document of a corpus against the cases
(registered in cli.py as a top-level command; the work is in disinfodb/scan.py)."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from disinfodb.cli.support import SHOWN_WARNINGS, DbOption, embedding_lines, err, fail, opened
from disinfodb.embed import DEFAULT_MODEL
from disinfodb.errors import DisinfoError
from disinfodb.matching import Label
from disinfodb.scan import BATCH, SHARD_SIZE, Corpus, ScanJob, ScanSummary, ShardResult


class Engine(StrEnum):
    local = "local"
    ray = "ray"


def scan(
    corpus: Annotated[Path, typer.Argument(
        help="Documents to scan: .jsonl, .csv or .parquet with the fields id and text (lang and date optional); "
             "or a folder, read recursively, or a file of what analysts collect: web pages, PDFs, Telegram "
             "exports (result.json), RSS/Atom feeds, SRT/WebVTT subtitles, text.",
        show_default=False)],
    output: Annotated[Path, typer.Option(
        "--out", "-o", help="Where the matches go: .jsonl or .parquet, one row per (document, matched case).",
        show_default=False)],
    engine: Annotated[Engine, typer.Option(
        "--engine", help="local: a pool of processes on this machine; ray: Ray Data actors.")] = Engine.local,
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", min=1, help="Worker processes (or Ray actors), each with its own model and index "
                                       "(~280 MB, ~440 MB as a Ray actor, with 14k cases). Default: one per core "
                                       "(of the Ray cluster with --address).", show_default=False)] = None,
    address: Annotated[str | None, typer.Option(
        "--address", help="A Ray cluster to run on (--engine ray); its nodes must see the corpus and the "
                          "database at the same paths. Default: a local Ray.", show_default=False)] = None,
    min_label: Annotated[Label, typer.Option(
        "--min-label", help="The weakest label written; documents with nothing this strong write no row.")
    ] = Label.RELATED,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100,
                                       help="Matched cases written per document, at most.")] = 5,
    shard_size: Annotated[int, typer.Option(
        "--shard-size", min=1, help="Documents per shard, the unit of work and of resuming.")] = SHARD_SIZE,
    batch: Annotated[int, typer.Option(
        "--batch", min=1, help="Documents matched together (their sentences share one pass over the index); "
                               "the rows are the same for any batch.")] = BATCH,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Discard the finished shards of an earlier run (in OUT.parts) and start over.")] = False,
    model: Annotated[str | None, typer.Option(
        "--model", envvar="DISINFODB_MODEL", show_default=False,
        help=f"Embedding models (default {DEFAULT_MODEL}); use-m is several times faster.")] = None,
    db: DbOption = None,
) -> None:
    """Match every document of a corpus against the cases and write the matches.

    The work is cut into shards; each finished shard is kept in OUT.parts, so a run that
    crashed or was stopped resumes where it was when started again with the same options.
    """
    if address is not None and engine is not Engine.ray:
        fail("--address is for --engine ray")
    with opened(db) as store:
        db_path = store.location
    try:
        job = ScanJob(Corpus.open(corpus), output, db_path, model or DEFAULT_MODEL, limit=limit,
                      min_label=min_label, shard_size=shard_size, batch=batch)
        with _ScanProgress() as progress:
            summary = job.run(engine.value, workers, address, restart, on_start=progress.start,
                              on_shard=progress.advance, on_embedding=progress.embedding)
    except DisinfoError as error:
        fail(error, {"restart": "--restart", "min_label": "--min-label", "address": "--address", "engine": "--engine"})
    _print_summary(summary)


def _print_summary(summary: ScanSummary) -> None:
    resumed = (f" ({summary.scanned:,} now, {summary.docs - summary.scanned:,} in {summary.resumed_shards:,}"
               " shards of an earlier run)" if summary.resumed_shards else "")
    err.print(f"Scanned {summary.docs:,} documents{resumed}: {summary.matched:,} matched, "
              f"{summary.rows:,} rows written to {escape(summary.out)}")
    notes = [f"{summary.empty:,} had no words to match"] if summary.empty else []
    if summary.truncated:
        notes.append(f"{summary.truncated:,} were too long and matched on their start")
    if notes:
        err.print("Of the documents, " + "; ".join(notes) + ".")
    if summary.skipped:
        err.print(f"Skipped {len(summary.skipped):,} part(s) of the input that could not be read:")
        for problem in summary.skipped[:SHOWN_WARNINGS]:
            err.print(f"  {escape(problem)}")
        if len(summary.skipped) > SHOWN_WARNINGS:
            err.print(f"  ... and {len(summary.skipped) - SHOWN_WARNINGS:,} more")
    if summary.scanned:
        err.print(f"{summary.docs_per_s:,.1f} docs/s with {summary.workers} {summary.engine} worker(s) "
                  f"({summary.seconds:,.1f} s, start-up included; peak worker memory "
                  f"{summary.peak_worker_rss_mb:,.0f} MB)")


class _ScanProgress:
    """Rich progress on stderr: embedding the cases (when needed), then documents."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                 console=err, transient=True, disable=not err.is_terminal)
        self.task: TaskID | None = None
        self.embed_tasks: dict[str, TaskID] = {}
        self.lines = embedding_lines()

    def __enter__(self) -> _ScanProgress:
        self.progress.start()
        logging.getLogger("ray").setLevel(logging.ERROR)  # Ray's INFO lines would break the bar
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def embedding(self, model: str, done: int, total: int) -> None:
        if not self.progress.console.is_terminal:
            self.lines(model, done, total)
            return
        if model not in self.embed_tasks:
            self.embed_tasks[model] = self.progress.add_task(f"embedding {total:,} cases with {model}",
                                                             total=total, rate="")
        self.progress.update(self.embed_tasks[model], completed=done, total=total)

    def start(self, total: int, done: int) -> None:
        self.task = self.progress.add_task("documents", total=total, completed=done, rate="")
        self.started = done
        self.progress.start_task(self.task)

    def advance(self, result: ShardResult) -> None:
        if self.task is None:
            return
        self.progress.advance(self.task, result.docs)
        task = self.progress.tasks[self.task]
        elapsed = task.elapsed or 0.0
        rate = (task.completed - self.started) / elapsed if elapsed else 0.0
        self.progress.update(self.task, rate=f"{rate:,.0f} docs/s")
