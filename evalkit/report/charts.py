"""Hand-written SVG bar charts for the report pages: real axes, values on hover, verdict colours.

Why not a plotting library: the same 35-bar chart as a self-contained page (no network at view
time) weighs 4.82 MB with plotly 7 (`include_plotlyjs=True`) and 0.90 MB with altair 6 (vega,
vega-lite and vega-embed inlined); these charts are a few kB, need no script and draw the same
axes, gridlines, tolerance bands, intervals and hover values (`<title>`).

Coordinates are percentages of the chart's width and each label sits on its own line above its
bar, so one SVG fits a 1400 px window and a 390 px phone alike with text at its real size.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Verdict colours (a red/green pair with a blue-grey neutral that stay apart for most colour-blind readers).
BAD = "#c62828"
GOOD = "#2e7d32"
WARN = "#e65100"
NEUTRAL = "#546e7a"
MISSING = "#9e9e9e"
# Series colours: Okabe-Ito, then Tableau, for models or task types.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
    "#B07AA1",
)

_LEFT, _RIGHT = 1.0, 99.0  # plot area in percent of the width; tick labels at the ends stay inside
_LABEL_H, _BAR_H, _ROW_GAP, _GROUP_H, _AXIS_H = 15, 12, 7, 24, 22


@dataclass(frozen=True)
class Bar:
    """One bar from `start` to `end` on the value axis."""

    end: float
    colour: str
    tip: str
    start: float = 0.0


@dataclass(frozen=True)
class Row:
    """One labelled line of the chart: its bars, an optional interval whisker and link."""

    label: str
    value_text: str
    bars: tuple[Bar, ...]
    tip: str = ""
    interval: tuple[float, float] | None = None
    href: str | None = None
    cls: str = ""


@dataclass(frozen=True)
class Group:
    """Rows under one heading (a task type, a model)."""

    title: str
    rows: tuple[Row, ...]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten.

    Example: `nice_ticks(-0.013, 0.013)` -> `[-0.02, -0.01, 0.0, 0.01, 0.02]`.
    """
    span = hi - lo
    if not math.isfinite(span) or span <= 0:
        return [lo]
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    # round(): 0.1 + 0.2-style noise must not reach the labels; + 0.0 turns -0.0 into 0.0.
    return [round(i * step, 12) + 0.0 for i in range(first, last + 1)]


