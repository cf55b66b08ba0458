"""The cases' commands: `init`, `import`, `search`, `show`, `history`, `stats`, `export`."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from disinfodb.cases import Case
from disinfodb.cli.matching import matcher_with_progress
from disinfodb.cli.support import (
    SHOWN_WARNINGS,
    CountryOpt,
    DbOption,
    IssueOpt,
    JsonOption,
    KeywordOpt,
    LanguageOpt,
    OutletOpt,
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
from disinfodb.embed import load_embedders
from disinfodb.errors import DisinfoError, ImportRejected
from disinfodb.export import EXPORTERS, export_cases
from disinfodb.files import write_atomic
from disinfodb.ingest import FORMATS, read_file
from disinfodb.ingest.base import Record
from disinfodb.ingest.pipeline import ImportReport, import_records
from disinfodb.matching import ClaimIndex, meaning, near_duplicates
from disinfodb.search import Results, SearchMode, Snippet, Sort
from disinfodb.store import Store
from disinfodb.vocab import language_name


def init(db: DbOption = None) -> None:
    """Create the database (or upgrade its schema) and say where it is."""
    with opened(db) as store:
        out.print(f"Database [bold]{store.display_location}[/] ready (schema version {store.schema_version}, "
                  f"{store.count():,} cases).")


def import_(
    files: Annotated[list[Path], typer.Argument(help="Files to import ('-' for standard input).",
                                                show_default=False)],
    fmt: Annotated[str | None, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}. "
                                            "Detected from name and content if left out.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; write nothing.")] = False,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Import the valid records even if some are bad.")] = False,
    near: Annotated[bool, typer.Option(
        "--near-duplicates/--no-near-duplicates",
        help="Warn when a new or changed case repeats an existing one (needs the model).")] = True,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import cases from listing text, JSON Lines, JSON, CSV or ClaimReview files.

    All files go in one transaction: if any record is bad, nothing is written
    (unless --skip-invalid), and every bad record is reported with file, line and field.
    """
    for path in files:
        if str(path) != "-" and not path.is_file():
            fail(f"{path}: no such file")
    with opened(db, {"fmt": "--format"}) as store:
        records = chain.from_iterable(read_file(str(path), fmt) for path in files)
        audit_before = store.last_audit_seq()
        try:
            with _progress(as_json) as tick:
                report = import_records(store, records, dry_run=dry_run,
                                        skip_invalid=skip_invalid, progress=tick)
        except ImportRejected as rejected:
            if as_json:
                print_json({"error": "rejected", "problems": [str(p) for p in rejected.problems]})
            fail(str(rejected))
        similar = _near_duplicates(store, store.changed_since(audit_before)) if near and not dry_run else []
        if as_json:
            print_json(report.as_dict() | {"cases": store.count(), "near_duplicates": [
                {"case_id": a, "similar_to": b, "score": score} for a, b, score in similar]})
        else:
            _print_report(report, store.count())
            for case_id, other, score in similar[:SHOWN_WARNINGS]:
                err.print(f"[yellow]near-duplicate:[/] {case_id} repeats {other} (similarity {score:.2f})")
            if len(similar) > SHOWN_WARNINGS:
                err.print(f"  ... and {len(similar) - SHOWN_WARNINGS:,} more (--json lists all)")


def _near_duplicates(store: Store, changed: list[str]) -> list[tuple[str, str, float]]:
    """Near-duplicates of the changed cases, or none (with a note) when the model is missing."""
    if not changed:
        return []
    try:
        embedders = load_embedders()[:1]  # the primary, fast model is enough to compare claims
        with embedding_progress() as progress:
            index = ClaimIndex.build(store, embedders, progress)
        return near_duplicates(store, index, changed)
    except DisinfoError as problem:  # the import itself has been committed: only warn
        err.print(f"[yellow]near-duplicate check skipped:[/] {escape(str(problem))}")
        return []


