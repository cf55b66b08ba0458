"""The insight pages: narratives (list and detail), trends for a search's filters, and
keyword x country co-occurrence. Charts are inline SVG from `disinfodb.server.web.charts`; every
chart has a table or list beside it with the same numbers and links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from gettext import NullTranslations
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from disinfodb import trends
from disinfodb.facets import NARRATIVE, THEME, Grouping, facet
from disinfodb.narratives import Narrative, Theme
from disinfodb.search import SearchQuery
from disinfodb.server.auth import PageEditor, PageSearcher, PageVisitor, ServiceDep
from disinfodb.server.params import OptionalDate, SearchParams
from disinfodb.server.web import charts
from disinfodb.server.web.i18n import (
    FACET_LABELS,
    N_,
    PageLanguage,
    chart_wording,
    facet_label,
    month_text,
    number_text,
    page_language,
    percent_text,
    translator,
    with_lang,
)
from disinfodb.server.web.links import SearchLinks
from disinfodb.server.web.pages import check_csrf, redirect, render

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

    def __init__(self, path: str, params: list[tuple[str, str]], lang: str | None) -> None:
        super().__init__(params, lang)
        self.path = path

    def _url(self, params: list[tuple[str, str]]) -> str:
        return self._at(self.path, params)

    def search(self, *added: tuple[str, str]) -> str:
        """The search page for these filters, with more filters added."""
        return self._at("/", [*self.filters(), *added])

    def filters(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.params if k in _FILTER_PARAMS]

    def elsewhere(self, path: str) -> str:
        """Another insight page for the same filters."""
        return self._at(path, self.filters())


@dataclass(frozen=True)
class Words:
    """What the insight pages write in Python (chart titles, descriptions, tooltips), in a page's language."""

    lang: str
    tr: NullTranslations

    @classmethod
    def of(cls, request: Request) -> Words:
        language: PageLanguage = page_language(request)
        return cls(language.code, translator(request))

    def n(self, value: float) -> str:
        return number_text(value, self.lang)

    def pct(self, share: float, decimals: int = 1) -> str:
        return percent_text(share, self.lang, decimals)

    def of_cases(self, count: int, total: int) -> str:
        return self.tr.ngettext("%(count)s of %(total)s case", "%(count)s of %(total)s cases", total
                                ) % {"count": self.n(count), "total": self.n(total)}

    def share_of(self, share: float, total: int) -> str:
        return self.tr.ngettext("%(share)s of %(total)s case", "%(share)s of %(total)s cases", total
                                ) % {"share": self.pct(share), "total": self.n(total)}

    def per(self, period: str, share: bool) -> str:
        """ "cases per month", "share of all cases per month" """
        return self.tr.gettext((_SHARE_PER if share else _CASES_PER)[period])

    def label(self, series: trends.Series) -> str:
        """A series' name: a value's or a narrative's as recorded, the words of its own translated."""
        return self.tr.gettext(_SERIES_LABELS[series.label]) if series.facet is None else series.label

    def grouping(self, name: str) -> str:
        return self.tr.gettext(FACET_LABELS[name])

    def shown(self, grouping: str, value: trends.TopValue) -> str:
        if grouping in (NARRATIVE, THEME):
            return value.label
        return facet_label(grouping, value.value, value.label, self.lang)

    def describe(self, series: trends.Series, share: bool) -> str:
        """A sentence that says what a chart shows: its span, total and peak."""
        label = self.label(series)
        if not series.points or not series.count:
            return self.tr.gettext("%(label)s: no dated cases.") % {"label": label}
        peak = series.peak(share=share)
        assert peak is not None
        wording = chart_wording(self.lang)
        what = (self.tr.gettext("%(share)s of all cases") % {"share": self.pct(peak.share)} if share else
                self.tr.ngettext("%(num)s case", "%(num)s cases", peak.count) % {"num": self.n(peak.count)})
        return self.tr.ngettext(
            "%(label)s: %(num)s case from %(first)s to %(last)s; the peak is %(peak)s in %(when)s.",
            "%(label)s: %(num)s cases from %(first)s to %(last)s; the peak is %(peak)s in %(when)s.",
            series.count) % {"label": label, "num": self.n(series.count),
                             "first": month_text(series.points[0].start, self.lang),
                             "last": month_text(series.points[-1].start, self.lang), "peak": what,
                             "when": charts.period_text(peak.start, series.period, wording)}


