"""The insight pages: narratives (list and detail), trends for a search's filters, and
keyword x country co-occurrence. Charts are inline SVG from `disinfodb.server.web.charts`; every
chart has a table or list beside it with the same numbers and links."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from disinfodb import trends
from disinfodb.facets import GROUPING_LABELS, NARRATIVE, Grouping, facet
from disinfodb.search import SearchQuery
from disinfodb.server.auth import PageEditor, PageSearcher, PageVisitor, ServiceDep
from disinfodb.server.params import OptionalDate, SearchParams
from disinfodb.server.web import charts
from disinfodb.server.web.links import SearchLinks
from disinfodb.server.web.pages import check_csrf, render

NARRATIVE_MARGIN = timedelta(days=92)
router = APIRouter(include_in_schema=False)

PeriodParam = Annotated[trends.Period, Query()]
MEMBERS_PER_PAGE = 50
TOP = 15
MAX_COMPARE = 6
LINE_WIDTH = 1080  # the page's width: the chart scales down on narrow screens
_FILTER_PARAMS = ("q", "keyword", "country", "language", "outlet", "issue", "since", "until")


class PageLinks(SearchLinks):
    """SearchLinks for another page: the same filters, kept in that page's own URLs."""

    def __init__(self, path: str, params: list[tuple[str, str]]) -> None:
        super().__init__(params)
        self.path = path

    def _url(self, params: list[tuple[str, str]]) -> str:
        return f"{self.path}?{urlencode(params)}" if params else self.path

    def search(self, *added: tuple[str, str]) -> str:
        """The search page for these filters, with more filters added."""
        kept = [(k, v) for k, v in self.params if k in _FILTER_PARAMS]
        return "/?" + urlencode([*kept, *added]) if kept or added else "/"

    def filters(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.params if k in _FILTER_PARAMS]


def _filter_value(grouping: str, value: trends.TopValue) -> str:
    """What a search filter for this value takes (codes for languages, else the label)."""
    return facet(grouping).filter_value(value.value, value.label)


def _shown(grouping: str, value: trends.TopValue) -> str:
    return value.label if grouping == NARRATIVE else facet(grouping).shown(value.value, value.label)


def _value_search(links: PageLinks, grouping: str, value: trends.TopValue) -> str | None:
    """The search for the page's filters plus this value (a narrative: its page)."""
    if grouping == NARRATIVE:
        return f"/narratives/{value.value}"
    if grouping == "year":
        return links.search(("since", f"{value.value}-01-01"), ("until", f"{value.value}-12-31"))
    return links.search((grouping, _filter_value(grouping, value)))


def _points_table(series: trends.Series) -> list[trends.Point]:
    """The periods worth listing under a chart: the non-empty ones."""
    return [p for p in series.points if p.count]


# -- narratives ----------------------------------------------------------------------------

@router.get("/narratives", response_class=HTMLResponse)
def narratives_page(service: ServiceDep, request: Request, _: PageVisitor,
                    weeks: Annotated[int, Query(ge=1, le=520)] = 12,
                    as_of: OptionalDate = None) -> HTMLResponse:
    store = service.reader
    narratives = store.narratives.all()
    starts, table = trends.series_table(store, NARRATIVE, "month")
    growing = trends.emerging(store, weeks=weeks, as_of=as_of)
    emerging = {g.value: g for g in growing.items}
    spans = (f"{starts[0].strftime('%b %Y')} to {starts[-1].strftime('%b %Y')}" if starts else "")
    sparks = {n.id: charts.sparkline(table.get(n.id, []), f"{n.title}: cases per month, {spans}")
              for n in narratives}
    return render(request, "narratives.html", {
        "title": "Narratives", "narratives": narratives, "sparks": sparks, "emerging": emerging,
        "growing": growing, "weeks": weeks, "as_of": as_of})


