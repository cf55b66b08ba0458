"""What every command module shares: consoles, the --db/--json options, clean failures."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from disinfodb.errors import DisinfoError
from disinfodb.search import SearchQuery
from disinfodb.store import Store, open_store

if TYPE_CHECKING:  # matching pulls in the models' libraries: only commands that match import it
    from disinfodb.matching import EmbeddingProgress

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # messages stay one line per problem

DbOption = Annotated[str | None, typer.Option(
    "--db", envvar="DISINFODB_DB", help="SQLite file (default ./disinfodb.sqlite).",
    show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
SHOWN_WARNINGS = 10


Flags = Mapping[str, str]  # a library parameter -> the command's flag for it


def fail(message: str | DisinfoError, flags: Flags | None = None) -> NoReturn:
    """Exit 1 with a message. Library messages name parameters in backticks (`force`);
    `flags` says which flag of this command each one is (--force)."""
    text = str(message)
    for parameter, flag in (flags or {}).items():
        text = text.replace(f"`{parameter}`", flag)
    err.print(f"[bold red]error:[/] {escape(text)}")
    raise typer.Exit(1)


@contextmanager
def opened(db: str | None, flags: Flags | None = None) -> Iterator[Store]:
    """Open the store and turn library errors into a clean exit 1 (see `fail`)."""
    store = None
    try:
        store = open_store(db)
        yield store
    except DisinfoError as error:
        fail(error, flags)
    finally:
        if store is not None:
            store.close()


KeywordOpt = Annotated[list[str] | None, typer.Option("--keyword", "-k", help="Keyword (repeatable).")]
CountryOpt = Annotated[list[str] | None, typer.Option("--country", "-c", help="Country or region.")]
LanguageOpt = Annotated[list[str] | None, typer.Option("--language", "-l", help="Language name or code.")]
OutletOpt = Annotated[list[str] | None, typer.Option("--outlet", "-o", help="Outlet name.")]
IssueOpt = Annotated[list[int] | None, typer.Option("--issue", "-i", help="Review issue number.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Published on or after YYYY-MM-DD.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Published on or before YYYY-MM-DD.")]
ModelOption = Annotated[str | None, typer.Option(
    "--model", envvar="DISINFODB_MODEL",
    help="Embedding models: use-m+e5-small (default), use-m (fastest) or e5-small.",
    show_default=False)]


def query_of(text: str, keyword: list[str] | None, country: list[str] | None,
           language: list[str] | None, outlet: list[str] | None, issue: list[int] | None,
           since: str | None, until: str | None, **extra: Any) -> SearchQuery:
    """The search query that a command's filter options describe (exit 1 for a bad one)."""
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


def embedding_lines() -> EmbeddingProgress:
    """Embedding progress as a line at the start and the end of each model (logs, CI)."""
    started: dict[str, float] = {}

    def lines(model: str, done: int, total: int) -> None:
        if done == 0:
            started[model] = time.perf_counter()
            err.print(f"embedding the claims of {total:,} cases with {model} (once: the vectors are cached)")
        elif done == total:
            err.print(f"embedded {total:,} cases with {model} in {time.perf_counter() - started[model]:.1f} s")

    return lines


@contextmanager
def embedding_progress() -> Iterator[EmbeddingProgress]:
    """Says what is embedded, and how far: a bar per model on a terminal, embedding_lines
    otherwise. Embedding 13,665 cases the first time takes about a minute; a command that
    sat silent through it would look hung."""
    if not err.is_terminal:
        yield embedding_lines()
        return
    with Progress(*Progress.get_default_columns(), console=err, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def bar(model: str, done: int, total: int) -> None:
            if model not in tasks:
                tasks[model] = progress.add_task(f"embedding {total:,} cases with {model}", total=total)
            progress.update(tasks[model], completed=done, total=total)

        yield bar


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