_CASES_PER = {"week": N_("cases per week"), "month": N_("cases per month"), "year": N_("cases per year")}
_SHARE_PER = {"week": N_("share of all cases per week"), "month": N_("share of all cases per month"),
              "year": N_("share of all cases per year")}
_SERIES_LABELS = {"All cases": N_("All cases"), "Matching cases": N_("Matching cases")}  # trends.series names them


def _filter_value(grouping: str, value: trends.TopValue) -> str:
    """What a search filter for this value takes (codes for languages, else the label)."""
    return facet(grouping).filter_value(value.value, value.label)


def _value_search(links: PageLinks, grouping: str, value: trends.TopValue) -> str | None:
    """The search for the page's filters plus this value (a narrative: its page)."""
    if grouping == NARRATIVE:
        return with_lang(f"/narratives/{value.value}", links.lang)
    if grouping == THEME:
        return with_lang(f"/narratives?theme={value.value}", links.lang)
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
                    as_of: OptionalDate = None,
                    theme: Annotated[str | None, Query(max_length=20, description="Only this theme's")] = None
                    ) -> HTMLResponse:
    """The narratives grouped by theme (largest first), emerging ones marked at both levels."""
    words = Words.of(request)
    store = service.reader
    book = store.narratives
    themes = [book.theme(theme)] if theme else book.themes()
    narratives = [n for n in book.all() if not theme or n.theme == theme]
    by_theme: dict[str | None, list[Narrative]] = {}
    for n in narratives:
        by_theme.setdefault(n.theme, []).append(n)
    sections: list[tuple[Theme | None, list[Narrative]]] = [(t, by_theme.get(t.id, [])) for t in themes]
    if not theme and by_theme.get(None):  # built before themes existed, or placed by no clustering yet
        sections.append((None, by_theme[None]))
    starts, table = trends.series_table(store, NARRATIVE, "month")
    growing = trends.emerging(store, weeks=weeks, as_of=as_of)
    growing_themes = trends.emerging(store, weeks=weeks, as_of=as_of, facet=THEME)
    emerging = {g.value: g for g in [*growing.items, *growing_themes.items]}
    spans = (words.tr.gettext("%(first)s to %(last)s") % {"first": month_text(starts[0], words.lang),
                                                         "last": month_text(starts[-1], words.lang)}
             if starts else "")
    sparks = {n.id: charts.sparkline(table.get(n.id, []), words.tr.gettext("%(title)s: cases per month, %(span)s")
                                     % {"title": n.title, "span": spans})
              for n in narratives}
    return render(request, "narratives.html", {
        "title": words.tr.gettext("Narratives"), "narratives": narratives, "sections": sections, "sparks": sparks,
        "emerging": emerging, "growing": growing, "growing_themes": growing_themes, "weeks": weeks, "as_of": as_of,
        "theme": theme})


