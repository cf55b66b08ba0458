"""Charts as inline SVG, drawn in pure Python: line charts over time, horizontal bar
charts, heat maps and sparklines.

No script, font or stylesheet is fetched: each chart is one self-contained <svg> that
scales with its container (viewBox) and also works as a standalone .svg file. Every
label is escaped. Each chart names itself for assistive technology (role="img" with an
aria-label, and <title>/<desc>); a chart whose bars or cells are links is a
role="group" instead, so its links stay reachable. Colours are the Okabe-Ito palette
(distinguishable with colour-blindness), and lines also differ by dash pattern.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from markupsafe import Markup, escape

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "7 3", "3 2", "8 3 2 3", "1 2", "10 4")
INK, MUTED, GRID, BAR = "#1b2330", "#5a6474", "#dde2ea", "#1d4ed8"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif"
CHAR_WIDTH = 0.58  # average glyph width, in font sizes (for layout only)
PeriodName = Literal["day", "week", "month", "year"]
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _month_en(day: date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.year}"


def _day_en(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _week_en(day: date) -> str:
    return f"week of {_day_en(day)}"


def _month_short_en(day: date) -> str:
    return _MONTHS[day.month - 1]


def _percent_en(share: float, decimals: int) -> str:
    return f"{share * 100:.{decimals}f}%"


def count_text(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


@dataclass(frozen=True)
class Wording:
    """How a chart writes its numbers, dates and few words of its own. The default is
    English; the pages pass their language's (`disinfodb.server.web.i18n.chart_wording`)."""

    count: Callable[[float], str] = count_text
    percent: Callable[[float, int], str] = _percent_en  # a fraction, with this many decimals
    month: Callable[[date], str] = _month_en  # "Mar 2015"
    month_short: Callable[[date], str] = _month_short_en  # "Mar"
    day: Callable[[date], str] = _day_en  # "4 Jan 2021"
    week: Callable[[date], str] = _week_en  # "week of 4 Jan 2021"
    no_dates: str = "No dated cases"
    nothing: str = "Nothing to show"


ENGLISH = Wording()


@dataclass(frozen=True)
class LineSeries:
    label: str
    points: Sequence[tuple[date, float]]
    notes: Sequence[str] | None = None  # per point: extra text for its tooltip
    href: str | None = None  # the legend entry links here


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    href: str | None = None
    note: str | None = None  # tooltip text (default: label and value)


# -- helpers -----------------------------------------------------------------------------

def _e(value: object) -> str:
    return str(escape(str(value)))


