"""`disinfodb watch SOURCE...`: read sources again and again, match what is new, queue the
hits for triage (registered in cli/__init__.py; the work is in disinfodb/watch/)."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn

from disinfodb.cli.support import SHOWN_WARNINGS, DbOption, ModelOption, embedding_progress, err, fail, opened
from disinfodb.errors import DisinfoError
from disinfodb.matching import Label, open_matcher
from disinfodb.store import Store
from disinfodb.watch import PassSummary, Watch, Webhook


class MinLabel(StrEnum):
    related = "related"
    match = "match"


def watch(
    sources: Annotated[list[str], typer.Argument(
        help="Folders or files of collected documents (pages, PDFs, Telegram exports, RSS/Atom feeds, subtitles, "
             "text), or feed URLs (http/https).", show_default=False)],
    once: Annotated[bool, typer.Option("--once", help="One pass over the sources, then stop.")] = False,
    min_label: Annotated[MinLabel, typer.Option(
        "--min-label", help="The weakest hit queued for triage.")] = MinLabel.related,
    interval: Annotated[float, typer.Option(
        "--interval", min=1.0, help="Seconds between the starts of two passes.")] = 300.0,
    webhook: Annotated[str | None, typer.Option(
        "--webhook", envvar="DISINFODB_WEBHOOK", show_default=False,
        help="POST each new hit as JSON to this URL (retried 3 times; failures are logged, the watch goes on).")
    ] = None,
    model: ModelOption = None,
    db: DbOption = None,
) -> None:
    """Watch sources for documents that repeat debunked cases, and queue the hits for triage.

    Each document is matched once: the watch records every document it has read (and
    fingerprints of its text, so a copy of one seen before is not matched again) in the
    database, one transaction per document, so a watch stopped at any moment resumes where it was.
    """
    with opened(db) as store:
        notifier = Webhook(webhook) if webhook else None
        try:
            with embedding_progress() as embedding:
                matcher = open_matcher(store, model, embedding)
            watcher = Watch(store, matcher, sources, Label(min_label.value), notifier)
            cases = _cases_version(store)
            while True:
                started = time.monotonic()
                _report(store, _pass(watcher))
                if once:
                    break
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
                if _cases_version(store) != cases:  # a case was added or edited: match against it too
                    watcher.matcher, cases = open_matcher(store, model), _cases_version(store)
        except KeyboardInterrupt:
            err.print("stopped: every document recorded so far stays recorded")
        except DisinfoError as error:
            fail(error)
        finally:
            if notifier is not None:
                notifier.close()
                if notifier.failed:
                    err.print(f"webhook: {notifier.delivered:,} hits delivered, {notifier.failed:,} not delivered")


def _cases_version(store: Store) -> tuple[int, int]:
    return store.count(), store.last_audit_seq()


def _pass(watcher: Watch) -> PassSummary:
    """One pass, with a live count of what became of the documents (a line per source off a terminal)."""
    counts: dict[str, int] = {}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True,
                  disable=not err.is_terminal) as progress:
        task = progress.add_task("reading")

        def advance(source: str, outcome: str) -> None:
            counts[outcome] = counts.get(outcome, 0) + 1
            progress.update(task, description=f"{escape(source)}: " + ", ".join(
                f"{n:,} {what}" for what, n in sorted(counts.items())))

        return watcher.run_pass(advance)


def _report(store: Store, summary: PassSummary) -> None:
    recorded, copies = store.triage.counts()
    err.print(f"Read {summary.documents:,} documents: {summary.known:,} known, {summary.copies:,} copies of "
              f"others, {summary.matched:,} matched, {summary.with_hits:,} with hits; {summary.queued:,} added to "
              f"the triage queue ({summary.files_unchanged:,} unchanged files not opened; {recorded:,} documents "
              f"recorded in all, {copies:,} of them copies)")
    if summary.skipped:
        err.print(f"Skipped {len(summary.skipped):,} part(s) of the input that could not be read:")
        for problem in summary.skipped[:SHOWN_WARNINGS]:
            err.print(f"  {escape(str(problem))}")
