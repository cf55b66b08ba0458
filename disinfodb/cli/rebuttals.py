"""`disinfodb rebuttals`: the disproof paragraphs that several cases share."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from disinfodb.cli.support import DbOption, JsonOption, opened, out, print_json
from disinfodb.rebuttals import RebuttalGroup, shared_rebuttals

SHOWN_CHARS = 300
SHOWN_IDS = 3


def rebuttals(
    min_cases: Annotated[int, typer.Option("--min-cases", min=2, help="Show groups of at least this many cases.")] = 2,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many groups.")] = 20,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Shared rebuttals: disproof paragraphs used by several cases, largest group first."""
    with opened(db) as store:
        groups = shared_rebuttals(store, min_cases)
    shown = groups[:limit]
    if as_json:
        print_json({"total": len(groups), "min_cases": min_cases, "groups": [_json(g) for g in shown]})
        return
    if not groups:
        out.print(f"No disproof paragraph is shared by {min_cases} or more cases.")
        return
    are = "disproof paragraph is" if len(groups) == 1 else "disproof paragraphs are"
    out.print(f"[bold]{len(groups):,}[/] {are} shared by {min_cases} or more cases"
              + (f" (showing the {len(shown)} largest)" if len(shown) < len(groups) else ""))
    table = Table(show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("cases", justify="right")
    table.add_column("paragraph (as first used)", ratio=3)
    table.add_column("case ids (oldest first)", ratio=2, overflow="fold")  # whole ids, to copy
    for number, group in enumerate(shown, start=1):
        text = group.text if len(group.text) <= SHOWN_CHARS else group.text[:SHOWN_CHARS].rstrip() + "…"
        ids = group.case_ids[:SHOWN_IDS]
        more = f"\n[dim]and {group.count - len(ids)} more[/]" if group.count > len(ids) else ""
        table.add_row(str(number), str(group.count), escape(text), escape("\n".join(ids)) + more)
    out.print(table)


def _json(group: RebuttalGroup) -> dict[str, object]:
    return {"key": group.key, "text": group.text, "count": group.count, "case_ids": group.case_ids,
            "cases": [{"id": c.id, "title": c.title, "published": c.published.isoformat() if c.published else None}
                      for c in group.cases]}