def _n(value: float) -> str:
    """A coordinate: short, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR_WIDTH


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:max(chars - 1, 1)].rstrip() + "…"


def percent_text(value: float, step: float = 0.01, wording: Wording = ENGLISH) -> str:
    """A share as a percentage, with as many decimals as the tick step needs."""
    decimals = 0 if step >= 0.01 - 1e-12 else 1 if step >= 0.001 - 1e-12 else 2
    return wording.percent(value, decimals)


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """0 and round steps (1, 2, 2.5, 5 x 10^k) up to at least `high`."""
    if not high > 0 or not math.isfinite(high):
        return [0.0, 1.0]
    raw = high / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw - 1e-12)
    steps = math.ceil(high / step - 1e-9)
    return [round(i * step, 12) for i in range(steps + 1)]


def _chart_id(kind: str, title: str, given: str | None) -> str:
    if given:
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in given)
    return f"{kind}-{hashlib.sha1(title.encode()).hexdigest()[:8]}"


def _open(kind: str, chart_id: str, width: float, height: float, title: str, desc: str, interactive: bool) -> str:
    """The <svg> start tag with its accessible name and description."""
    role = "group" if interactive else "img"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" id="{chart_id}"'
            f' viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}"'
            f' role="{role}" aria-label="{_e(title)}"'
            f' aria-describedby="{chart_id}-desc" font-family="{FONT}" font-size="12" fill="{INK}">'
            f'<title id="{chart_id}-title">{_e(title)}</title><desc id="{chart_id}-desc">{_e(desc or title)}</desc>'
            '<rect width="100%" height="100%" fill="#ffffff"/>')  # opaque also on a dark page


def _link(href: str | None, inner: str, label: str | None = None) -> str:
    if not href:
        return inner
    named = f' aria-label="{_e(label)}"' if label else ""
    return f'<a href="{_e(href)}"{named}>{inner}</a>'


def period_text(day: date, period: PeriodName, wording: Wording = ENGLISH) -> str:
    if period == "year":
        return str(day.year)
    if period == "month":
        return wording.month(day)
    if period == "week":
        return wording.week(day)
    return wording.day(day)


def _time_ticks(first: date, last: date, wording: Wording) -> list[tuple[date, str]]:
    """Year ticks (every year, or every 2nd/5th on long spans); months on short spans."""
    years = [date(y, 1, 1) for y in range(first.year, last.year + 1) if first <= date(y, 1, 1) <= last]
    if len(years) >= 2:
        every = 1 if len(years) <= 12 else 2 if len(years) <= 24 else 5
        return [(d, str(d.year)) for d in years if d.year % every == 0]
    span = (last.year - first.year) * 12 + last.month - first.month
    every = 1 if span <= 8 else 3 if span <= 24 else 6
    ticks: list[tuple[date, str]] = []
    year, month = first.year, first.month
    while date(year, month, 1) <= last:
        day = date(year, month, 1)
        if day >= first and (month - 1) % every == 0:
            ticks.append((day, wording.month(day) if month == 1 or not ticks else wording.month_short(day)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return ticks


# -- charts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Frame:
    """Where a line chart's plot lies, and its scales."""

    left: float
    top: float
    width: float
    height: float
    first: date
    span: int  # days from the first to the last point (at least 1)
    high: float  # the top y tick

    def x(self, day: date) -> float:
        return self.left + (day.toordinal() - self.first.toordinal()) / self.span * self.width

    def y(self, value: float) -> float:
        return self.top + self.height - value / self.high * self.height


def _legend(series: Sequence[LineSeries], left: float, right: float, top: float, shown: bool
            ) -> tuple[list[str], float]:
    """The legend entries (rows above the plot) and the height they take."""
    if not shown or not series:
        return [], 0.0
    parts, x, row = [], left, 0
    for i, s in enumerate(series):
        item = 30 + _text_width(s.label, 12) + 18
        if x + item > right and x > left:
            x, row = left, row + 1
        y = top + row * 20
        colour, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        inner = (f'<line x1="{_n(x)}" x2="{_n(x + 24)}" y1="{_n(y + 8)}" y2="{_n(y + 8)}" stroke="{colour}"'
                 f' stroke-width="3"{dashed}/><text x="{_n(x + 30)}" y="{_n(y + 12)}">{_e(s.label)}</text>')
        parts.append(f'<g class="legend">{_link(s.href, inner, s.label)}</g>')
        x += item
    return parts, (row + 1) * 20 + 6


def _axes(frame: _Frame, ticks: list[float], fmt: Callable[[float], str], last: date, y_label: str | None,
          wording: Wording) -> list[str]:
    bottom = frame.top + frame.height
    parts = ['<g class="axis y">']
    for tick in ticks:
        y = frame.y(tick)
        parts.append(f'<line x1="{_n(frame.left)}" x2="{_n(frame.left + frame.width)}" y1="{_n(y)}" y2="{_n(y)}"'
                     f' stroke="{GRID}"/><text x="{_n(frame.left - 6)}" y="{_n(y + 4)}" text-anchor="end"'
                     f' fill="{MUTED}">{fmt(tick)}</text>')
    if y_label:
        parts.append(f'<text transform="translate(14 {_n(frame.top + frame.height / 2)}) rotate(-90)"'
                     f' text-anchor="middle" fill="{MUTED}">{_e(y_label)}</text>')
    parts.append(f'</g><g class="axis x"><line x1="{_n(frame.left)}" x2="{_n(frame.left + frame.width)}"'
                 f' y1="{_n(bottom)}" y2="{_n(bottom)}" stroke="{MUTED}"/>')
    for day, text in _time_ticks(frame.first, last, wording):
        x = frame.x(day)
        parts.append(f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(bottom)}" y2="{_n(bottom + 5)}" stroke="{MUTED}"/>'
                     f'<text x="{_n(x)}" y="{_n(bottom + 18)}" text-anchor="middle" fill="{MUTED}">{_e(text)}</text>')
    parts.append("</g>")
    return parts


