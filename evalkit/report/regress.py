"""The regress pages: regress.md, regress.json, regress.xml (JUnit), regress.html, and the terminal summary.

Everything here renders a `RegressReport` (`evalkit.judge.regress`); the verdicts, intervals and
the suite verdict are the judge's and are never recomputed here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.judge import confidence
from evalkit.judge.regress import RegressReport
from evalkit.report import charts as C
from evalkit.report import pages as R

#: How many of the worst task splits the terminal summary lists.
WORST_SHOWN = 5
_VERDICTS: dict[str, tuple[str, R.Tone]] = {
    "pass": ("PASS", "good"),
    "regressed": ("REGRESSED", "bad"),
    "incomplete": ("INCOMPLETE", "warn"),
}
_ORDER = ("regressed", "improved", "unchanged", "missing", "new")

SUITE_NOTE = (
    "Change in each average (as the leaderboard computes it) with a paired bootstrap {level}% interval: every replicate resamples "
    "the examples of each task split (the same draw for both sides) and recomputes each split's statistic. `held`: tasks without "
    "per-example scores, held at their observed change. `detectable`: the smallest change this suite finds at this alpha with "
    "power 0.8. Per task, `p holm` is the Holm-adjusted p-value across the suite and `holm verdict` the verdict it allows."
)


def moved_count(worse: int, shown: int) -> str:
    """`12 examples got worse; the 10 worst are shown` (or `all shown`)."""
    if worse == 0:
        return "No example got worse on its own (the drop is spread over the whole set)"
    return f"{worse} example{'s' if worse != 1 else ''} got worse; " + ("all shown" if shown >= worse else f"the {shown} worst are shown")


def moved_display(frame: pd.DataFrame) -> pd.DataFrame:
    """One task split's moved examples as shown: without the task columns, and without `text2` when unused."""
    out = frame.drop(columns=["task", "subset", "split"])
    if not any(str(t) for t in out["text2"]):
        out = out.drop(columns="text2")
    return out


def _short_texts(frame: pd.DataFrame, limit: int = 80) -> pd.DataFrame:
    """Long texts cut for Markdown tables (the JSON and HTML keep them whole)."""
    out = frame.copy()
    for col in ("text", "text2", "gold"):
        if col in out:
            out[col] = [t if len(str(t)) <= limit else str(t)[: limit - 1] + "…" for t in out[col]]
    return out


def _moved_of(report: RegressReport, task: str, subset: str, split: str) -> pd.DataFrame:
    moved = report.moved
    return moved[(moved.task == task) & (moved.subset == subset) & (moved.split == split)]


def markdown(report: RegressReport) -> str:
    """regress.md: the verdict, missing tasks, every task split, the averages, the suite, the examples that moved.

    Returns:
        The Markdown text (what `evalkit regress --full` prints).
    """
    tasks, suite = report.tasks, report.suite
    counts = tasks["verdict"].value_counts().to_dict()
    missing = report.missing
    lines = [
        f"# evalkit regress: {report.outcome.upper()}",
        "",
        f"Baseline `{report.baseline}`, candidate `{report.candidate}`. " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".",
        f"Intervals: paired bootstrap {report.level}% of the delta (candidate - baseline).",
    ]
    if len(suite):  # issue 23
        lines += ["", confidence.suite_line(suite, report.alpha)]
    if len(missing):
        lines += ["", f"## Missing from the candidate: {len(missing)} ({_missing_rule(report)})"]
        lines += [f"- {r.task} [{r.split}/{r.subset}]" for r in missing.itertuples()]
    lines += ["", "## Tasks", R.markdown_table(tasks), "", "## Averages per task type", R.markdown_table(report.averages)]
    if len(suite):  # issue 23
        lines += ["", "## Suite: is the difference real?", SUITE_NOTE.format(level=report.level), "", R.markdown_table(suite)]
    if report.tolerance_only:
        lines += ["", "Judged by tolerance alone (no per-example scores): " + ", ".join(report.tolerance_only) + "."]
    for task, subset, split, what, worse in report.moved_notes:
        shown = _moved_of(report, task, subset, split)
        lines += [
            "",
            f"## Examples that moved: {task} [{split}/{subset}]",
            f"{moved_count(worse, len(shown))}. {what}.",
            "",
            R.markdown_table(_short_texts(moved_display(shown))),
        ]
    if report.warnings:
        lines += ["", "## Warnings", *[f"- {w}" for w in report.warnings]]
    return "\n".join(lines) + "\n"