def domain(values: Sequence[float], *, symmetric: bool = False, floor: float = 0.0, min_half_span: float = 0.0) -> tuple[float, float]:
    """An axis range that holds every finite value, extended to round ticks.

    Args:
        values: what the chart draws (bars, interval ends, bands); NaN and None are ignored.
        symmetric: centre the range on zero (deltas), so gains and losses share one scale.
        floor: the lowest start of an unsigned axis (0 for scores).
        min_half_span: the smallest half-width of a symmetric axis, so that all-zero deltas do not
            blow a rounding error up to the full width.

    Returns:
        (low, high) with low < high.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if symmetric:
        half = max([abs(v) for v in finite] + [min_half_span, 1e-6])
        ticks = nice_ticks(-half, half)
        top = max(abs(ticks[0]), abs(ticks[-1]))
        return -top, top
    lo = min([floor, *finite])
    hi = max([lo + 1e-6, *finite])
    ticks = nice_ticks(lo, hi)
    return ticks[0], ticks[-1]


def _x(value: float, lo: float, hi: float) -> float:
    value = min(max(value, lo), hi)
    return _LEFT + (_RIGHT - _LEFT) * (value - lo) / (hi - lo)


def _fmt_tick(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step)) + (1 if round(step / 10 ** math.floor(math.log10(step)), 6) == 2.5 else 0))
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def _axis(y: float, lo: float, hi: float, ticks: list[float], *, labels: bool, grid_to: float) -> list[str]:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    out = []
    for i, t in enumerate(ticks):
        x = _x(t, lo, hi)
        out.append(f'<line class="grid" x1="{x:.3f}%" x2="{x:.3f}%" y1="{y:.0f}" y2="{grid_to:.0f}"/>')
        if labels:
            anchor = "start" if i == 0 else ("end" if i == len(ticks) - 1 else "middle")
            out.append(f'<text class="tick" x="{x:.3f}%" y="{y - 6:.0f}" text-anchor="{anchor}">{_fmt_tick(t, step)}</text>')
    return out


def bar_chart(
    groups: Sequence[Group],
    *,
    title: str,
    axis_label: str,
    lo: float,
    hi: float,
    band: tuple[float, float] | None = None,
    band_label: str = "",
) -> str:
    """An inline SVG of horizontal bars grouped under headings, with a value axis on top and bottom.

    Args:
        groups: the rows to draw, in order.
        title: accessible name of the chart (screen readers, hover on the background).
        axis_label: what the value axis measures, with its unit or scale.
        lo: low end of the value axis (see `domain`).
        hi: high end of the value axis.
        band: a shaded range on the value axis (a tolerance), if any.
        band_label: hover text of the band.

    Returns:
        The `<svg>` element and its axis title as HTML; empty when there is nothing to draw.
    """
    rows = [r for g in groups for r in g.rows]
    if not rows or not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        return ""
    ticks = [t for t in nice_ticks(lo, hi) if lo - 1e-12 <= t <= hi + 1e-12]
    top = _AXIS_H + 14
    height = top + len(groups) * _GROUP_H + len(rows) * (_LABEL_H + _BAR_H + _ROW_GAP) + _AXIS_H + 4
    body: list[str] = []
    y = top
    for group in groups:
        if group.title:
            body.append(f'<text class="group" x="0" y="{y + 16}">{html.escape(group.title)}</text>')
        y += _GROUP_H
        for row in group.rows:
            body.append(_row(row, y, lo, hi))
            y += _LABEL_H + _BAR_H + _ROW_GAP
    bottom = y + 4
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="100%" height="{height}" role="img" aria-label="{html.escape(title)}">',
        f"<title>{html.escape(title)}</title>",
    ]
    if band is not None and band[1] > band[0]:
        x0, x1 = _x(band[0], lo, hi), _x(band[1], lo, hi)
        parts.append(
            f'<rect class="band" x="{x0:.3f}%" y="{top}" width="{x1 - x0:.3f}%" height="{bottom - top}"><title>{html.escape(band_label)}</title></rect>'
        )
    parts += _axis(top, lo, hi, ticks, labels=True, grid_to=bottom)
    parts += _axis(bottom + _AXIS_H - 4, lo, hi, ticks, labels=True, grid_to=bottom)
    if lo < 0 < hi:
        x0 = _x(0.0, lo, hi)
        parts.append(f'<line class="zero" x1="{x0:.3f}%" x2="{x0:.3f}%" y1="{top}" y2="{bottom}"/>')
    parts += body
    parts.append("</svg>")
    # The axis title is HTML under the chart, so it wraps on a phone instead of running off the edge.
    parts.append(f'<p class="axis-label">{html.escape(axis_label)}</p>')
    return "\n".join(parts)


def _value_text(row: Row, y: float, by: float, lo: float, hi: float) -> str:
    """The row's value beside its bars, on the bar's line, so a long label on a phone never runs into it."""
    ends = [_x(v, lo, hi) for b in row.bars for v in (b.start, b.end) if math.isfinite(v)]
    if row.interval is not None and all(math.isfinite(v) for v in row.interval):
        ends += [_x(v, lo, hi) for v in row.interval]
    text = html.escape(row.value_text)
    if ends and max(ends) < 86:
        return f'<text class="value" x="{max(ends) + 0.8:.3f}%" y="{by + _BAR_H - 2}">{text}</text>'
    if ends and min(ends) > 14:
        return f'<text class="value" x="{min(ends) - 0.8:.3f}%" y="{by + _BAR_H - 2}" text-anchor="end">{text}</text>'
    return f'<text class="value" x="100%" y="{y + 11}" text-anchor="end">{text}</text>'


def _row(row: Row, y: float, lo: float, hi: float) -> str:
    out = [f'<g class="row{" " + row.cls if row.cls else ""}"><title>{html.escape(row.tip or f"{row.label}: {row.value_text}")}</title>']
    out.append(f'<text class="label" x="0" y="{y + 11}">{html.escape(row.label)}</text>')
    by = y + _LABEL_H
    out.append(_value_text(row, y, by, lo, hi))
    for bar in row.bars:
        if not (math.isfinite(bar.start) and math.isfinite(bar.end)):
            continue
        a, b = sorted((_x(bar.start, lo, hi), _x(bar.end, lo, hi)))
        # A zero-length bar still shows as a hairline, so "no change" is visible, not blank.
        width = max(b - a, 0.15)
        out.append(
            f'<rect x="{a:.3f}%" y="{by}" width="{width:.3f}%" height="{_BAR_H}" fill="{bar.colour}"><title>{html.escape(bar.tip)}</title></rect>'
        )
    if row.interval is not None:
        a, b = row.interval
        if math.isfinite(a) and math.isfinite(b) and b > a:
            xa, xb, cy = _x(a, lo, hi), _x(b, lo, hi), by + _BAR_H / 2
            out.append(
                f'<g class="ci"><line x1="{xa:.3f}%" x2="{xb:.3f}%" y1="{cy}" y2="{cy}"/>'
                f'<line x1="{xa:.3f}%" x2="{xa:.3f}%" y1="{by + 1}" y2="{by + _BAR_H - 1}"/>'
                f'<line x1="{xb:.3f}%" x2="{xb:.3f}%" y1="{by + 1}" y2="{by + _BAR_H - 1}"/></g>'
            )
    out.append("</g>")
    text = "".join(out)
    if row.href:
        return f'<a href="{html.escape(row.href)}">{text}</a>'
    return text