def _peak_label(s: LineSeries, i: int, frame: _Frame, share: bool, period: PeriodName, wording: Wording) -> str:
    """The series' highest point, named beside it: "Mar 2018: 49%"."""
    day, value = max(s.points, key=lambda p: (p[1], -p[0].toordinal()))
    x, y = frame.x(day), frame.y(value)
    value_text = percent_text(value, 0.01, wording) if share else wording.count(value)
    text = f"{period_text(day, period, wording)}: {value_text}"
    anchor = "end" if x > frame.left + frame.width * 0.85 else "start" if x < frame.left + 60 else "middle"
    return (f'<text class="peak" x="{_n(x)}" y="{_n(max(y - 7, frame.top + 10))}" text-anchor="{anchor}"'
            f' font-size="11" font-weight="600" fill="{PALETTE[i % len(PALETTE)]}" stroke="#ffffff"'
            f' stroke-width="3" paint-order="stroke">{_e(text)}</text>')


def _lines(series: Sequence[LineSeries], frame: _Frame, share: bool, fmt: Callable[[float], str],
           period: PeriodName, wording: Wording) -> list[str]:
    parts = []
    for i, s in enumerate(series):
        colour, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
        points = sorted(zip(s.points, s.notes or [""] * len(s.points), strict=True), key=lambda p: p[0][0])
        path = " ".join(f"{'L' if j else 'M'}{_n(frame.x(d))},{_n(frame.y(v))}"
                        for j, ((d, v), _) in enumerate(points))
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<g class="series"><path d="{path}" fill="none" stroke="{colour}" stroke-width="2"'
                     f' stroke-linejoin="round"{dashed}/>')
        always = len(points) <= 24  # few points: draw them; many: only on hover
        cls = "" if always else ' class="pt" fill-opacity="0"'  # app.css shows it on hover
        for (d, v), note in points:
            shown = percent_text(v, 0.001, wording) if share else fmt(v)
            tip = f"{s.label} · {period_text(d, period, wording)}: {shown}"
            tip += f" ({note})" if note else ""
            parts.append(f'<circle{cls} cx="{_n(frame.x(d))}" cy="{_n(frame.y(v))}"'
                         f' r="{3 if always else 4}" fill="{colour}"><title>{_e(tip)}</title></circle>')
        parts.append("</g>")
    return parts