def _missing_rule(report: RegressReport) -> str:
    return "allowed by --allow-missing" if report.allow_missing else "the gate fails; pass --allow-missing to accept"


def json_text(report: RegressReport) -> str:
    """regress.json: the verdict and every table, at full precision."""
    payload = {
        "verdict": report.outcome,
        "baseline": report.baseline,
        "candidate": report.candidate,
        "alpha": report.alpha,
        "allow_missing": report.allow_missing,
        "missing": [{"task": r.task, "split": r.split, "subset": r.subset} for r in report.missing.itertuples()],
        "tasks": json.loads(report.tasks.to_json(orient="records", double_precision=15)),
        "moved": json.loads(report.moved.to_json(orient="records", double_precision=15, force_ascii=False)),
        "averages": json.loads(report.averages.to_json(orient="records", double_precision=15)),
        "warnings": list(report.warnings),
        "suite": json.loads(report.suite.to_json(orient="records", double_precision=15)),  # issue 23
    }
    return json.dumps(payload, indent=2) + "\n"


def junit(report: RegressReport) -> str:
    """regress.xml: one JUnit case per task split; regressed (and, unless allowed, missing) ones fail."""
    cases = []
    for r in report.tasks.itertuples():
        failure = skipped = None
        if r.verdict == "regressed":
            failure = f"{r.task} regressed: {r.baseline:.4f} -> {r.candidate:.4f} (delta {r.delta:+.4f}, tolerance {r.tolerance})"
        elif r.verdict == "missing":
            message = f"{r.task} [{r.split}/{r.subset}] is missing from the candidate"
            failure, skipped = (None, message) if report.allow_missing else (message, None)
        elif r.verdict == "new":
            skipped = f"{r.task} [{r.split}/{r.subset}] is not in the baseline"
        cases.append(R.JUnitCase(f"evalkit.regress.{r.task_type}", f"{r.task} [{r.split}/{r.subset}]", failure, skipped))
    return R.junit_xml("evalkit regress", cases)


def _label(r: Any) -> str:
    subset = "" if r.subset == "default" else f" {r.subset}"
    return f"{r.task}{subset} ({r.split})"


def verdict_line(report: RegressReport) -> str:
    """The one-line verdict that ends the terminal output, e.g. `REGRESSED: 3 of 6 task splits regressed: ...`."""
    tasks = report.tasks
    word = _VERDICTS[report.outcome][0]
    judged = tasks[~tasks.verdict.isin(["missing", "new"])]
    if report.outcome == "regressed":
        bad = tasks[tasks.verdict == "regressed"]
        names = ", ".join(_label(r) for r in bad.head(WORST_SHOWN).itertuples()) + (" ..." if len(bad) > WORST_SHOWN else "")
        return f"{word}: {len(bad)} of {len(judged)} task splits regressed ({names})"
    if report.outcome == "incomplete":
        return f"{word}: {len(report.missing)} baseline task split(s) missing from the candidate; pass --allow-missing to accept"
    allowed = f"; {len(report.missing)} missing, allowed" if len(report.missing) else ""
    return f"{word}: no task split regressed ({len(judged)} judged{allowed})"