@router.get("/narratives/{narrative_id}", response_class=HTMLResponse)
def narrative_page(service: ServiceDep, request: Request, narrative_id: str, _: PageVisitor,
                   period: PeriodParam = "month", page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    store = service.reader
    narrative = store.narratives.get(narrative_id)
    # Its own time span (a quarter either side), not the whole database's.
    span = (SearchQuery(since=narrative.first_seen - NARRATIVE_MARGIN, until=narrative.last_seen + NARRATIVE_MARGIN)
            if narrative.first_seen and narrative.last_seen else None)
    series = trends.series(store, NARRATIVE, narrative.id, period, span)
    counts = charts.line_chart(
        [charts.LineSeries("Cases", [(p.start, p.count) for p in series.points],
                           [f"{p.share:.1%} of {p.total:,} cases" for p in series.points])],
        f"{narrative.title}: cases per {period}", _series_desc(series, share=False), period=period,
        chart_id="narrative-counts", width=LINE_WIDTH, height=260)
    shares = charts.line_chart(
        [charts.LineSeries("Share", [(p.start, p.share) for p in series.points],
                           [f"{p.count:,} of {p.total:,} cases" for p in series.points])],
        f"{narrative.title}: share of all cases per {period}", _series_desc(series, share=True), share=True,
        period=period, chart_id="narrative-share", width=LINE_WIDTH, height=260)
    members, total = store.narratives.members_page(narrative.id, page, MEMBERS_PER_PAGE)
    title = store.title_of(narrative.representative) if narrative.representative else None
    representative = (narrative.representative, title) if title is not None else None
    return render(request, "narratives_detail.html", {
        "title": narrative.title, "narrative": narrative, "series": series, "counts_chart": counts,
        "share_chart": shares, "rows": _points_table(series), "members": members, "total": total, "page": page,
        "pages": max(1, -(-total // MEMBERS_PER_PAGE)), "period": period,
        "representative": representative, "saved": request.query_params.get("saved"),
        "others": [n for n in store.narratives.all() if n.id != narrative.id]})


def _series_desc(series: trends.Series, share: bool) -> str:
    """A sentence that says what a chart shows: its span, total and peak."""
    if not series.points or not series.count:
        return f"{series.label}: no dated cases."
    peak = series.peak(share=share)
    assert peak is not None
    what = f"{peak.share:.1%} of all cases" if share else f"{peak.count:,} cases"
    return (f"{series.label}: {series.count:,} cases from {series.points[0].start.strftime('%b %Y')} to"
            f" {series.points[-1].start.strftime('%b %Y')}; the peak is {what} in"
            f" {charts.period_text(peak.start, series.period)}.")


# -- trends ----------------------------------------------------------------------------------

@router.get("/trends", response_class=HTMLResponse)
def trends_page(service: ServiceDep, request: Request, query: SearchParams, searcher: PageSearcher,
                period: PeriodParam = "month", show: Literal["count", "share"] = "count",
                compare: Annotated[list[str], Query(max_length=200)] = [],  # noqa: B006 - read, never mutated
                ) -> HTMLResponse:
    links = PageLinks("/trends", request.query_params.multi_items())
    share = show == "share"
    compared = list(dict.fromkeys(v.strip() for v in compare if v.strip()))[:MAX_COMPARE]
    with service.searching(searcher.budget_key) as store:
        lines = [trends.series(store, "keyword", value, period, query) for value in compared]
        matching = trends.series(store, None, None, period, query)
        tops = {facet: trends.top_values(store, facet, query, TOP) for facet in ("keyword", "country")}
    shown = lines or [matching]
    what = "share of all cases" if share else "cases"
    chart = charts.line_chart(
        [charts.LineSeries(s.label, [(p.start, p.share if share else p.count) for p in s.points],
                           [f"{p.count:,} of {p.total:,} cases" for p in s.points],
                           href=links.search(("keyword", s.label)) if s.facet else None) for s in shown],
        f"{'Compared keywords' if lines else matching.label}: {what} per {period}",
        " ".join(_series_desc(s, share) for s in shown), share=share, period=period, chart_id="trend",
        width=LINE_WIDTH, height=340)
    bars = {}
    for name, top in tops.items():
        bars[name] = charts.bar_chart(
            [charts.Bar(_shown(name, v), v.count, href=_value_search(links, name, v),
                        note=f"{_shown(name, v)}: {v.count:,} cases ({v.share:.1%}); show them")
             for v in top],
            f"Top {GROUPING_LABELS[name].lower()} of {matching.count:,} {matching.label.lower()}",
            f"The {len(top)} most frequent {name} values among the cases of this filter, with their counts.",
            chart_id=f"top-{name}", width=500, colour=charts.PALETTE[0] if name == "keyword" else charts.PALETTE[2])
    return render(request, "trends.html", {
        "title": "Trends", "query": query, "links": links, "chart": chart, "series": shown, "matching": matching,
        "bars": bars, "tops": tops, "period": period, "show": show, "compare": compared,
        "value_search": _value_search, "shown": _shown})


# -- co-occurrence -------------------------------------------------------------------------

@router.get("/cooccurrence", response_class=HTMLResponse)
def cooccurrence_page(service: ServiceDep, request: Request, query: SearchParams, searcher: PageSearcher,
                      rows: Grouping = "keyword", cols: Grouping = "country",
                      n: Annotated[int, Query(ge=2, le=30)] = 12,
                      shade: Literal["count", "lift"] = "count") -> HTMLResponse:
    links = PageLinks("/cooccurrence", request.query_params.multi_items())
    with service.searching(searcher.budget_key) as store:
        found = trends.cooccurrence(store, rows, cols, query, n=n, pairs=30)
    row_names = [_shown(rows, v) for v in found.rows]
    col_names = [_shown(cols, v) for v in found.cols]
    heat = charts.heat_map(
        row_names, col_names, found.counts,
        f"{GROUPING_LABELS[rows]} × {GROUPING_LABELS[cols].lower()}: cases with both",
        f"Cases of this filter ({found.total:,}) that carry both values, for the {len(found.rows)} most frequent"
        f" {rows} and {len(found.cols)} most frequent {cols} values; "
        + ("cells shaded by lift (how much more often than chance)." if shade == "lift" else "cells shaded by count."),
        shade=found.lift if shade == "lift" else None,
        notes=[[f"lift {lift:.2f}" for lift in row] for row in found.lift],
        hrefs=[[_pair_search(links, rows, r, cols, c) for c in found.cols] for r in found.rows],
        chart_id="cooccurrence")
    return render(request, "cooccurrence.html", {
        "title": "Co-occurrence", "query": query, "links": links, "found": found, "heat": heat, "rows": rows,
        "cols": cols, "n": n, "shade": shade, "axes": GROUPING_LABELS, "pair_search": _pair_search,
        "value_search": _value_search, "shown": _shown})


def _pair_search(links: PageLinks, rows: str, row: trends.TopValue, cols: str, col: trends.TopValue) -> str | None:
    """The search for both values (with the page's filters); None where a narrative is one."""
    if NARRATIVE in (rows, cols) or "year" in (rows, cols):
        return None
    return links.search((rows, _filter_value(rows, row)), (cols, _filter_value(cols, col)))


# -- analysts' edits (editors) ---------------------------------------------------------------

@router.post("/narratives/{narrative_id}/edit")
def edit_narrative(service: ServiceDep, request: Request, narrative_id: str, _: PageEditor,
                   action: Annotated[Literal["rename", "pin", "unpin", "merge"], Form()],
                   csrf: Annotated[str, Form()] = "", name: Annotated[str, Form(max_length=300)] = "",
                   into: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Rename, pin/unpin or merge a narrative; then back to (what is now) its page."""
    check_csrf(request, csrf)
    book = service.writer.narratives
    if action == "rename":
        changed = book.rename(narrative_id, name or None)
    elif action == "merge":
        changed = book.merge(narrative_id, into.strip())
    else:
        changed = book.pin(narrative_id, action == "pin")
    return RedirectResponse(f"/narratives/{quote(changed.id)}?saved={action}", status_code=303)
