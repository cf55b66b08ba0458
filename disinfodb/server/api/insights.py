"""The JSON API of the insights: narratives and their themes, trends over time, emerging
narratives and themes, and co-occurrence (`disinfodb.trends` over the reader's store).

Like the rest of the API: a pydantic model out (so /openapi.json is exact), reads
public unless the instance is private, errors as problem documents (an unknown
narrative is a 404, a bad filter a 400).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from disinfodb import trends
from disinfodb.errors import QuerySyntaxError
from disinfodb.facets import NARRATIVE, Grouping
from disinfodb.narratives import ClusterParams, Narrative, Theme, build_narratives
from disinfodb.server.auth import ApiAdmin, ApiEditor, ApiReader, ApiSearcher, ServiceDep
from disinfodb.server.params import FilterParams, OptionalDate
from disinfodb.server.problems import problems

GrowthFacet = Literal["narrative", "theme", "keyword", "country", "language", "outlet"]
MAX_N = 50
MAX_WEEKS = 520

router = APIRouter(prefix="/api", tags=["insights"], responses=problems(400, 401, 422))


# -- models -------------------------------------------------------------------------------

class KeywordShareOut(BaseModel):
    keyword: str
    share: float = Field(description="Share of the narrative's cases that carry the keyword")


class NarrativeOut(BaseModel):
    id: str
    title: str = Field(description="The analyst's name, else the computed label")
    label: str
    name: str | None
    terms: list[str]
    keywords: list[KeywordShareOut]
    representative: str | None = Field(description="Id of the case nearest the narrative's centre")
    size: int
    first_seen: date | None
    last_seen: date | None
    pinned: bool
    theme: str | None = Field(description="Id of the theme it belongs to (null until a build placed it)")

    @classmethod
    def of(cls, narrative: Narrative) -> NarrativeOut:
        return cls(id=narrative.id, title=narrative.title, label=narrative.label, name=narrative.name,
                   terms=narrative.terms, keywords=[KeywordShareOut(keyword=k, share=s) for k, s in narrative.keywords],
                   representative=narrative.representative, size=narrative.size, first_seen=narrative.first_seen,
                   last_seen=narrative.last_seen, pinned=narrative.pinned, theme=narrative.theme)


class NarrativeDetailOut(NarrativeOut):
    members: list[str] = Field(description="Ids of its cases, newest first")


class ThemeOut(BaseModel):
    id: str
    label: str = Field(description="Its most distinctive keywords, 'A · B · C'")
    keywords: list[KeywordShareOut] = Field(description="Dominant keywords with the share of its cases")
    size: int = Field(description="Cases in its narratives")
    narratives: int
    first_seen: date | None
    last_seen: date | None

    @classmethod
    def of(cls, theme: Theme) -> ThemeOut:
        return cls(id=theme.id, label=theme.label, keywords=[KeywordShareOut(keyword=k, share=s)
                                                               for k, s in theme.keywords],
                   size=theme.size, narratives=theme.narratives, first_seen=theme.first_seen,
                   last_seen=theme.last_seen)


class ThemeDetailOut(ThemeOut):
    members: list[NarrativeOut] = Field(description="Its narratives, largest first")


class PointOut(BaseModel):
    start: date = Field(description="First day of the period (weeks start on Monday)")
    count: int
    total: int = Field(description="All cases published in the period (within since/until)")
    share: float = Field(description="count / total; 0 for a period without cases")


class SeriesOut(BaseModel):
    facet: str | None = Field(description="None: the cases the filters select")
    value: str | None = Field(description="The value's key (a narrative's id)")
    label: str
    period: trends.Period
    count: int = Field(description="Dated cases in the series (the sum of the counts)")
    points: list[PointOut]

    @classmethod
    def of(cls, series: trends.Series) -> SeriesOut:
        return cls(facet=series.facet, value=series.value, label=series.label, period=series.period,
                   count=series.count, points=[PointOut(start=p.start, count=p.count, total=p.total, share=p.share)
                                               for p in series.points])


class GrowthOut(BaseModel):
    value: str = Field(description="A narrative's id, or the facet value's key")
    label: str
    recent: int = Field(description="Cases in the recent weeks")
    baseline: int = Field(description="Cases in the baseline weeks before them")
    expected: float = Field(description="The baseline scaled to the recent window's length")
    growth: float = Field(description="(recent + 1) / (expected + 1)")
    relative: float = Field(description="growth divided by the growth of all cases")
    first_seen: date | None
    new: bool = Field(description="First seen within the recent weeks")


class EmergingOut(BaseModel):
    facet: str
    as_of: date | None = Field(description="End of the recent window: unless given, the newest case's date"
                                           " (ignoring a few stragglers published months after all the rest)")
    weeks: int
    baseline_weeks: int
    volume_growth: float = Field(description="The growth of all cases over the same windows")
    items: list[GrowthOut]


class ValueOut(BaseModel):
    value: str
    label: str
    count: int
    share: float = Field(description="Share of the selected cases")


class PairOut(BaseModel):
    row: ValueOut
    col: ValueOut
    count: int
    lift: float = Field(description="P(row and col) / (P(row) P(col)) among the selected cases")
    pmi: float | None = Field(description="log2(lift); null when never together")


class CooccurrenceOut(BaseModel):
    rows_facet: str
    cols_facet: str
    total: int = Field(description="Cases the filters select")
    rows: list[ValueOut]
    cols: list[ValueOut]
    counts: list[list[int]] = Field(description="counts[i][j]: cases with rows[i] and cols[j]")
    lift: list[list[float]]
    pairs: list[PairOut] = Field(description="The most frequent pairs over all values")


def _value(value: trends.TopValue) -> ValueOut:
    return ValueOut(value=value.value, label=value.label, count=value.count, share=value.share)


# -- filters: the search's, without its page and order -------------------------------------

PeriodParam = Annotated[trends.Period, Query(description="Weeks start on Monday")]


# -- endpoints ----------------------------------------------------------------------------

@router.get("/narratives", response_model=list[NarrativeOut])
def list_narratives(service: ServiceDep, _: ApiReader) -> list[NarrativeOut]:
    """The current narratives, largest first."""
    return [NarrativeOut.of(n) for n in service.reader.narratives.all()]


@router.get("/narratives/{narrative_id}", response_model=NarrativeDetailOut, responses=problems(404))
def get_narrative(service: ServiceDep, narrative_id: str, _: ApiReader) -> NarrativeDetailOut:
    """A narrative and its cases (a merged narrative's id answers with the one it joined)."""
    book = service.reader.narratives
    narrative = book.get(narrative_id)
    return NarrativeDetailOut(**NarrativeOut.of(narrative).model_dump(), members=book.members(narrative.id))


@router.get("/themes", response_model=list[ThemeOut])
def list_themes(service: ServiceDep, _: ApiReader) -> list[ThemeOut]:
    """The current themes (broad groups of narratives), largest first."""
    return [ThemeOut.of(t) for t in service.reader.narratives.themes()]


@router.get("/themes/{theme_id}", response_model=ThemeDetailOut, responses=problems(404))
def get_theme(service: ServiceDep, theme_id: Annotated[str, Path(max_length=20)], _: ApiReader) -> ThemeDetailOut:
    """A theme and its narratives."""
    book = service.reader.narratives
    theme = book.theme(theme_id)
    members = [NarrativeOut.of(n) for n in book.of_theme(theme.id)]
    return ThemeDetailOut(**ThemeOut.of(theme).model_dump(), members=members)


@router.get("/narratives/{narrative_id}/trend", response_model=SeriesOut, responses=problems(404, 429))
def narrative_trend(service: ServiceDep, narrative_id: str, searcher: ApiSearcher, query: FilterParams,
                    period: PeriodParam = "month") -> SeriesOut:
    """A narrative's cases per period, with their share of all cases in each period."""
    with service.searching(searcher.budget_key) as store:
        return SeriesOut.of(trends.series(store, NARRATIVE, narrative_id, period, query))


@router.get("/trends", response_model=SeriesOut, responses=problems(404, 429), name="trends")
def trend(service: ServiceDep, searcher: ApiSearcher, query: FilterParams, period: PeriodParam = "month",
          facet: Annotated[Grouping | None,
                           Query(description="Count one value of this facet (or a narrative, or a theme)")] = None,
          value: Annotated[str | None,
                           Query(max_length=500, description="The value (a narrative's or theme's id)")] = None,
          ) -> SeriesOut:
    """Cases per period that the filters select (and, with facet and value, that carry the
    value), with their share of all cases published in each period. Empty periods are
    included, from the first to the last period with any case."""
    if (facet is None) != (value is None):
        raise QuerySyntaxError("give both facet and value, or neither")
    with service.searching(searcher.budget_key) as store:
        return SeriesOut.of(trends.series(store, facet, value, period, query))


@router.get("/emerging", response_model=EmergingOut)
def emerging_narratives(service: ServiceDep, _: ApiReader,
             weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS, description="The recent window")] = 12,
             baseline_weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS, description="The window before it")] = 52,
             min_cases: Annotated[int, Query(ge=1, le=1_000_000, description="Cases needed in the recent window")]
             = 5,
             min_growth: Annotated[float, Query(ge=0, le=1_000_000, description="Least relative growth")] = 2.0,
             as_of: Annotated[OptionalDate, Query(description="End of the recent window (default: newest case)")]
             = None,
             facet: GrowthFacet = "narrative") -> EmergingOut:
    """Narratives (or themes, or facet values) growing faster than the database: relative growth =
    ((recent + 1) / (baseline scaled + 1)) / the same for all cases."""
    found = trends.emerging(service.reader, weeks=weeks, baseline_weeks=baseline_weeks, min_cases=min_cases,
                            facet=facet, as_of=as_of, min_growth=min_growth)
    return EmergingOut(facet=facet, as_of=found.as_of, weeks=found.weeks, baseline_weeks=found.baseline_weeks,
                       volume_growth=found.volume_growth,
                       items=[GrowthOut(value=g.value, label=g.label, recent=g.recent, baseline=g.baseline,
                                        expected=g.expected, growth=g.growth, relative=g.relative,
                                        first_seen=g.first_seen, new=g.new) for g in found.items])