@router.get("/narratives/{narrative_id}", response_class=HTMLResponse)
def narrative_page(service: ServiceDep, request: Request, narrative_id: str, _: PageVisitor,
                   period: PeriodParam = "month", page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    words = Words.of(request)
    wording = chart_wording(words.lang)
    store = service.reader
    narrative = store.narratives.get(narrative_id)
    # Its own time span (a quarter either side), not the whole database's.
    span = (SearchQuery(since=narrative.first_seen - NARRATIVE_MARGIN, until=narrative.last_seen + NARRATIVE_MARGIN)
            if narrative.first_seen and narrative.last_seen else None)
    series = trends.series(store, NARRATIVE, narrative.id, period, span)
    counts = charts.line_chart(
        [charts.LineSeries(words.tr.gettext("Cases"), [(p.start, p.count) for p in series.points],
                           [words.share_of(p.share, p.total) for p in series.points])],
        f"{narrative.title}: {words.per(period, share=False)}", words.describe(series, share=False), period=period,
        chart_id="narrative-counts", width=LINE_WIDTH, height=260, wording=wording)
    shares = charts.line_chart(
        [charts.LineSeries(words.tr.gettext("Share"), [(p.start, p.share) for p in series.points],
                           [words.of_cases(p.count, p.total) for p in series.points])],
        f"{narrative.title}: {words.per(period, share=True)}", words.describe(series, share=True), share=True,
        period=period, chart_id="narrative-share", width=LINE_WIDTH, height=260, wording=wording)
    members, total = store.narratives.members_page(narrative.id, page, MEMBERS_PER_PAGE)
    title = store.title_of(narrative.representative) if narrative.representative else None
    representative = (narrative.representative, title) if title is not None else None
    return render(request, "narratives_detail.html", {
        "title": narrative.title, "narrative": narrative, "series": series, "counts_chart": counts,
        "share_chart": shares, "rows": _points_table(series), "members": members, "total": total, "page": page,
        "pages": max(1, -(-total // MEMBERS_PER_PAGE)), "period": period,
        "representative": representative, "saved": request.query_params.get("saved"),
        "others": [n for n in store.narratives.all() if n.id != narrative.id],
        "theme": store.narratives.theme(narrative.theme) if narrative.theme else None})


# -- trends ----------------------------------------------------------------------------------

@router.get("/trends", response_class=HTMLResponse)
def trends_page(service: ServiceDep, request: Request, query: SearchParams, searcher: PageSearcher,
                period: PeriodParam = "month", show: Literal["count", "share"] = "count",
                compare: Annotated[list[str], Query(max_length=200)] = [],  # noqa: B006 - read, never mutated
                ) -> HTMLResponse:
    words = Words.of(request)
    wording = chart_wording(words.lang)
    links = PageLinks("/trends", request.query_params.multi_items(), page_language(request).kept)
    share = show == "share"
    compared = list(dict.fromkeys(v.strip() for v in compare if v.strip()))[:MAX_COMPARE]
    with service.searching(searcher.budget_key) as store:
        lines = [trends.series(store, "keyword", value, period, query) for value in compared]
        matching = trends.series(store, None, None, period, query)
        tops = {facet: trends.top_values(store, facet, query, TOP) for facet in ("keyword", "country", THEME)}
    shown = lines or [matching]
    chart = charts.line_chart(
        [charts.LineSeries(words.label(s), [(p.start, p.share if share else p.count) for p in s.points],
                           [words.of_cases(p.count, p.total) for p in s.points],
                           href=links.search(("keyword", s.label)) if s.facet else None) for s in shown],
        f"{words.tr.gettext('Compared keywords') if lines else words.label(matching)}: {words.per(period, share)}",
        " ".join(words.describe(s, share) for s in shown), share=share, period=period, chart_id="trend",
        width=LINE_WIDTH, height=340, wording=wording)
    bars = {}
    for name, top in tops.items():
        bars[name] = charts.bar_chart(
            [charts.Bar(words.shown(name, v), v.count, href=_value_search(links, name, v),
                        note=words.tr.ngettext("%(value)s: %(num)s case (%(share)s); show them",
                                               "%(value)s: %(num)s cases (%(share)s); show them", v.count)
                        % {"value": words.shown(name, v), "num": words.n(v.count), "share": words.pct(v.share)})
             for v in top],
            words.tr.ngettext("%(what)s: the most frequent among %(num)s case (%(label)s)",
                              "%(what)s: the most frequent among %(num)s cases (%(label)s)", matching.count)
            % {"what": words.grouping(name), "num": words.n(matching.count), "label": words.label(matching)},
            words.tr.gettext("The %(num)s most frequent values (%(what)s) among the cases of this filter, with their"
                             " counts.") % {"num": len(top), "what": words.grouping(name)},
            chart_id=f"top-{name}", width=500, colour=charts.PALETTE[{"keyword": 0, "country": 2}.get(name, 1)],
            wording=wording)
    return render(request, "trends.html", {
        "title": words.tr.gettext("Trends"), "query": query, "links": links, "chart": chart, "series": shown,
        "matching": matching, "bars": bars, "tops": tops, "period": period, "show": show, "compare": compared,
        "value_search": _value_search, "shown": words.shown, "series_label": words.label})


# -- co-occurrence -------------------------------------------------------------------------

@router.get("/cooccurrence", response_class=HTMLResponse)
def cooccurrence_page(service: ServiceDep, request: Request, query: SearchParams, searcher: PageSearcher,
                      rows: Grouping = "keyword", cols: Grouping = "country",
                      n: Annotated[int, Query(ge=2, le=30)] = 12,
                      shade: Literal["count", "lift"] = "count") -> HTMLResponse:
    words = Words.of(request)
    tr = words.tr
    links = PageLinks("/cooccurrence", request.query_params.multi_items(), page_language(request).kept)
    with service.searching(searcher.budget_key) as store:
        found = trends.cooccurrence(store, rows, cols, query, n=n, pairs=30)
    row_names = [words.shown(rows, v) for v in found.rows]
    col_names = [words.shown(cols, v) for v in found.cols]
    shading = (tr.gettext("cells shaded by lift (how much more often than chance).") if shade == "lift" else
               tr.gettext("cells shaded by count."))
    heat = charts.heat_map(
        row_names, col_names, found.counts,
        tr.gettext("%(rows)s × %(cols)s: cases with both") % {"rows": words.grouping(rows),
                                                               "cols": words.grouping(cols)},
        tr.ngettext("Cases of this filter (%(total)s) that carry both values, for the %(rows)s most frequent values"
                    " (%(row_kind)s) and the %(cols)s most frequent (%(col_kind)s); %(shading)s",
                    "Cases of this filter (%(total)s) that carry both values, for the %(rows)s most frequent values"
                    " (%(row_kind)s) and the %(cols)s most frequent (%(col_kind)s); %(shading)s", found.total)
        % {"total": words.n(found.total), "rows": len(found.rows), "row_kind": words.grouping(rows),
           "cols": len(found.cols), "col_kind": words.grouping(cols), "shading": shading},
        shade=found.lift if shade == "lift" else None,
        notes=[[tr.gettext("lift %(lift)s") % {"lift": number_text(lift, words.lang, 2)} for lift in row]
               for row in found.lift],
        hrefs=[[_pair_search(links, rows, r, cols, c) for c in found.cols] for r in found.rows],
        chart_id="cooccurrence", wording=chart_wording(words.lang))
    axes = {name: words.grouping(name) for name in FACET_LABELS}
    return render(request, "cooccurrence.html", {
        "title": tr.gettext("Co-occurrence"), "query": query, "links": links, "found": found, "heat": heat,
        "rows": rows, "cols": cols, "n": n, "shade": shade, "axes": axes, "pair_search": _pair_search,
        "value_search": _value_search, "shown": words.shown})


def _pair_search(links: PageLinks, rows: str, row: trends.TopValue, cols: str, col: trends.TopValue) -> str | None:
    """The search for both values (with the page's filters); None where a narrative is one."""
    if {NARRATIVE, THEME, "year"} & {rows, cols}:
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
    return redirect(request, f"/narratives/{quote(changed.id)}?saved={action}")
