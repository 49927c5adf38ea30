"""Presenting tables: Markdown, CSV, JUnit XML, and self-contained HTML pages from jinja2 templates.

Every HTML page starts with the same header: the verdict, the models and revisions, the suite, the
date and the evalkit and mteb versions. Tables sort by any column (a few lines of inline script),
charts are inline SVG (`evalkit.report.charts`), and nothing is fetched at view time.

Only presentation lives here; numbers are rounded for display only, and a missing number is shown
as `-`, never as NaN.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree as ET

import pandas as pd

from evalkit._io import remove_stale_temps, write_atomic
from evalkit._text import csv_cell, md_cell, xml_text
from evalkit._util import package_versions

Tone = Literal["good", "bad", "warn", "info"]
_TEMPLATES = Path(__file__).with_name("templates")


def fmt(value: object, digits: int = 4, *, signed: bool = False) -> str:
    """A number for display, '-' for missing (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
        # A difference that rounds to zero is shown as zero, never as "-0.0000".
        return text.replace("-", "+" if signed else "", 1) if float(text) == 0 else text
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of `frame`."""
    if frame.empty:
        return "_(none)_"
    cols = list(frame.columns)
    lines = [
        "| " + " | ".join(md_cell(c) for c in cols) + " |",
        "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool else "---" for c in cols) + "|",
    ]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(md_cell(fmt(v, digits)) for v in row) + " |")
    return "\n".join(lines)


def csv_text(frame: pd.DataFrame) -> str:
    """`frame` as CSV whose text cells a spreadsheet will not run as formulas (see `_text.csv_cell`)."""
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(csv_cell)
    safe.columns = [csv_cell(str(c)) for c in safe.columns]
    return safe.to_csv(index=False)


@dataclass(frozen=True)
class JUnitCase:
    """One JUnit test case: a failure message fails it, a skip message skips it."""

    classname: str
    name: str
    failure: str | None = None
    skipped: str | None = None
    seconds: float = 0.0


def junit_xml(suite_name: str, cases: Sequence[JUnitCase]) -> str:
    """JUnit XML with one test case per `JUnitCase`."""
    failures = sum(1 for c in cases if c.failure)
    skipped = sum(1 for c in cases if c.skipped and not c.failure)
    x = xml_text  # names come from results folders written by others: no character XML cannot hold
    root = ET.Element("testsuite", name=x(suite_name), tests=str(len(cases)), failures=str(failures), errors="0", skipped=str(skipped))
    for c in cases:
        case = ET.SubElement(root, "testcase", classname=x(c.classname), name=x(c.name), time=f"{c.seconds:.3f}")
        if c.failure:
            failure = ET.SubElement(case, "failure", message=x(c.failure))
            failure.text = x(c.failure)
        elif c.skipped:
            ET.SubElement(case, "skipped", message=x(c.skipped))
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_files(folder: Path, stem: str, contents: dict[str, str]) -> list[Path]:
    """Write `<stem>.<ext>` files atomically; returns their paths (temp files of killed writers go first)."""
    if folder.is_dir():
        remove_stale_temps(folder, recursive=False)
    paths = []
    for ext, text in contents.items():
        path = folder / f"{stem}.{ext}"
        write_atomic(path, text)
        paths.append(path)
    return paths


# --- the terminal ---------------------------------------------------------------------------------


def full_table_at(files: Iterable[Path]) -> str:
    """Where the full table is: the Markdown and HTML pages written, or `--full` only when none was."""
    pages = [str(p) for p in files if p.suffix in (".md", ".html")]
    return (" and ".join(pages) + ", or --full") if pages else "--full"


def verdict_last(summary: Sequence[str], verdict: str, *, full_page: str | None = None) -> str:
    """What a command that judges prints: its summary (or, with `full_page`, its whole Markdown page), then the verdict.

    `card compare`, `regress` and `leaderboard` all print through here, so the verdict is the last
    line on the terminal and never scrolls away above a long table.

    Args:
        summary: the short lines (counts, the worst or top rows, where the full table is).
        verdict: the one-line verdict, e.g. `MATCH: all 5 compared main score(s) within 0.0005`.
        full_page: the page's Markdown, printed instead of the summary (`--full`).

    Returns:
        The text, ending with the verdict line and a newline.
    """
    body = full_page if full_page is not None else "\n".join(summary)
    return body.rstrip("\n") + "\n" + verdict + "\n"


# --- what a page is about -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """A model on a page: its role there (baseline, candidate, card, results), name and revision."""

    role: str
    name: str
    revision: str | None = None


@dataclass(frozen=True)
class About:
    """Who and what a page compares, beyond its numbers: models, suite, mteb versions of the results."""

    models: tuple[ModelRef, ...] = ()
    suite: str | None = None
    result_versions: tuple[str, ...] = ()


def models_of(table: pd.DataFrame, role: str) -> tuple[ModelRef, ...]:
    """The (model, revision) pairs of a Scores table, as page header entries."""
    if table.empty:
        return ()
    pairs = table[["model", "revision"]].drop_duplicates().itertuples(index=False)
    return tuple(ModelRef(role, str(m), None if r is None or pd.isna(r) else str(r)) for m, r in pairs)


def mteb_versions(*tables: pd.DataFrame) -> tuple[str, ...]:
    """The mteb versions that wrote a Scores table's results (cards have none)."""
    found = {str(v) for t in tables if not t.empty for v in t["mteb_version"].dropna().unique() if str(v) not in ("", "None")}
    return tuple(sorted(found))


def manifest_of(folder: Path) -> dict[str, Any]:
    """The run manifest of a results folder (a revision folder, or a root holding one model), or {}."""
    from evalkit.results.folder import ResultsFolder

    found = ResultsFolder.with_manifest(folder)
    return found[0].read_manifest() if found else {}


def suite_of(folder: Path) -> str | None:
    """The suite a results folder was run with, from its manifest."""
    return (manifest_of(folder).get("suite") or {}).get("name")


# --- tables ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: the text shown, the key it sorts by ('' sorts last), a class and a link."""

    text: str
    sort: str = ""
    cls: str = ""
    href: str = ""


@dataclass(frozen=True)
class Table:
    """A sortable HTML table: header names, which columns are numeric, and rows of cells."""

    id: str
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: tuple[tuple[Cell, ...], ...]
    row_ids: tuple[str, ...] = ()
    row_classes: tuple[str, ...] = ()
    caption: str = ""


def _sort_key(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(float(value))
    return str(value)


def table(
    frame: pd.DataFrame,
    *,
    id: str,
    digits: int = 4,
    signed: Iterable[str] = (),
    percent: Iterable[str] = (),
    wrap: Iterable[str] = ("text", "text2", "gold", "note", "reason"),
    row_class: Callable[[Any], str] | None = None,
    row_id: Callable[[Any], str] | None = None,
    links: dict[str, Callable[[Any], str]] | None = None,
    caption: str = "",
) -> Table:
    """A sortable `Table` of `frame`: numbers rounded to `digits` for display, sorted at full precision.

    Args:
        frame: the rows to show, columns in order.
        id: the table's HTML id (unique on the page).
        digits: decimals shown for floats.
        signed: columns shown with an explicit sign (deltas).
        percent: columns of fractions shown as percentages.
        wrap: columns whose long texts wrap instead of widening the table.
        row_class: CSS class of a row (a verdict colour), from the row tuple.
        row_id: HTML id of a row (a link target), from the row tuple.
        links: per column, the link target of its cells, from the row tuple ('' for none).
        caption: a line under the table.

    Returns:
        The table, ready for the `table` macro of the page templates.
    """
    cols = [str(c) for c in frame.columns]
    numeric = tuple(bool(pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool) for c in frame.columns)
    signed, percent, wrap = set(signed), set(percent), set(wrap)
    links = links or {}
    rows, ids, classes = [], [], []
    for row in frame.itertuples(index=False, name="Row"):
        cells = []
        for col, value in zip(cols, row, strict=True):
            href = links[col](row) if col in links else ""
            text = fmt(value * 100, 1) + "%" if col in percent and _sort_key(value) else fmt(value, digits, signed=col in signed)
            cells.append(Cell(text, _sort_key(value), cls="wrap" if col in wrap else "", href=href))
        rows.append(tuple(cells))
        ids.append(row_id(row) if row_id else "")
        classes.append(row_class(row) if row_class else "")
    return Table(id, tuple(cols), numeric, tuple(rows), tuple(ids), tuple(classes), caption)


def anchor(*parts: object) -> str:
    """An HTML id from parts: `anchor("task", "ATEC", "test")` -> `task-ATEC-test`."""
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "_", "-".join(str(p) for p in parts))


# --- pages -----------------------------------------------------------------------------------------


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=jinja2.select_autoescape(("html", "j2")),
        undefined=jinja2.StrictUndefined,  # a typo in a template fails loudly, never renders blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    return env


def render_page(
    template: str,
    *,
    verdict: str,
    tone: Tone,
    title: str,
    summary: str,
    about: About,
    **context: Any,
) -> str:
    """Render one page: the common header (verdict, models, suite, date, versions), then `template`'s body.

    Args:
        template: file name under `evalkit/templates/`.
        verdict: the first word of the page (PASS, REGRESSED, OFF, MATCH, ...).
        tone: the verdict's colour.
        title: the page title (the command).
        summary: one line under the verdict.
        about: the models, suite and result versions shown in the header.
        **context: what the template's body needs (tables, charts, notes).

    Returns:
        A self-contained HTML document.
    """
    from markupsafe import Markup

    charts = {k: Markup(v) for k, v in context.pop("charts", {}).items()}
    return (
        _environment()
        .get_template(template)
        .render(
            verdict=verdict,
            tone=tone,
            title=title,
            summary=summary,
            about=about,
            created=time.strftime("%Y-%m-%d %H:%M %Z"),
            versions=package_versions("evalkit", "mteb"),
            charts=charts,
            **context,
        )
    )
