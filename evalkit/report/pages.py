"""Presenting tables: Markdown, CSV, JUnit XML, and self-contained HTML pages from jinja2 templates.

Every HTML page starts with the same header: the verdict, the models and revisions, the suite, the
date and the evalkit and mteb versions. Tables sort by any column (a few lines of inline script),
charts are inline SVG (`evalkit.report.charts`), and nothing is fetched at view time.

Only presentation lives here; numbers are rounded for display only, and a missing number is shown
as `-`, never as NaN.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree as ET

import pandas as pd

from evalkit._io import write_atomic

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
        "| " + " | ".join(str(c) for c in cols) + " |",
        "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool else "---" for c in cols) + "|",
    ]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v, digits).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


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
    root = ET.Element("testsuite", name=suite_name, tests=str(len(cases)), failures=str(failures), errors="0", skipped=str(skipped))
    for c in cases:
        case = ET.SubElement(root, "testcase", classname=c.classname, name=c.name, time=f"{c.seconds:.3f}")
        if c.failure:
            failure = ET.SubElement(case, "failure", message=c.failure)
            failure.text = c.failure
        elif c.skipped:
            ET.SubElement(case, "skipped", message=c.skipped)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_files(folder: Path, stem: str, contents: dict[str, str]) -> list[Path]:
    """Write `<stem>.<ext>` files atomically; returns their paths."""
    paths = []
    for ext, text in contents.items():
        path = folder / f"{stem}.{ext}"
        write_atomic(path, text)
        paths.append(path)
    return paths


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
    folder = Path(folder)
    candidates = [folder / "evalkit" / "manifest.json", *sorted(folder.glob("*/*/evalkit/manifest.json"))]
    for path in candidates:
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                return {}
    return {}


def suite_of(folder: Path) -> str | None:
    """The suite a results folder was run with, from its manifest."""
    return (manifest_of(folder).get("suite") or {}).get("name")


def _own_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("evalkit", "mteb"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


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
            versions=_own_versions(),
            charts=charts,
            **context,
        )
    )


# --- the run report ----------------------------------------------------------------------------------


def _revision_folder(folder: Path) -> Path:
    """The one model's revision folder inside `folder` (which may be that folder itself)."""
    from evalkit.errors import DataError
    from evalkit.results.folder import ResultsFolder

    if (folder / "evalkit" / "manifest.json").is_file() or ResultsFolder(folder).has_results():
        return folder
    # Every task failed: no results, but a manifest says what happened.
    found = sorted({p.parents[1] for p in folder.glob("*/*/evalkit/manifest.json")})
    if not found:
        found = [f.path for f in ResultsFolder.find(folder)]
    if len(found) > 1:
        raise DataError(f"results folder {folder}: holds several models; pass one model's folder (<output>/<org__name>/<revision>/)")
    return found[0]