def line_chart(series: Sequence[LineSeries], title: str, desc: str = "", *, share: bool = False,
               period: PeriodName = "month", width: int = 760, height: int = 300, chart_id: str | None = None,
               show_title: bool = False, y_label: str | None = None, legend: bool | None = None,
               peaks: bool = False, wording: Wording = ENGLISH) -> Markup:
    """Values over time, one line per series, with year ticks, round y ticks and a legend
    (by default only for more than one series).

    `share`: values are fractions, shown as percentages. Each point has a tooltip
    (its series, period, value and note); `peaks` also names each series' highest point.
    """
    cid = _chart_id("line", title, chart_id)
    left, right, top, bottom = 58.0, 18.0, 12.0 + (24 if show_title else 0), 30.0
    entries, legend_h = _legend(series, left, width - right, top, len(series) > 1 if legend is None else legend)
    top += legend_h
    parts = [_open("line", cid, width, height, title, desc, interactive=any(s.href for s in series))]
    if show_title:
        parts.append(f'<text x="{_n(left)}" y="20" font-size="15" font-weight="600">{_e(title)}</text>')
    days = [d for s in series for d, _ in s.points]
    if not days:
        parts.append(f'<text x="{_n(width / 2)}" y="{_n(height / 2)}" text-anchor="middle" fill="{MUTED}">'
                     f"{_e(wording.no_dates)}</text></svg>")
        return Markup("".join(parts))
    ticks = nice_ticks(max(v for s in series for _, v in s.points))
    step = ticks[1] - ticks[0]
    fmt: Callable[[float], str] = (lambda v: percent_text(v, step, wording)) if share else wording.count
    first, last = min(days), max(days)
    frame = _Frame(left, top, width - left - right, height - top - bottom, first,
                   max(last.toordinal() - first.toordinal(), 1), ticks[-1])
    parts += _axes(frame, ticks, fmt, last, y_label, wording) + entries + _lines(series, frame, share, fmt, period,
                                                                                  wording)
    if peaks:
        parts += [_peak_label(s, i, frame, share, period, wording) for i, s in enumerate(series) if s.points]
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(bars: Sequence[Bar], title: str, desc: str = "", *, share: bool = False, width: int = 560,
              label_chars: int = 28, chart_id: str | None = None, show_title: bool = False,
              colour: str = BAR, wording: Wording = ENGLISH) -> Markup:
    """Horizontal bars, largest first as given, each with its label and value; bars with
    an href are links (the whole row)."""
    cid = _chart_id("bar", title, chart_id)
    row_h, bar_h, top = 24.0, 16.0, 6.0 + (26 if show_title else 0)
    labels = [_clip(b.label, label_chars) for b in bars]
    label_w = min(max((_text_width(t, 12) for t in labels), default=40) + 12, width * 0.45)
    value_texts = [percent_text(b.value, 0.001, wording) if share else wording.count(b.value) for b in bars]
    value_w = max((_text_width(t, 12) for t in value_texts), default=20) + 10
    plot_w = width - label_w - value_w - 8
    height = top + max(len(bars), 1) * row_h + 6
    high = max((b.value for b in bars), default=0) or 1
    parts = [_open("bar", cid, width, height, title, desc, interactive=any(b.href for b in bars))]
    if show_title:
        parts.append(f'<text x="4" y="18" font-size="15" font-weight="600">{_e(title)}</text>')
    if not bars:
        parts.append(f'<text x="{_n(width / 2)}" y="{_n(top + 16)}" text-anchor="middle" fill="{MUTED}">'
                     f"{_e(wording.nothing)}</text>")
    for i, (bar, label, value_text) in enumerate(zip(bars, labels, value_texts, strict=True)):
        y = top + i * row_h
        length = max(bar.value / high * plot_w, 1.0 if bar.value > 0 else 0.0)
        tip = bar.note or f"{bar.label}: {value_text}"
        inner = (f"<title>{_e(tip)}</title>"
                 f'<text x="{_n(label_w - 8)}" y="{_n(y + bar_h - 3)}" text-anchor="end">{_e(label)}</text>'
                 f'<rect x="{_n(label_w)}" y="{_n(y)}" width="{_n(length)}" height="{_n(bar_h)}" rx="2"'
                 f' fill="{colour}"/>'
                 f'<text x="{_n(label_w + length + 6)}" y="{_n(y + bar_h - 3)}" fill="{MUTED}">{_e(value_text)}</text>')
        parts.append(f'<g class="bar">{_link(bar.href, inner, tip)}</g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _shade(level: float) -> str:
    """White (0) to the brand's dark blue (1)."""
    low, high = (247, 249, 252), (20, 33, 61)
    level = min(max(level, 0.0), 1.0)
    return "#" + "".join(f"{round(a + (b - a) * level):02x}" for a, b in zip(low, high, strict=True))


def heat_map(rows: Sequence[str], cols: Sequence[str], values: Sequence[Sequence[float]], title: str,
             desc: str = "", *, shade: Sequence[Sequence[float]] | None = None,
             notes: Sequence[Sequence[str]] | None = None, hrefs: Sequence[Sequence[str | None]] | None = None,
             label_chars: int = 24, cell: int = 40, chart_id: str | None = None, show_title: bool = False,
             wording: Wording = ENGLISH) -> Markup:
    """A matrix of cells shaded by value (or by `shade`, e.g. a lift), each showing its
    number; row labels on the left, column labels slanted above."""
    cid = _chart_id("heat", title, chart_id)
    row_labels = [_clip(r, label_chars) for r in rows]
    col_labels = [_clip(c, label_chars) for c in cols]
    left = max((_text_width(t, 12) for t in row_labels), default=40) + 12
    head = max((_text_width(t, 12) for t in col_labels), default=20) * 0.72 + 16 + (26 if show_title else 0)
    width = left + len(cols) * cell + max((_text_width(t, 12) for t in col_labels[-1:]), default=0) * 0.72 + 8
    height = head + len(rows) * cell + 4
    levels = shade if shade is not None else values
    flat = [v for row in levels for v in row]
    high = max(flat, default=0) or 1
    parts = [_open("heat", cid, width, height, title, desc, interactive=bool(hrefs))]
    if show_title:
        parts.append(f'<text x="4" y="18" font-size="15" font-weight="600">{_e(title)}</text>')
    for j, label in enumerate(col_labels):
        x, y = left + j * cell + cell / 2, head - 6
        parts.append(f'<text transform="translate({_n(x)} {_n(y)}) rotate(-45)">'
                     f"<title>{_e(cols[j])}</title>{_e(label)}</text>")
    for i, label in enumerate(row_labels):
        y = head + i * cell
        parts.append(f'<text x="{_n(left - 8)}" y="{_n(y + cell / 2 + 4)}" text-anchor="end">'
                     f"<title>{_e(rows[i])}</title>{_e(label)}</text>")
        for j in range(len(cols)):
            value, level = values[i][j], levels[i][j] / high
            x = left + j * cell
            tip = f"{rows[i]} × {cols[j]}: {wording.count(value)}"
            if notes is not None and notes[i][j]:
                tip += f" ({notes[i][j]})"
            text_colour = "#ffffff" if level > 0.45 else INK
            inner = (f"<title>{_e(tip)}</title>"
                     f'<rect x="{_n(x + 1)}" y="{_n(y + 1)}" width="{cell - 2}" height="{cell - 2}" rx="3"'
                     f' fill="{_shade(level)}" stroke="{GRID}" stroke-width="0.5"/>'
                     f'<text x="{_n(x + cell / 2)}" y="{_n(y + cell / 2 + 4)}" text-anchor="middle" font-size="11"'
                     f' fill="{text_colour}">{_e(_short(value, wording))}</text>')
            href = hrefs[i][j] if hrefs is not None else None
            parts.append(f'<g class="cell">{_link(href, inner, tip)}</g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(value: float, wording: Wording) -> str:
    """A number that fits a cell: 950, 1.2k, 12k."""
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    return wording.count(value)


def sparkline(values: Sequence[float], label: str, *, width: int = 120, height: int = 28,
              colour: str = PALETTE[0]) -> Markup:
    """A tiny line without axes (its peak marked), for tables; `label` is its accessible name."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart sparkline" viewBox="0 0 {width} {height}"'
             f' width="{width}" height="{height}" role="img" aria-label="{_e(label)}"><title>{_e(label)}</title>']
    if values:
        high = max(values) or 1
        step = (width - 4) / max(len(values) - 1, 1)

        def point(i: int, v: float) -> tuple[float, float]:
            return 2 + i * step, height - 3 - v / high * (height - 6)

        path = " ".join(f"{'M' if i == 0 else 'L'}{_n(x)},{_n(y)}" for i, (x, y) in
                        enumerate(point(i, v) for i, v in enumerate(values)))
        peak = max(range(len(values)), key=lambda i: values[i])
        px, py = point(peak, values[peak])
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-linejoin="round"/>'
                     f'<circle cx="{_n(px)}" cy="{_n(py)}" r="2" fill="{colour}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
