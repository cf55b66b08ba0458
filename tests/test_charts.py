"""The SVG charts: well-formed XML, escaped labels, accessible names, no external
resources, and axes that say what they should."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from disinfodb.server.web import charts
from disinfodb.server.web.charts import Bar, LineSeries

SVG = "{http://www.w3.org/2000/svg}"
XSS = '<script>alert("x")</script> & \'quotes\''


def parsed(markup: Markup) -> ET.Element:
    assert isinstance(markup, Markup)
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg"
    assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", root.get("viewBox", ""))
    assert root.get("aria-label") and root.get("role") in ("img", "group")
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def months(first: date, count: int) -> list[date]:
    return [date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1) for i in range(count)]


def assert_self_contained(markup: Markup) -> None:
    text = str(markup)
    assert "<script" not in text and "<image" not in text and "url(" not in text and "@import" not in text
    assert re.findall(r"https?://[^\"' ]+", text) == ["http://www.w3.org/2000/svg"]


def test_line_chart_has_year_ticks_a_legend_and_tooltips() -> None:
    days = months(date(2015, 1, 1), 74)
    series = [LineSeries("coronavirus", [(d, i % 7) for i, d in enumerate(days)], href="/?keyword=coronavirus"),
              LineSeries(XSS, [(d, 3.0) for d in days], notes=[f"{i} of 9" for i in range(len(days))])]
    chart = charts.line_chart(series, f"Title {XSS}", f"Desc {XSS}", chart_id="waves")
    root = parsed(chart)
    assert_self_contained(chart)
    assert root.get("id") == "waves" and root.get("role") == "group"  # the legend links
    assert root.find(f"{SVG}title").text == f"Title {XSS}"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == f"Desc {XSS}"  # type: ignore[union-attr]
    labels = texts(root)
    assert [y for y in labels if y.isdigit() and len(y) == 4] == [str(y) for y in range(2015, 2022)]
    assert {"0", "2", "4", "6"} <= set(labels)  # nice y ticks
    assert XSS in labels and "<script>" not in str(chart)
    tips = [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]  # type: ignore[union-attr]
    assert len(tips) == 2 * len(days) and f"{XSS} · Mar 2015: 3 (2 of 9)" in tips
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == ["/?keyword=coronavirus"]
    assert len(root.findall(f".//{SVG}path")) == 2


def test_line_chart_share_mode_and_short_spans() -> None:
    days = months(date(2020, 1, 1), 6)
    chart = charts.line_chart([LineSeries("share", [(d, 0.05 * i) for i, d in enumerate(days)])], "Shares",
                              share=True)
    root = parsed(chart)
    assert root.get("role") == "img"
    labels = texts(root)
    assert "25%" in labels and "0%" in labels
    assert "Jan 2020" in labels and "Jun" in labels  # months when there is no second year to tick
    assert not [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]  # one series: no legend
    weeks = charts.line_chart([LineSeries("w", [(date(2021, 1, 4), 0.004), (date(2021, 1, 11), 0.0)])], "Weeks",
                              share=True, period="week")
    assert "0.4%" in "".join(texts(parsed(weeks))) or "0.40%" in "".join(texts(parsed(weeks)))
    tips = [c.find(f"{SVG}title").text for c in parsed(weeks).iter(f"{SVG}circle")]  # type: ignore[union-attr]
    assert tips[0] == "w · week of 4 Jan 2021: 0.4%"


def test_empty_charts_render() -> None:
    assert "No dated cases" in texts(parsed(charts.line_chart([], "Nothing")))
    assert "No dated cases" in texts(parsed(charts.line_chart([LineSeries("a", [])], "Nothing")))
    assert "Nothing to show" in texts(parsed(charts.bar_chart([], "Nothing")))
    parsed(charts.heat_map([], [], [], "Nothing"))
    parsed(charts.sparkline([], "Nothing"))
    zeros = parsed(charts.line_chart([LineSeries("z", [(date(2020, 1, 1), 0), (date(2020, 2, 1), 0)])], "Zeros"))
    assert "1" in texts(zeros)  # a flat zero line still gets an axis


def test_bar_chart_labels_links_and_values() -> None:
    bars = [Bar("NATO", 1108, href="/?keyword=NATO&country=US"), Bar(XSS, 12, href=None),
            Bar("A very long keyword label that will not fit in the space", 3)]
    chart = charts.bar_chart(bars, f"Top {XSS}", chart_id="top")
    root = parsed(chart)
    assert_self_contained(chart)
    assert root.get("role") == "group"
    assert "&amp;country=US" in str(chart)  # the href is escaped in the markup
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == ["/?keyword=NATO&country=US"]
    labels = texts(root)
    assert {"NATO", "1,108", "12", "3"} <= set(labels) and '<script>alert("x")</script>…' in labels
    assert any(t.endswith("…") for t in labels)  # long labels are clipped, the full one is in the tooltip
    widths = [float(r.get("width", 0)) for g in root.iter(f"{SVG}g") if g.get("class") == "bar"
              for r in g.iter(f"{SVG}rect")]
    assert widths == sorted(widths, reverse=True) and widths[0] > 10 * widths[1]
    share = parsed(charts.bar_chart([Bar("a", 0.5), Bar("b", 0.125)], "Shares", share=True))
    assert {"50.0%", "12.5%"} <= set(texts(share)) and share.get("role") == "img"


def test_heat_map_cells_show_their_numbers() -> None:
    values = [[533, 0], [12_345, 7]]
    chart = charts.heat_map(["Conspiracy theory", XSS], ["Russia", "US"], values, "Keywords × countries",
                            shade=[[1.0, 0.0], [0.5, 2.0]], notes=[["lift 1.00", ""], ["", "lift 2.00"]],
                            hrefs=[["/?a=1&b=2", None], [None, None]])
    root = parsed(chart)
    assert_self_contained(chart)
    cells = [g for g in root.iter(f"{SVG}g") if g.get("class") == "cell"]
    assert len(cells) == 4
    numbers = ["".join(g.find(f".//{SVG}text").itertext()) for g in cells]  # type: ignore[union-attr]
    assert numbers == ["533", "0", "12k", "7"]
    fills = [g.find(f".//{SVG}rect").get("fill") for g in cells]  # type: ignore[union-attr]
    assert fills[3] == "#14213d" and fills[1] == "#f7f9fc"  # shaded by `shade`: the highest darkest
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == ["/?a=1&b=2"]
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert "Conspiracy theory × Russia: 533 (lift 1.00)" in titles and f"{XSS} × US: 7 (lift 2.00)" in titles


def test_sparkline() -> None:
    root = parsed(charts.sparkline([0, 3, 10, 2], f"Cases per month {XSS}"))
    assert root.get("role") == "img" and root.get("aria-label") == f"Cases per month {XSS}"
    assert len(root.findall(f"{SVG}path")) == 1 and len(root.findall(f"{SVG}circle")) == 1


@given(st.floats(min_value=1e-6, max_value=1e9, allow_nan=False))
def test_nice_ticks_cover_the_range_in_round_steps(high: float) -> None:
    ticks = charts.nice_ticks(high)
    assert ticks[0] == 0 and ticks[-1] >= high * (1 - 1e-9) and 2 <= len(ticks) <= 11
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(abs(mantissa - m) < 1e-6 for m in (1, 2, 2.5, 5, 10))
    assert all(abs((b - a) - step) <= step * 1e-6 for a, b in itertools.pairwise(ticks))


@pytest.mark.parametrize(("value", "step", "text"), [(0.25, 0.05, "25%"), (0.004, 0.001, "0.4%"),
                                                     (0.0004, 0.0001, "0.04%")])
def test_percent_text(value: float, step: float, text: str) -> None:
    assert charts.percent_text(value, step) == text