def terminal_summary(report: RegressReport, *, full: bool = False, worst: int = WORST_SHOWN) -> str:
    """What `evalkit regress` prints: the sides, counts per verdict, the worst task splits, the verdict last.

    Args:
        report: the gate's verdicts.
        full: print the whole report (`markdown(report)`, every task split) instead of the summary.
        worst: how many of the task splits that dropped the most to list.

    Returns:
        Text whose last line is `verdict_line(report)`. Example::

            Baseline `m@5076c6045d31`, candidate `noisy-ckpt@1181da8a7ef1`: 6 task splits: 3 regressed, 3 unchanged
            Suite: mean (task) 0.6629 -> 0.4374, delta -0.2255, 95% interval [-0.3390, -0.1004]: REGRESSED; ...
            ...
            REGRESSED: 3 of 6 task splits regressed (SmokeRetrieval (test), ...)
    """
    if full:
        return R.verdict_last((), verdict_line(report), full_page=markdown(report))
    tasks = report.tasks
    counts = tasks["verdict"].value_counts()
    lines = [
        f"Baseline `{report.baseline}`, candidate `{report.candidate}`: {len(tasks)} task splits: "
        + ", ".join(f"{int(counts[v])} {v}" for v in _ORDER if v in counts)
    ]
    if len(report.suite):
        lines.append(confidence.suite_line(report.suite, report.alpha))
    if len(report.missing):
        names = [_label(r) for r in report.missing.itertuples()]
        more = f" and {len(names) - worst} more" if len(names) > worst else ""
        lines.append(f"Missing from the candidate ({_missing_rule(report)}): " + ", ".join(names[:worst]) + more)
    if report.warnings:
        more = f" ({len(report.warnings) - worst} more in the full report)" if len(report.warnings) > worst else ""
        lines += [f"Warnings: {len(report.warnings)}{more}", *[f"- {w}" for w in report.warnings[:worst]]]
    dropped = tasks[tasks["delta"] < 0].sort_values("delta", kind="stable")
    if len(dropped) and worst > 0:
        shown = dropped.head(worst)[["task", "split", "subset", "baseline", "candidate", "delta", "ci_low", "ci_high", "verdict"]]
        lines += ["", f"Largest drops ({len(shown)} of {len(dropped)} task splits that fell):", R.markdown_table(shown)]
    lines += ["", f"The full table: {R.full_table_at(report.files)}"]
    return R.verdict_last(lines, verdict_line(report))


