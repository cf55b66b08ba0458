"""`disinfodb narratives ...`: build narratives, read them, and the analysts' edits."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.table import Table

from disinfodb import trends
from disinfodb.cli.support import (
    DbOption,
    JsonOption,
    ModelOption,
    embedding_progress,
    fail,
    opened,
    out,
    print_json,
)
from disinfodb.errors import DisinfoError
from disinfodb.narratives import ClusterParams, Narrative, build_narratives

narratives_app = typer.Typer(help="Narratives: recurring storylines across cases.", no_args_is_help=True)


def narrative_json(narrative: Narrative) -> dict[str, object]:
    data = dataclasses.asdict(narrative)
    data["title"] = narrative.title
    return data


@narratives_app.command("build")
def build(
    model: ModelOption = None,
    min_size: Annotated[int, typer.Option("--min-size", min=2, help="Fewest cases in a narrative.")] = 15,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cluster the cases into narratives (again): ids, names, pins and merges are kept."""
    with opened(db) as store, embedding_progress() as progress:
        report = build_narratives(store, model, ClusterParams(min_cluster_size=min_size), progress)
    if as_json:
        print_json(report.as_dict())
        return
    out.print(f"{report.narratives} narratives in {report.themes} themes over {report.clustered:,} of"
              f" {report.cases:,} cases"
              f" ({report.continued} continued, {report.created} new, {report.retired} retired,"
              f" {report.pinned_cases:,} cases in pinned narratives) in {report.seconds:.1f} s")


@narratives_app.command("list")
def list_narratives(
    limit: Annotated[int, typer.Option("-n", "--limit", min=1)] = 30,
    retired: Annotated[bool, typer.Option("--retired", help="Also those no clustering continues.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Narratives, largest first."""
    with opened(db) as store:
        found = store.narratives.all(include_retired=retired)[:limit]
    if as_json:
        print_json([narrative_json(n) for n in found])
        return
    table = Table("id", "narrative", "theme", "cases", "first seen", "last seen", "top keywords")
    for n in found:
        title = n.title + (" [pinned]" if n.pinned else "") + (" [retired]" if n.retired else "")
        table.add_row(n.id, title, n.theme or "", f"{n.size:,}", str(n.first_seen or ""), str(n.last_seen or ""),
                      ", ".join(k for k, _ in n.keywords[:3]))
    out.print(table)


@narratives_app.command("themes")
def list_themes(
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, help="Narratives shown per theme.")] = 5,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Themes (broad groups of narratives), largest first, with their largest narratives."""
    with opened(db) as store:
        book = store.narratives
        themes = book.themes()
        members = {t.id: book.of_theme(t.id) for t in themes}
    if as_json:
        print_json([{**dataclasses.asdict(t), "members": [n.id for n in members[t.id]]} for t in themes])
        return
    for t in themes:
        out.print(f"[bold]{t.id}: {t.label}[/] ({t.size:,} cases, {t.narratives} narratives,"
                  f" {t.first_seen} .. {t.last_seen})")
        for n in members[t.id][:limit]:
            out.print(f"  {n.id:>5}  {n.title}  [dim]{n.size:,} cases[/]")


@narratives_app.command("show")
def show(narrative_id: str, limit: Annotated[int, typer.Option("-n", "--limit", min=1)] = 15,
         db: DbOption = None, as_json: JsonOption = False) -> None:
    """One narrative: its terms, keywords and newest cases."""
    with opened(db) as store:
        book = store.narratives
        narrative = book.get(narrative_id)
        members = book.members(narrative.id)
        titles = [(cid, store.get(cid).title) for cid in members[:limit]]
    if as_json:
        print_json({**narrative_json(narrative), "cases": members})
        return
    out.print(f"[bold]{narrative.id}: {narrative.title}[/] ({narrative.size:,} cases,"
              f" {narrative.first_seen} .. {narrative.last_seen})")
    out.print("terms: " + ", ".join(narrative.terms))
    out.print("keywords: " + ", ".join(f"{k} ({share:.0%})" for k, share in narrative.keywords))
    for cid, title in titles:
        out.print(f"  {title}  [dim]{cid}[/]")


@narratives_app.command("rename")
def rename(narrative_id: str, name: Annotated[str, typer.Argument(help="The new name ('' = computed label).")],
           db: DbOption = None) -> None:
    """Name a narrative; the name survives re-clustering."""
    with opened(db) as store:
        narrative = store.narratives.rename(narrative_id, name or None)
    out.print(f"{narrative.id} is now: {narrative.title}")


@narratives_app.command("merge")
def merge(source: str, target: str, db: DbOption = None) -> None:
    """Merge narrative SOURCE into TARGET (SOURCE's id then leads to TARGET)."""
    with opened(db) as store:
        narrative = store.narratives.merge(source, target)
    out.print(f"Merged {source} into {narrative.id}: {narrative.title} ({narrative.size:,} cases)")


@narratives_app.command("split")
def split(narrative_id: str, case_ids: list[str],
          name: Annotated[str | None, typer.Option("--name", help="Name of the new narrative.")] = None,
          db: DbOption = None) -> None:
    """Move the given cases into a new, pinned narrative."""
    with opened(db) as store:
        narrative = store.narratives.split(narrative_id, case_ids, name)
    out.print(f"New narrative {narrative.id}: {narrative.title} ({narrative.size:,} cases, pinned)")


@narratives_app.command("pin")
def pin(narrative_id: str, unpin: Annotated[bool, typer.Option("--unpin", help="Release it instead.")] = False,
        db: DbOption = None) -> None:
    """Freeze a narrative's cases: re-clustering leaves them where they are."""
    with opened(db) as store:
        narrative = store.narratives.pin(narrative_id, not unpin)
    out.print(f"{narrative.id} is {'pinned' if narrative.pinned else 'no longer pinned'}.")


@narratives_app.command("trend")
def trend(
    narrative_id: Annotated[str | None, typer.Argument(help="A narrative id (or use --keyword/--country/...).")] = None,
    keyword: Annotated[str | None, typer.Option("--keyword")] = None,
    country: Annotated[str | None, typer.Option("--country")] = None,
    language: Annotated[str | None, typer.Option("--language")] = None,
    period: Annotated[str, typer.Option("--period", help="week, month or year.")] = "month",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cases per period of a narrative (or a keyword, country, language), with their share
    of all cases of the period (volumes differ a lot from year to year)."""
    chosen = [(facet, value) for facet, value in (("narrative", narrative_id), ("keyword", keyword),
                                                 ("country", country), ("language", language)) if value]
    if len(chosen) != 1:
        fail("give one narrative id, or one of --keyword, --country, --language")
    facet, value = chosen[0]
    with opened(db) as store:
        try:
            found = trends.series(store, facet, value, period)  # type: ignore[arg-type]
        except DisinfoError as error:
            fail(str(error))
    if as_json:
        print_json({"facet": found.facet, "value": found.value, "label": found.label, "period": found.period,
                    "points": [dataclasses.asdict(p) for p in found.points]})
        return
    peak = max((p.share for p in found.points), default=0.0) or 1.0
    out.print(f"[bold]{found.label}[/]: {found.count:,} cases per {period} (share of all cases of the period)")
    for point in found.points:
        bar = "█" * round(30 * point.share / peak)
        out.print(f"{point.start.isoformat()}  {point.count:>5,}  {point.share:>6.1%}  {bar}")
