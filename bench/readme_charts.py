"""Draw the README's charts (docs/charts/*.svg) from every real case, with disinfodb.server.web.charts.

Run: .venv/bin/python -m bench.readme_charts

waves.svg: the monthly share of all cases that carry the coronavirus, Sergei Skripal and
Alexei Navalny keywords, 2015 to February 2021 (the 2015-2021 scrape ends on 18 Feb
2021); top-keywords-2020.svg: the 15 commonest keywords of 2020's cases.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from bench.web_pages import real_database
from disinfodb import trends
from disinfodb.search import SearchQuery
from disinfodb.server.web import charts

OUT = Path(__file__).resolve().parents[1] / "docs" / "charts"
WAVES = ("coronavirus", "Sergei Skripal", "Alexei Navalny")


def main() -> int:
    store = real_database()
    span = SearchQuery(since=date(2015, 1, 1), until=date(2021, 2, 28))
    lines, notes = [], []
    for keyword in WAVES:
        series = trends.series(store, "keyword", keyword, "month", span)
        lines.append(charts.LineSeries(series.label, [(p.start, p.share) for p in series.points],
                                       [f"{p.count:,} of {p.total:,} cases" for p in series.points]))
        peak = series.peak(share=True)
        assert peak is not None
        notes.append(f"{series.label}: {series.count:,} cases, peak {peak.share:.0%} of all cases in"
                     f" {charts.period_text(peak.start, 'month')} ({peak.count} of {peak.total})")
        print(notes[-1])
    description = ("Share of all EUvsDisinfo cases published each month, 2015 to February 2021, that carry the"
                   " keyword. " + "; ".join(notes) + ". Data: EUvsDisinfo (East StratCom Task Force).")
    waves = charts.line_chart(lines, "Three waves: share of EUvsDisinfo cases per month, by keyword", description,
                              share=True, width=900, height=380, chart_id="waves", show_title=True, peaks=True,
                              y_label="share of all cases that month")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "waves.svg").write_text(str(waves) + "\n", encoding="utf-8")
    year = SearchQuery(since=date(2020, 1, 1), until=date(2020, 12, 31))
    total = trends.count(store, year)
    top = trends.top_values(store, "keyword", year, 15)
    bars = charts.bar_chart(
        [charts.Bar(v.label, v.count, note=f"{v.label}: {v.count:,} of {total:,} cases ({v.share:.1%})") for v in top],
        f"Top keywords of 2020 ({total:,} cases)",
        f"The 15 most frequent keywords of the {total:,} EUvsDisinfo cases published in 2020: "
        + ", ".join(f"{v.label} {v.count:,}" for v in top) + ". Data: EUvsDisinfo.",
        width=640, chart_id="top-keywords-2020", show_title=True)
    (OUT / "top-keywords-2020.svg").write_text(str(bars) + "\n", encoding="utf-8")
    print(f"2020: {total:,} cases; top keywords " + ", ".join(f"{v.label} {v.count}" for v in top[:5]))
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
