"""Presenting tables: Markdown, CSV, self-contained HTML with SVG charts, JUnit XML.

Only presentation lives here; numbers are rounded for display only.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd

from evalkit._io import write_atomic

_COLORS = ("#4C78A8", "#F58518", "#54A24B", "#E45756")


def fmt(value: object, digits: int = 4) -> str:
    """A number for display, '-' for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of `frame`."""
    if frame.empty:
        return "_(none)_"
    cols = list(frame.columns)
    lines = [
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in cols) + "|",
    ]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v, digits).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def bar_chart(
    groups: Sequence[tuple[str, Sequence[tuple[str, Sequence[float | None]]]]],
    series: Sequence[str],
    *,
    title: str,
    signed: bool = False,
    intervals: Sequence[Sequence[tuple[float, float] | None]] | None = None,
) -> str:
    """An inline SVG chart: horizontal bars per item, items grouped under headings.

    Args:
        groups: (group label, [(item label, one value per series)]).
        series: series names (legend).
        title: chart title.
        signed: bars grow from a centre zero line (for deltas) instead of from the left.
        intervals: per item (flattened in order), an optional (low, high) whisker for series 0.
    """
    row_h, bar_h, label_w, plot_w = 22, 8, 230, 420
    items = [(g, label, vals) for g, rows in groups for label, vals in rows]
    values = [abs(v) for _, _, vals in items for v in vals if v is not None]
    if intervals:
        values += [abs(x) for iv in intervals for pair in iv if pair for x in pair]
    vmax = max(values, default=1.0) or 1.0
    if not signed:
        vmax = max(vmax, 1e-9)
    height = 40 + len(items) * row_h + len(groups) * 18 + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 80}" height="{height}" font-family="sans-serif" font-size="11">'
    ]
    out.append(f'<text x="4" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>')
    for i, name in enumerate(series):
        out.append(
            f'<rect x="{label_w + i * 110}" y="24" width="10" height="10" fill="{_COLORS[i % 4]}"/><text x="{label_w + i * 110 + 14}" y="33">{html.escape(name)}</text>'
        )
    y = 48
    zero = label_w + (plot_w / 2 if signed else 0)
    scale = (plot_w / 2 if signed else plot_w) / vmax
    current = None
    flat = 0
    for group, label, vals in items:
        if group != current:
            current = group
            out.append(f'<text x="4" y="{y + 10}" font-weight="bold">{html.escape(group)}</text>')
            y += 18
        out.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{html.escape(label)}</text>')
        for s, v in enumerate(vals):
            if v is None:
                continue
            x = zero if v >= 0 else zero + v * scale
            out.append(
                f'<rect x="{x:.1f}" y="{y + 2 + s * (bar_h + 1)}" width="{abs(v) * scale:.1f}" height="{bar_h}" fill="{_COLORS[s % 4]}"><title>{html.escape(label)}: {v:.4f}</title></rect>'
            )
        if intervals and flat < len(intervals) and intervals[flat] and intervals[flat][0]:
            lo, hi = intervals[flat][0]
            cy = y + 2 + bar_h / 2
            out.append(f'<line x1="{zero + lo * scale:.1f}" x2="{zero + hi * scale:.1f}" y1="{cy}" y2="{cy}" stroke="black"/>')
        flat += 1
        y += row_h
    if signed:
        out.append(f'<line x1="{zero}" x2="{zero}" y1="44" y2="{y}" stroke="#888"/>')
    out.append("</svg>")
    return "\n".join(out)


def html_page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A self-contained HTML page: (heading, HTML body) sections, no external assets."""
    style = "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}th{background:#eee}"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>\n{body}")
    parts.append("</body></html>")
    return "\n".join(parts)


def html_table(frame: pd.DataFrame) -> str:
    """An HTML table of `frame` with display rounding."""
    if frame.empty:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{rows}</table>"


def junit_xml(suite_name: str, cases: Sequence[tuple[str, str, str | None, float]]) -> str:
    """JUnit XML: one test case per (class, name, failure message or None, seconds)."""
    failures = sum(1 for _, _, msg, _ in cases if msg)
    root = ET.Element("testsuite", name=suite_name, tests=str(len(cases)), failures=str(failures), errors="0")
    for classname, name, message, seconds in cases:
        case = ET.SubElement(root, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
        if message:
            failure = ET.SubElement(case, "failure", message=message)
            failure.text = message
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_files(folder: Path, stem: str, contents: dict[str, str]) -> list[Path]:
    """Write `<stem>.<ext>` files atomically; returns their paths."""
    paths = []
    for ext, text in contents.items():
        path = folder / f"{stem}.{ext}"
        write_atomic(path, text)
        paths.append(path)
    return paths