@router.get("/cooccurrence", response_model=CooccurrenceOut, responses=problems(429))
def cooccurrence(service: ServiceDep, searcher: ApiSearcher, query: FilterParams,
                 rows: Grouping = "keyword", cols: Grouping = "country",
                 n: Annotated[int, Query(ge=1, le=MAX_N, description="Values per axis of the matrix")] = 15,
                 pairs: Annotated[int, Query(ge=0, le=200, description="Most frequent pairs to list")] = 25,
                 ) -> CooccurrenceOut:
    """Which values of two facets (or narratives) appear in the same cases: counts and lift
    for the n most frequent values of each, and the most frequent pairs overall."""
    with service.searching(searcher.budget_key) as store:
        found = trends.cooccurrence(store, rows, cols, query, n=n, pairs=pairs)
    return CooccurrenceOut(
        rows_facet=found.rows_facet, cols_facet=found.cols_facet, total=found.total,
        rows=[_value(v) for v in found.rows], cols=[_value(v) for v in found.cols], counts=found.counts,
        lift=found.lift, pairs=[PairOut(row=_value(p.row), col=_value(p.col), count=p.count, lift=p.lift,
                                        pmi=trends.pmi(p.lift)) for p in found.pairs])


# -- analysts' edits ------------------------------------------------------------------------

