"""The card-compare pages: compare.md, compare.csv, compare.html, and the terminal summary.

Everything here renders a `CompareReport` (`evalkit.judge.compare`); the statuses, the averages and
the verdict are the judge's and are never recomputed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.judge.compare import CompareReport
from evalkit.report import charts as C
from evalkit.report import pages as R

#: How many of the worst main scores the terminal summary lists.
WORST_SHOWN = 5
_VERDICTS: dict[str, tuple[str, R.Tone]] = {
    "off": ("OFF", "bad"),
    "match": ("MATCH", "good"),
    "nothing compared": ("NOTHING COMPARED", "bad"),
}


def _verdict_text(report: CompareReport) -> str:
    main = report.main
    if report.nothing_compared:
        on_card = int(main["card"].notna().sum())
        in_results = int(main["ours"].notna().sum())
        return (
            f"**nothing compared**: none of the card's {on_card} main score(s) is in the results "
            f"({in_results} main score(s)); pass results of the card's tasks"
        )
    counts = main["status"].value_counts().to_dict()
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    off = len(report.off)
    tolerance = report.tolerance
    verdict = f"**{off} main score(s) off by more than {tolerance}**" if off else f"all compared main scores within {tolerance}"
    return f"Main scores: {summary}. {report.compared} compared: {verdict}."


def markdown(report: CompareReport) -> str:
    """compare.md: the header, the verdict, the main scores, the averages and every card metric.

    Returns:
        The Markdown text (what `evalkit card compare --full` prints).
    """
    header = report.header
    parts = [
        f"# Card comparison: {header[0]}",
        *([""] + [f"> {line}" for line in header[1:]] if len(header) > 1 else []),
        "",
        _verdict_text(report),
        "",
        "## Main scores",
        R.markdown_table(report.main),
        "",
        "## Averages per task type (main scores whose task, subset and split are on both sides; leaderboard style)",
        R.markdown_table(report.averages),
        "",
        "## Every card metric",
        R.markdown_table(report.rows),
    ]
    if report.extras:
        parts += ["", "## Card metrics with no mteb 2.x equivalent (kept on the card, not compared)", *[f"- {u}" for u in report.extras]]
    return "\n".join(parts) + "\n"


def verdict_line(report: CompareReport) -> str:
    """The one-line verdict that ends the terminal output, e.g. `MATCH: all 5 compared main scores within 0.0005`."""
    word = _VERDICTS[report.verdict][0]
    if report.verdict == "nothing compared":
        return f"{word}: none of the card's {int(report.main['card'].notna().sum())} main score(s) is in the results"
    if report.verdict == "off":
        return f"{word}: {len(report.off)} of {report.compared} compared main score(s) off by more than {report.tolerance:g}"
    return f"{word}: all {report.compared} compared main score(s) within {report.tolerance:g}"


def terminal_summary(report: CompareReport, *, full: bool = False, worst: int = WORST_SHOWN) -> str:
    """What `evalkit card compare` prints: the header, counts per status, the worst rows, the verdict last.

    Args:
        report: the comparison.
        full: print the whole comparison (`markdown(report)`, every metric row) instead of the summary.
        worst: how many of the main scores furthest from the card to list.

    Returns:
        Text whose last line is `verdict_line(report)`. Example::

            Results of sentence-transformers/all-MiniLM-L6-v2 @ 5076c6045d315992 against the card of all-MiniLM-L6-v2
            Main scores: 5 match. 5 compared: all compared main scores within 0.0005.
            Card metrics: 376 rows (5 match, ...); the full table: compare.md or --full
            MATCH: all 5 compared main score(s) within 0.0005
    """
    if full:
        return R.verdict_last((), verdict_line(report), full_page=markdown(report))
    lines = list(report.header)
    lines.append(_verdict_text(report).replace("**", ""))
    counts = report.rows["status"].value_counts().to_dict()
    lines.append(
        f"Card metrics: {len(report.rows)} rows ("
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        + f"); the full table: {R.full_table_at(report.files)}"
    )
    both = report.main.dropna(subset=["card", "ours"])
    far = both[both["status"] != "match"]
    if len(far) and worst > 0:
        far = far.assign(_abs=far["delta"].abs()).sort_values("_abs", ascending=False, kind="stable").drop(columns="_abs")
        shown = far.head(worst)
        lines += ["", f"Main scores furthest from the card ({len(shown)} of {len(far)} not matching):", R.markdown_table(shown), ""]
    return R.verdict_last(lines, verdict_line(report))


def write_reports(report: CompareReport, folder: Path, *, about: R.About | None = None) -> tuple[Path, ...]:
    """Write compare.md, compare.csv and a self-contained compare.html under `folder`.

    Args:
        report: the comparison.
        folder: where the files go (created if needed).
        about: the card and results models and the suite, for the page header.

    Returns:
        The paths written.
    """
    colours = {"match": C.GOOD, "within tolerance": C.NEUTRAL, "off": C.BAD, "missing in results": C.MISSING, "missing on card": C.MISSING}
    tones = {"off": "bad", "within tolerance": "", "match": "good"}
    main = report.main
    both = main.dropna(subset=["card", "ours"])
    # Nothing compared fails the command (exit 1) as an off score does: nothing was checked.
    verdict, tone = _VERDICTS[report.verdict]
    counts = main["status"].value_counts()
    compared = [f"{int(counts[s])} {s}" for s in ("match", "within tolerance", "off") if s in counts]
    summary = f"{len(both)} main scores compared: {', '.join(compared)}" if len(both) else "No main score is on both sides"
    summary += f" (tolerance {report.tolerance:g} on the 0-1 scale)"
    if len(main) > len(both):
        summary += "; " + ", ".join(f"{int(counts[s])} {s}" for s in ("missing in results", "missing on card") if s in counts)

    def label(r: Any) -> str:
        subset = "" if r.subset == "default" else f" {r.subset}"
        return f"{r.task}{subset} ({r.split})"

    def row_id(r: Any) -> str:
        return R.anchor("main", r.task, r.subset, r.split)

    groups = [
        C.Group(
            str(ttype),
            tuple(
                C.Row(
                    label(r),
                    R.fmt(r.delta, signed=True),
                    (
                        C.Bar(
                            r.delta, colours[r.status], f"{label(r)}: ours {r.ours:.4f} - card {r.card:.4f} = {r.delta:+.4f} ({r.status})"
                        ),
                    ),
                    href="#" + row_id(r),
                )
                for r in frame.itertuples()
            ),
        )
        for ttype, frame in both.groupby("task_type", sort=True)
    ]
    lo, hi = C.domain(list(both["delta"]), symmetric=True, min_half_span=2 * report.tolerance)
    chart = C.bar_chart(
        groups,
        title="Main scores: ours minus card",
        axis_label="ours - card (main score, 0-1 scale); shaded: within tolerance",
        lo=lo,
        hi=hi,
        band=(-report.tolerance, report.tolerance),
        band_label=f"within tolerance ({report.tolerance:g})",
    )
    page = R.render_page(
        "compare.html.j2",
        verdict=verdict,
        tone=tone,
        title="evalkit card compare",
        summary=summary,
        about=about or R.About(),
        charts={"deltas": chart},
        legend=[(s, colours[s]) for s in ("match", "within tolerance", "off")],
        main=R.table(main, id="main", signed=["delta"], row_class=lambda r: tones.get(r.status, "muted"), row_id=row_id),
        averages=R.table(report.averages, id="averages", signed=["delta"]),
        rows=R.table(report.rows, id="metrics", signed=["delta"], row_class=lambda r: tones.get(r.status, "muted")),
        extras=list(report.extras),
        header=list(report.header),
    )
    # The CSV starts with the same header as comment lines (pandas: read_csv(..., comment="#")).
    csv = "".join(f"# {line}\n" for line in report.header) + R.csv_text(report.rows)
    return tuple(R.write_files(folder, "compare", {"md": markdown(report), "csv": csv, "html": page}))