def _record(folder: Path, task: str) -> dict[str, Any]:
    try:
        return json.loads((folder / "evalkit" / "tasks" / f"{task}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def run_tables(folder: Path) -> dict[str, Any]:
    """The run report's content for one model's results folder: scores, averages, timing, encoder counts.

    Args:
        folder: `<output>/<org__name>/<revision>/` (or a root holding one model).

    Returns:
        `scores` (per task and split), `averages` (per type, mean (task), mean (type)), `timing`
        (per task and a total row), `manifest`, `folder` and `table` (the Scores table).

    Raises:
        DataError: a folder with neither results nor a manifest, or one that mixes models.
    """
    from evalkit.results import scores as S
    from evalkit.results.folder import ResultsFolder

    folder = _revision_folder(Path(folder))
    manifest = manifest_of(folder)
    # Every task failed: no results, and the manifest still says what happened.
    table = S.read_results(folder, single_model=True) if ResultsFolder(folder).has_results() else S.empty()
    states = manifest.get("tasks", {})
    main = S.main_scores(table)
    names = list(dict.fromkeys([*states, *main["task"]]))
    score_rows, time_rows = [], []
    for task in names:
        state, record = states.get(task, {}), _record(folder, task)
        status = state.get("status") or record.get("status") or "done"
        shown = "reused" if status == "skipped" else status
        rows = main[main["task"] == task]
        ttype = rows["task_type"].iloc[0] if len(rows) else record.get("task_type", "")
        for r in rows.itertuples():
            score_rows.append(
                {
                    "task": task,
                    "type": ttype,
                    "subset": r.subset,
                    "split": r.split,
                    "metric": r.metric,
                    "score": r.value,
                    "status": shown,
                    "reason": "",
                }
            )
        if rows.empty:
            reason = state.get("reason") or record.get("reason") or ""
            score_rows.append(
                {
                    "task": task,
                    "type": ttype,
                    "subset": "-",
                    "split": "-",
                    "metric": record.get("main_metric") or "-",
                    "score": math.nan,
                    "status": shown,
                    "reason": reason,
                }
            )
        # The record keeps the run that computed the task; a later run that reused it took no time.
        stats = record.get("encoder_stats") or state.get("encoder_stats") or {}
        seconds = float(record.get("seconds", state.get("seconds", math.nan)))
        encode = float(stats.get("encode_seconds", math.nan))
        time_rows.append(
            {
                "task": task,
                "status": shown,
                "seconds": seconds,
                "encode s": encode,
                "encode share": encode / seconds if seconds and seconds > 0 and not math.isnan(encode) else math.nan,
                "texts": stats.get("texts"),
                "encoded": stats.get("encoded"),
                "cache hits": stats.get("cache_hits"),
                "empty": stats.get("empty"),
                "truncated": stats.get("truncated"),
            }
        )
    scores = pd.DataFrame(score_rows, columns=["task", "type", "subset", "split", "metric", "score", "status", "reason"])
    if not scores["reason"].astype(bool).any():
        scores = scores.drop(columns="reason")
    timing = pd.DataFrame(
        time_rows, columns=["task", "status", "seconds", "encode s", "encode share", "texts", "encoded", "cache hits", "empty", "truncated"]
    )
    for col in ("texts", "encoded", "cache hits", "empty", "truncated"):
        timing[col] = pd.to_numeric(timing[col], errors="coerce").astype("Int64")
    if len(timing):
        total = {"task": "total", "status": "", **{c: timing[c].sum(min_count=1) for c in timing.columns[2:]}}
        total["encode share"] = total["encode s"] / total["seconds"] if total["seconds"] else math.nan
        timing = pd.concat([timing, pd.DataFrame([total])], ignore_index=True)
    return {"folder": folder, "manifest": manifest, "table": table, "scores": scores, "averages": cmteb_averages(table), "timing": timing}


def cmteb_averages(table: pd.DataFrame) -> pd.DataFrame:
    """C-MTEB averages as mteb's benchmark tables compute them: per type, mean (task) and mean (type).

    A task's score is the mean of its main score over its splits and subsets (mteb's `get_score`),
    a type's the mean over its tasks, `mean (task)` the mean over all tasks and `mean (type)` the
    mean of the type means (`mteb/benchmarks/_create_table.py`: `Mean (Task)`, `Mean (TaskType)`).

    Returns:
        Columns `average`, `tasks`, `score`.
    """
    from evalkit.results import scores as S

    per_type = S.averages(table, type_mean=True)
    if per_type.empty:
        return pd.DataFrame(columns=["average", "tasks", "score"])
    names = {"All": "mean (task)", "All types": "mean (type)"}
    return pd.DataFrame(
        [{"average": names.get(t.task_type, t.task_type), "tasks": int(t.tasks), "score": float(t.value)} for t in per_type.itertuples()]
    )


def run_report(folder: Path, reports_dir: Path) -> tuple[Path, ...]:
    """Write `run.md` and `run.html` for one model's results folder.

    The page shows scores per task and split, the C-MTEB averages per type and overall, the time
    per task with its encode share, and the encoder's cache hits, empty and truncated texts.

    Args:
        folder: `<output>/<org__name>/<revision>/` (or a root holding one model).
        reports_dir: where the two files go (created if needed).

    Returns:
        The paths written.

    Raises:
        DataError: a folder with neither results nor a manifest, or one that mixes models.
    """
    from evalkit.report import charts as C

    t = run_tables(Path(folder))
    manifest, scores, averages, timing, results = t["manifest"], t["scores"], t["averages"], t["timing"], t["table"]
    model = manifest.get("model", {})
    name = model.get("name") or (str(results["model"].iloc[0]) if len(results) else t["folder"].parent.name)
    revision = model.get("revision") or (str(results["revision"].iloc[0]) if len(results) else t["folder"].name)
    per_task = timing[timing["task"] != "total"]
    failed = per_task[per_task["status"] == "failed"]
    locked = per_task[per_task["status"] == "locked"]
    verdict, tone = ("FAILED", "bad") if len(failed) else (("INCOMPLETE", "warn") if len(locked) else ("PASS", "good"))
    counts = per_task["status"].value_counts()
    summary = f"{len(per_task)} task{'' if len(per_task) == 1 else 's'}: " + ", ".join(f"{int(n)} {s}" for s, n in counts.items())
    overall = averages[averages["average"] == "mean (task)"]
    if len(overall):
        summary += f"; mean (task) {overall['score'].iloc[0]:.4f}"
    total = timing[timing["task"] == "total"]
    if len(total) and not pd.isna(total["seconds"].iloc[0]):
        share = total["encode share"].iloc[0]
        summary += f"; {total['seconds'].iloc[0]:.1f} s" + ("" if pd.isna(share) else f" ({share:.0%} encoding)")
    about = About(
        models=(ModelRef("model", str(name), str(revision)),),
        suite=(manifest.get("suite") or {}).get("name"),
        result_versions=mteb_versions(results),
    )

    type_colours = {tt: C.PALETTE[i % len(C.PALETTE)] for i, tt in enumerate(sorted({str(x) for x in scores["type"]}))}
    groups = []
    for ttype, frame in scores.groupby("type", sort=True):
        rows = []
        for r in frame.itertuples():
            where = r.split if r.subset in ("default", "-") else f"{r.subset}/{r.split}"
            if math.isnan(r.score):
                rows.append(
                    C.Row(
                        f"{r.task}",
                        r.status,
                        (),
                        tip=f"{r.task}: {r.status} {getattr(r, 'reason', '')}".strip(),
                        cls="failed",
                        href="#" + anchor("score", r.task),
                    )
                )
                continue
            tip = f"{r.task} ({where}), {r.metric}: {r.score:.4f}"
            rows.append(
                C.Row(
                    f"{r.task} ({where})",
                    f"{r.score:.4f}",
                    (C.Bar(r.score, type_colours[str(ttype)], tip),),
                    tip=tip,
                    href="#" + anchor("score", r.task),
                )
            )
        groups.append(C.Group(str(ttype), tuple(rows)))
    lo, hi = C.domain([v for v in scores["score"] if not math.isnan(v)], floor=0.0)
    score_chart = C.bar_chart(groups, title="Main score per task and split", axis_label="main score (0-1 scale)", lo=lo, hi=max(hi, 1.0))

    encode_colour, other_colour = "#0072B2", "#b0bec5"
    time_rows = []
    for r in per_task.to_dict("records"):
        if pd.isna(r["seconds"]):
            continue
        enc = 0.0 if pd.isna(r["encode s"]) else float(r["encode s"])
        share = "" if pd.isna(r["encode share"]) else f" ({r['encode share']:.0%})"
        tip = f"{r['task']}: {r['seconds']:.1f} s, of which encoding {enc:.1f} s{share}"
        bars = (C.Bar(enc, encode_colour, tip), C.Bar(float(r["seconds"]), other_colour, tip, start=enc))
        time_rows.append(C.Row(r["task"], f"{r['seconds']:.1f} s", bars, tip=tip))
    time_chart = ""
    if time_rows:
        lo, hi = C.domain([float(r.bars[1].end) for r in time_rows])
        time_chart = C.bar_chart(
            [C.Group("", tuple(time_rows))], title="Time per task", axis_label="seconds (encoding, then the rest)", lo=lo, hi=hi
        )

    settings = {k: v for k, v in (manifest.get("settings") or {}).items() if v not in (None, {}, "", False)}
    facts = [
        ("results", str(t["folder"])),
        ("started", manifest.get("started", "-")),
        ("updated", manifest.get("updated", "-")),
        ("data", manifest.get("data_dir") or "the Hub (or its local cache)"),
        ("settings", ", ".join(f"{k}={v}" for k, v in settings.items()) or "-"),
        ("hardware", ", ".join(f"{k}={v}" for k, v in (manifest.get("hardware") or {}).items()) or "-"),
        ("run versions", ", ".join(f"{k} {v}" for k, v in (manifest.get("versions") or {}).items()) or "-"),
    ]
    page = render_page(
        "run.html.j2",
        verdict=verdict,
        tone=tone,
        title="evalkit run",
        summary=summary,
        about=about,
        charts={"scores": score_chart, "time": time_chart},
        type_legend=list(type_colours.items()),
        time_legend=[("encoding", encode_colour), ("the rest (scoring, data)", other_colour)],
        scores=table_of_scores(scores),
        averages=table(averages, id="averages"),
        timing=table(
            timing,
            id="timing",
            digits=2,
            percent=["encode share"],
            row_class=lambda r: "bad" if r.status == "failed" else ("muted" if r.task == "total" else ""),
        ),
        facts=facts,
        warnings=list(manifest.get("warnings", [])),
    )
    md = _run_markdown(verdict, summary, about, scores, averages, timing, manifest)
    return tuple(write_files(Path(reports_dir), "run", {"md": md, "html": page}))


def table_of_scores(scores: pd.DataFrame) -> Table:
    """The per-task-and-split scores as a sortable table; failed tasks marked, first row of each task anchored."""
    first: set[str] = set()

    def row_id(r: Any) -> str:
        if r.task in first:
            return ""
        first.add(r.task)
        return anchor("score", r.task)

    return table(scores, id="scores", row_class=lambda r: "bad" if r.status == "failed" else "", row_id=row_id)


def _run_markdown(
    verdict: str, summary: str, about: About, scores: pd.DataFrame, averages: pd.DataFrame, timing: pd.DataFrame, manifest: dict[str, Any]
) -> str:
    model = about.models[0] if about.models else ModelRef("model", "-")
    timing = timing.assign(**{"encode share": [fmt(v * 100, 1) + "%" if not pd.isna(v) else "-" for v in timing["encode share"]]})
    lines = [
        f"# evalkit run: {verdict}",
        "",
        f"Model `{model.name}` @ `{model.revision}`, suite {about.suite or '-'}. {summary}.",
        "",
        "## Scores per task and split",
        markdown_table(scores),
        "",
        "## C-MTEB averages",
        "A task's score is the mean over its splits and subsets; a type's the mean over its tasks; mean (task) over all tasks; mean (type) over the type means.",
        "",
        markdown_table(averages),
        "",
        "## Time per task and encoder counts",
        markdown_table(timing, digits=2),
    ]
    if manifest.get("warnings"):
        lines += ["", "## Warnings", *[f"- {w}" for w in manifest["warnings"]]]
    return "\n".join(lines) + "\n"