class RenameIn(BaseModel):
    name: str | None = Field(max_length=300, description="The narrative's name; null or blank: its computed label")


class PinIn(BaseModel):
    pinned: bool


class MergeIn(BaseModel):
    into: str = Field(description="Id of the narrative that takes this one's cases (and id)")


class SplitIn(BaseModel):
    case_ids: list[str] = Field(min_length=1, max_length=10_000)
    name: str | None = Field(None, max_length=300)


class BuildIn(BaseModel):
    model: str | None = Field(None, description="Embedding model spec whose models' claim vectors are "
                              "clustered (default: the server's)")
    min_cluster_size: int = Field(15, ge=2, le=1000)


class BuildOut(BaseModel):
    cases: int
    clustered: int
    narratives: int
    themes: int
    continued: int
    created: int
    retired: int
    pinned_cases: int
    seconds: float


@router.put("/narratives/{narrative_id}/name", response_model=NarrativeOut, responses=problems(403, 404))
def rename_narrative(service: ServiceDep, narrative_id: str, body: RenameIn, _: ApiEditor) -> NarrativeOut:
    """Name a narrative; the name is kept when narratives are rebuilt."""
    return NarrativeOut.of(service.writer.narratives.rename(narrative_id, body.name))


@router.put("/narratives/{narrative_id}/pinned", response_model=NarrativeOut, responses=problems(403, 404))
def pin_narrative(service: ServiceDep, narrative_id: str, body: PinIn, _: ApiEditor) -> NarrativeOut:
    """Freeze (or release) a narrative's cases: a rebuild leaves them where they are."""
    return NarrativeOut.of(service.writer.narratives.pin(narrative_id, body.pinned))


@router.post("/narratives/{narrative_id}/merge", response_model=NarrativeOut, responses=problems(403, 404))
def merge_narrative(service: ServiceDep, narrative_id: str, body: MergeIn, _: ApiEditor) -> NarrativeOut:
    """Merge this narrative into another; its id then leads to that one."""
    return NarrativeOut.of(service.writer.narratives.merge(narrative_id, body.into))


@router.post("/narratives/{narrative_id}/split", response_model=NarrativeOut, status_code=201,
             responses=problems(403, 404))
def split_narrative(service: ServiceDep, narrative_id: str, body: SplitIn, _: ApiEditor) -> NarrativeOut:
    """Move some of its cases into a new, pinned narrative (returned)."""
    return NarrativeOut.of(service.writer.narratives.split(narrative_id, body.case_ids, body.name))


@router.post("/narratives/build", response_model=BuildOut, responses=problems(403))
def rebuild_narratives(service: ServiceDep, body: BuildIn, _: ApiAdmin) -> BuildOut:
    """Cluster the cases into narratives again (seconds to a minute): ids, names, pins and
    merges are kept."""
    report = build_narratives(service.writer, body.model, ClusterParams(min_cluster_size=body.min_cluster_size))
    return BuildOut(**report.as_dict())  # type: ignore[arg-type]