@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    if quiet or not err.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("reading")

        def tick(record: Record) -> None:
            progress.update(task, advance=1, description=f"{record.source}: {record.line:,} lines read")

        yield tick


def _print_report(report: ImportReport, total: int) -> None:
    verb = "Would import" if report.dry_run else "Imported"
    out.print(f"{verb} {report.records:,} records: [green]{report.created:,} created[/], "
              f"{report.updated:,} updated, {report.unchanged:,} unchanged, "
              f"{len(report.duplicates):,} exact duplicates skipped, "
              f"{len(report.conflicts):,} conflicting repeats skipped. Database: {total:,} cases.")
    for title, problems in (("Skipped (invalid)", report.problems), ("Duplicates", report.duplicates),
                            ("Conflicts", report.conflicts)):
        if problems:
            err.print(f"[yellow]{title}:[/]")
            for problem in problems[:SHOWN_WARNINGS]:
                err.print(f"  {escape(str(problem))}")
            if len(problems) > SHOWN_WARNINGS:
                err.print(f"  ... and {len(problems) - SHOWN_WARNINGS:,} more (--json lists all)")


def search(
    query: Annotated[str, typer.Argument(
        help='Words, "phrases", prefix*, -excluded, a OR b. Diacritics are ignored.')] = "",
    keyword: KeywordOpt = None, country: CountryOpt = None, language: LanguageOpt = None,
    outlet: OutletOpt = None, issue: IssueOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    sort: Annotated[Sort, typer.Option("--sort")] = Sort.RELEVANCE,
    mode: Annotated[SearchMode, typer.Option(
        "--mode", help="words (the query syntax), meaning (any language), or auto: both fused, "
                       "plain words for a query that uses the syntax.")] = SearchMode.AUTO,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    per_page: Annotated[int, typer.Option("--per-page", min=1, max=200)] = 10,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search cases by words or meaning and filters; shows facet counts for the result set.
    A search by meaning embeds the cases first if their vectors are not cached (once)."""
    request = query_of(query, keyword, country, language, outlet, issue, since, until,
                     sort=sort.value, mode=mode, page=page, per_page=per_page)
    with opened(db) as store:
        matcher = matcher_with_progress(store) if meaning.needs_matcher(request) else None
        results = meaning.search(store, request, matcher)
    if as_json:
        print_json(results.as_json())
    else:
        _print_results(results)


def _print_results(results: Results) -> None:
    first = (results.page - 1) * results.per_page
    by = {SearchMode.MEANING: " closest in meaning", SearchMode.AUTO: " by words and meaning"}.get(results.mode, "")
    out.print(f"[bold]{results.total:,}[/] cases{by}"
              + (f" (showing {first + 1}-{first + len(results.hits)})" if results.hits else ""))
    for number, hit in enumerate(results.hits, start=first + 1):
        meta = " · ".join(filter(None, [
            hit.published.isoformat() if hit.published else "", f"issue {hit.issue}" if hit.issue else "",
            ", ".join(language_name(code) for code in hit.languages), ", ".join(hit.countries[:4])]))
        out.print(f"\n[bold]{number}. {escape(hit.title)}[/]  [dim]{hit.id}[/]")
        if meta:
            out.print(f"   [dim]{escape(meta)}[/]")
        if hit.snippet.parts:
            out.print("   " + _marked(hit.snippet))
    if any(results.facets.values()):
        out.print()
        table = Table(title="Facets (top values)", show_lines=False, title_justify="left")
        table.add_column("facet", style="bold")
        table.add_column("values")
        for name, values in results.facets.items():
            if values:
                label = language_name if name == "language" else str
                table.add_row(name, ", ".join(f"{escape(label(v.label))} ({v.count})" for v in values[:6]))
        out.print(table)


def _marked(snippet: Snippet) -> str:
    """A snippet as Rich markup, its matched words highlighted."""
    return "".join(f"[bold yellow]{escape(piece)}[/]" if matched else escape(piece) for piece, matched in snippet.parts)


def show(case_id: Annotated[str, typer.Argument(help="The case id (slug).")],
         db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show one case, laid out like the public database."""
    with opened(db) as store:
        case = store.get(case_id)
    if as_json:
        print_json(case.model_dump(mode="json"))
        return
    out.print(f"[bold]Disinfo: {escape(case.title)}[/]  [dim]{case.id} · version {case.version}[/]")
    for heading, text in (("Summary", case.summary), ("Disproof", case.disproof)):
        if text:
            out.print(f"\n[bold]{heading}[/]\n\n{escape(text)}")
    out.print("\n[bold]publication/media[/]\n")
    for label, value in _meta_lines(case):
        if value:
            out.print(f"  • {label}: {escape(value)}")
    for outlet in case.outlets:
        out.print(f"  • Outlet: {escape(outlet.name)} {escape(outlet.url or '')}".rstrip())


def _meta_lines(case: Case) -> list[tuple[str, str]]:
    return [
        ("Reported in", f"Issue {case.issue}" if case.issue else ""),
        ("Date of publication", case.published.strftime("%d/%m/%Y") if case.published else ""),
        ("Article language(s)", ", ".join(language_name(c) for c in case.languages)),
        ("Countries and/or Regions discussed", ", ".join(case.countries)),
        ("Keywords", ", ".join(case.keywords)),
        ("Case URL", case.url or ""),
        ("Reported by", case.reported_by),
    ]


def history(case_id: Annotated[str, typer.Argument(help="The case id (slug).")],
            db: DbOption = None, as_json: JsonOption = False) -> None:
    """The audit trail of a case: every create, update and delete."""
    with opened(db) as store:
        entries = store.history(case_id)
    if not entries:
        fail(f"no history for case {case_id!r}")
    if as_json:
        print_json([dataclasses.asdict(e) | {"previous": e.previous.model_dump(mode="json")
                                             if e.previous else None} for e in entries])
        return
    table = Table("seq", "when", "action", "version", "by")
    for e in entries:
        table.add_row(str(e.seq), e.at.isoformat(timespec="seconds"), e.action, str(e.version), e.actor)
    out.print(table)


def stats(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Counts: cases, date range, distinct facet values."""
    with opened(db) as store:
        numbers = store.stats()
    if as_json:
        print_json(numbers)
        return
    out.print(f"[bold]{numbers['cases']:,}[/] cases in {numbers['path']} "
              f"(published {numbers['first_published']} .. {numbers['last_published']}; "
              f"{numbers['audit_entries']:,} audit entries)")
    out.print("distinct values: " + ", ".join(f"{k} {v:,}" for k, v in numbers["distinct"].items()))


def export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl, json, csv or claimreview.")] = "jsonl",
    output: Annotated[str, typer.Option("--out", help="File to write ('-' for standard output).")] = "-",
    raw_csv: Annotated[bool, typer.Option(
        "--raw-csv", help="CSV: keep cells that start with = + - @ verbatim (by default they get a leading ' so"
                          " spreadsheets never run them as formulas; importing restores them either way).")] = False,
    keyword: KeywordOpt = None, country: CountryOpt = None, language: LanguageOpt = None,
    outlet: OutletOpt = None, issue: IssueOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    db: DbOption = None,
) -> None:
    """Export cases (all, or those the filters select)."""
    if fmt not in EXPORTERS:
        fail(f"unknown export format {fmt!r}; one of {', '.join(EXPORTERS)}")
    request = query_of("", keyword, country, language, outlet, issue, since, until)
    with opened(db) as store:
        if output == "-":
            count = export_cases(fmt, store.iter_cases(request), sys.stdout, raw_csv)
        else:
            target = Path(output)
            if not target.parent.is_dir():
                fail(f"cannot write {target}: folder {target.parent} does not exist")
            with write_atomic(target) as partial, open(partial, "w", encoding="utf-8", newline="") as stream:
                count = export_cases(fmt, store.iter_cases(request), stream, raw_csv)
            err.print(f"Exported {count:,} cases to {target}")
