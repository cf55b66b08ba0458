"""`disinfodb review ISSUE`: the digest of one weekly review issue, as Markdown, a
standalone HTML page or an Atom feed (registered in cli.py as a top-level command)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from disinfodb.cli.support import DbOption, err, fail, opened
from disinfodb.files import write_atomic
from disinfodb.review import (
    DEFAULT_BASE_URL,
    FEED_ENTRIES,
    atom_feed,
    build_digest,
    clean_base_url,
    plural,
    to_html,
    to_markdown,
)


class ReviewFormat(StrEnum):
    md = "md"
    html = "html"
    atom = "atom"


def review(
    issue: Annotated[int, typer.Argument(help="The review issue number (the cases' `issue` field).",
                                         show_default=False)],
    fmt: Annotated[ReviewFormat, typer.Option(
        "--format", "-f", help="md (Markdown), html (one standalone page) or atom (a feed of the latest"
                               " issues up to ISSUE).")] = ReviewFormat.md,
    output: Annotated[str, typer.Option("--out", "-o", help="File to write ('-' for standard output).")] = "-",
    base_url: Annotated[str, typer.Option(
        "--base-url", envvar="DISINFODB_BASE_URL",
        help="Where the web app is served: links to cases and to the review point there.")] = DEFAULT_BASE_URL,
    entries: Annotated[int, typer.Option("--entries", min=1, max=100,
                                         help="Issues in an Atom feed.")] = FEED_ENTRIES,
    db: DbOption = None,
) -> None:
    """Build the digest of the cases reported in one weekly review issue, grouped by narrative."""
    try:
        base = clean_base_url(base_url)
    except ValueError as error:
        fail(str(error))
    target = None if output == "-" else Path(output)
    if target is not None and not target.parent.is_dir():
        fail(f"cannot write {target}: folder {target.parent} does not exist")
    with opened(db) as store:
        if fmt is ReviewFormat.atom:
            text = atom_feed(store, entries, base, up_to=issue)
            done = f"Atom feed of the issues up to {issue}"
        else:
            digest = build_digest(store, issue)
            text = to_markdown(digest, base) if fmt is ReviewFormat.md else to_html(digest, base)
            done = (f"Review {issue}: {plural(len(digest.cases), 'case')} in"
                    f" {plural(len(digest.groups), 'group')}")
    if target is None:
        sys.stdout.write(text)
        return
    with write_atomic(target) as partial:
        partial.write_text(text, encoding="utf-8")
    err.print(f"{done}, written to {target}")