def write_reports(report: RegressReport, folder: Path, *, about: R.About | None = None) -> tuple[Path, ...]:
    """Write regress.md, regress.json, regress.xml (JUnit) and a self-contained regress.html.

    Args:
        report: the gate's verdicts.
        folder: where the files go (created if needed).
        about: the baseline and candidate models and the suite, for the page header.

    Returns:
        The paths written.
    """
    colours = {"regressed": C.BAD, "improved": C.GOOD, "unchanged": C.NEUTRAL}
    tones = {"regressed": "bad", "missing": "warn", "improved": "good", "new": "muted"}
    verdict, tone = _VERDICTS[report.outcome]
    tasks = report.tasks
    counts = tasks["verdict"].value_counts()
    summary = f"{len(tasks)} task splits: " + ", ".join(f"{int(counts[v])} {v}" for v in _ORDER if v in counts)
    if len(report.missing):
        summary += "; missing tasks " + ("allowed (--allow-missing)" if report.allow_missing else "fail the gate")
    label = _label

    def row_id(r: Any) -> str:
        return R.anchor("task", r.task, r.subset, r.split)

    judged = tasks[tasks.verdict.isin(list(colours))]
    groups = []
    for ttype, frame in judged.groupby("task_type", sort=True):
        rows = []
        for r in frame.itertuples():
            ci = (r.ci_low, r.ci_high) if not math.isnan(r.ci_low) else None
            ci_text = f", {report.level}% interval [{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if ci else ""
            tip = (
                f"{label(r)}: {r.baseline:.4f} -> {r.candidate:.4f}, delta {r.delta:+.4f}{ci_text}, tolerance {r.tolerance:g}: {r.verdict}"
            )
            rows.append(
                C.Row(label(r), f"{r.delta:+.4f}", (C.Bar(r.delta, colours[r.verdict], tip),), tip=tip, interval=ci, href="#" + row_id(r))
            )
        groups.append(C.Group(str(ttype), tuple(rows)))
    tolerances = set(judged["tolerance"])
    band_tol = tolerances.pop() if len(tolerances) == 1 else None
    extent = list(judged["delta"]) + list(judged["ci_low"]) + list(judged["ci_high"])
    lo, hi = C.domain(extent, symmetric=True, min_half_span=2 * float(judged["tolerance"].max()) if len(judged) else 0.01)
    chart = C.bar_chart(
        groups,
        title="Main-score deltas (candidate - baseline) with bootstrap intervals",
        axis_label="candidate - baseline (main score, 0-1 scale)" + ("; shaded: within tolerance" if band_tol is not None else ""),
        lo=lo,
        hi=hi,
        band=(-band_tol, band_tol) if band_tol is not None else None,
        band_label=f"within tolerance ({band_tol:g})" if band_tol is not None else "",
    )
    moved_ids = {(t, sub, sp): R.anchor("moved", t, sub, sp) for t, sub, sp, _, worse in report.moved_notes if worse}
    worse_of = {(t, sub, sp): worse for t, sub, sp, _, worse in report.moved_notes}
    shown = tasks.rename(columns={"ci_low": "ci low", "ci_high": "ci high"})
    # Beside the verdict, so the link is in view without scrolling the table sideways.
    if moved_ids:
        shown.insert(
            list(shown.columns).index("verdict") + 1,
            "examples",
            [f"{worse_of[k]} worse" if k in moved_ids else "" for k in zip(tasks["task"], tasks["subset"], tasks["split"], strict=True)],
        )
    moved_sections = []
    for task, subset, split, what, worse in report.moved_notes:
        frame = _moved_of(report, task, subset, split)
        key = (task, subset, split)
        moved_sections.append(
            {
                "id": moved_ids.get(key, R.anchor("moved", *key)),
                "back": "#" + R.anchor("task", task, subset, split),
                "title": f"{task} ({split})" if subset == "default" else f"{task} {subset} ({split})",
                "count": moved_count(worse, len(frame)),
                "what": what,
                "table": R.table(moved_display(frame), id=R.anchor("examples", *key)) if len(frame) else None,
            }
        )
    page = R.render_page(
        "regress.html.j2",
        verdict=verdict,
        tone=tone,
        title="evalkit regress",
        summary=summary,
        about=about or R.About(models=(R.ModelRef("baseline", report.baseline), R.ModelRef("candidate", report.candidate))),
        charts={"deltas": chart},
        legend=[(v, colours[v]) for v in ("regressed", "improved", "unchanged")],
        level=report.level,
        allow_missing=report.allow_missing,
        missing=[label(r) for r in report.missing.itertuples()],
        tasks=R.table(
            shown,
            id="tasks",
            signed=["delta", "ci low", "ci high"],
            row_class=lambda r: tones.get(r.verdict, ""),
            row_id=row_id,
            links={"examples": lambda r: "#" + moved_ids[(r.task, r.subset, r.split)] if (r.task, r.subset, r.split) in moved_ids else ""},
        ),
        moved=moved_sections,
        averages=R.table(report.averages, id="averages", signed=["delta"]),
        suite=R.table(report.suite, id="suite", signed=["delta", "ci_low", "ci_high"]) if len(report.suite) else None,  # issue 23
        suite_line=confidence.suite_line(report.suite, report.alpha) if len(report.suite) else "",
        fallback=list(report.tolerance_only),
        warnings=list(report.warnings),
    )
    contents = {"md": markdown(report), "json": json_text(report), "xml": junit(report), "html": page}
    return tuple(R.write_files(folder, "regress", contents))
