"""The leaderboard pages: leaderboard.md, .csv, .json, .html and leaderboard_tasks.csv.

Everything here renders a `Leaderboard` (`evalkit.judge.leaderboard`); the averages, ranks, ties
and the measured-vs-claimed verdict are the judge's and are never recomputed here.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.judge.leaderboard import CLAIM_TOLERANCE, KEY, Average, Leaderboard
from evalkit.report import charts as C
from evalkit.report import pages as R

_LACKS_SHOWN = 8
_WARNINGS_SHOWN = 3  # on the terminal; the page lists them all
_VERDICTS: dict[str, tuple[str, R.Tone]] = {"ranked": ("RANKED", "info"), "match": ("MATCH", "good"), "off": ("OFF", "bad")}


def _lacks_text(lacks: list[str]) -> str:
    if not lacks:
        return "-"
    shown = ", ".join(lacks[:_LACKS_SHOWN])
    return shown + (f" and {len(lacks) - _LACKS_SHOWN} more" if len(lacks) > _LACKS_SHOWN else "")


def _display(frame: pd.DataFrame, type_cols: tuple[str, ...]) -> pd.DataFrame:
    """The ranking as shown: key columns first, then type means, then what a row lacks.

    Rank, model, means and vs claimed come first so that they stay in view on a laptop; partial
    type means are marked with `*`.
    """
    out = pd.DataFrame(
        {
            "rank": ["-" if pd.isna(r) else str(int(r)) for r in frame["rank"]],
            "model": frame["model"],
            "kind": frame["kind"],
            "tasks": [f"{a}/{b}" for a, b in zip(frame["tasks"], frame["of"], strict=True)],
            "mean (task)": frame["mean (task)"],
            "mean (type)": frame["mean (type)"],
            "vs claimed": [R.fmt(v, signed=True) for v in frame["vs claimed"]],
        }
    )
    for ttype in type_cols:
        out[ttype] = [
            "-" if math.isnan(v) else f"{v:.4f}" + ("*" if ttype in p else "") for v, p in zip(frame[ttype], frame["partial"], strict=True)
        ]
    if "tie" in frame:  # issue 23: beside the means they qualify
        at = list(out.columns).index("vs claimed") + 1
        out.insert(at, "vs next", frame["vs next"])
        out.insert(at + 1, "tie", frame["tie"])
    out["revision"] = [r[:12] for r in frame["revision"]]
    out["lacks"] = [_lacks_text(x) for x in frame["lacks"]]
    out["source"] = frame["source"]
    return out


def _describe(task_set: tuple[str, ...], common: tuple[str, ...], average: Average, suite: str | None, rows: int) -> str:
    where = f"the {len(task_set)} tasks of suite {suite}" if suite else f"the {len(task_set)} tasks found"
    on_every = (
        "no task is on every row"
        if not common
        else (f"only {len(common)} task" + (" is" if len(common) == 1 else "s are") + " on every row")
    )
    if average == "common":
        how = f"every row averages the {len(common)} tasks that all rows have"
        if not common:
            how = "no task is on every row, so there are no common averages (the default averages each row's own tasks)"
    else:
        how = "only rows that have every task are ranked; the others follow unranked, each averaged over the tasks it has, and list what they lack"
        if len(common) < len(task_set):
            how += f" ({on_every}; `--common` averages those alone)"
    return f"{rows} rows over {where}; {how}. A task's score is the mean over its splits and subsets, as in mteb's tables."


def markdown(board: Leaderboard) -> str:
    """leaderboard.md: how the rows are averaged, the ranking, measured vs claimed, the warnings.

    Returns:
        The Markdown text (what `evalkit leaderboard` prints).
    """
    frame, versus, type_cols, notes = board.rows, board.claimed_vs_measured, board.task_types, board.warnings
    task_set, common, average, suite = board.task_set, board.common, board.average, board.suite
    lines = [
        "# evalkit leaderboard",
        "",
        _describe(task_set, common, average, suite, len(frame)) + " `*`: over part of that type's tasks.",
        "",
        R.markdown_table(_display(frame, type_cols)),
    ]
    if "tie" in frame:  # issue 23
        lines += ["", frame.attrs.get("ties_note", "")]
    if not versus.empty:
        lines += [
            "",
            "## Measured vs claimed (measured - claimed, over the task splits both have; at task: the largest)",
            R.markdown_table(versus.drop(columns=["measured"]).assign(revision=[r[:12] for r in versus["revision"]])),
        ]
    if notes:
        lines += ["", "## Warnings", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def verdict_line(board: Leaderboard) -> str:
    """The one-line verdict that ends the terminal output, e.g. `RANKED: #1 org/model (measured), mean (task) 0.7396 ...`."""
    frame = board.rows
    word = _VERDICTS[board.verdict][0]
    ranked = int(frame["rank"].notna().sum())
    if board.verdict != "ranked":
        versus = board.claimed_vs_measured
        worst = versus.sort_values("max |Δ|", ascending=False, kind="stable").iloc[0]
        if board.verdict == "match":
            return (
                f"{word}: all {len(versus)} measured row(s) within {CLAIM_TOLERANCE:g} of their card on every task split both have "
                f"(largest difference {worst['max |Δ|']:.4f}, {worst['at task']})"
            )
        off = int((versus["max |Δ|"] > CLAIM_TOLERANCE).sum())
        return (
            f"{word}: {off} of {len(versus)} measured row(s) off their card by more than {CLAIM_TOLERANCE:g} "
            f"(largest: {worst['model']} on {worst['at task']}, {worst['max |Δ|']:.4f})"
        )
    if not ranked and board.average == "common":
        return f"{word}: none of {len(frame)} rows is ranked: no task is on every row (without --common, the rows holding every task are ranked)"
    if not ranked:
        return f"{word}: none of {len(frame)} rows holds every task of the basis, so none is ranked (--common ranks on the tasks all rows have)"
    top = frame.iloc[0]
    return (
        f"{word}: #1 {top['model']} ({top['kind']}), mean (task) {R.fmt(top['mean (task)'])} over {top['tasks']} tasks; "
        f"{ranked} of {_rows(len(frame))} ranked"
    )


def terminal_summary(board: Leaderboard, *, full: bool = False, top: int = 5) -> str:
    """What `evalkit leaderboard` prints: the basis, the top rows, the counts, the verdict last.

    Args:
        board: the leaderboard.
        full: print the whole leaderboard (`markdown(board)`: every row, the claims, the warnings) instead.
        top: how many rows to list (ranked ones first, as on the page).

    Returns:
        Text whose last line is `verdict_line(board)`. Example::

            19 rows over the 35 tasks of suite cmteb: 4 ranked (holding every task), 15 unranked (lacking tasks; ...)
            Warnings: 7 (4 more in the full report)
            - Alibaba-NLP/gte-Qwen1.5-7B-instruct@no_revision_: MMarcoReranking, T2Reranking read from ...

            Top 4 of 4 ranked:
            | rank | model | kind | tasks | mean (task) | mean (type) | vs claimed | tie | revision |
            The full table: reports/leaderboard.md and reports/leaderboard.html, or --full
            RANKED: #1 TencentBAC/Conan-embedding-v2 (measured), mean (task) 0.7396 over 35 tasks; 4 of 19 rows ranked
    """
    if full:
        return R.verdict_last((), verdict_line(board), full_page=markdown(board))
    frame = board.rows
    ranked = int(frame["rank"].notna().sum())
    where = f"the {len(board.task_set)} tasks of suite {board.suite}" if board.suite else f"the {len(board.task_set)} tasks found"
    if board.average == "common":
        lines = [f"{_rows(len(frame))} over {where}, each averaged over the {len(board.common)} tasks all rows have: {ranked} ranked"]
    else:
        rest = (
            f", {len(frame) - ranked} unranked (lacking tasks; --common ranks every row on the tasks all have)"
            if ranked < len(frame)
            else ""
        )
        lines = [f"{_rows(len(frame))} over {where}: {ranked} ranked (holding every task){rest}"]
    if not board.claimed_vs_measured.empty:
        lines.append(
            f"Measured vs claimed: {len(board.claimed_vs_measured)} measured row(s) beside their card; "
            f"largest split difference {board.largest_claim_gap:.4f} (tolerance {CLAIM_TOLERANCE:g})"
        )
    if board.warnings:
        more = f" ({len(board.warnings) - _WARNINGS_SHOWN} more in the full report)" if len(board.warnings) > _WARNINGS_SHOWN else ""
        lines += [f"Warnings: {len(board.warnings)}{more}", *[f"- {w}" for w in board.warnings[:_WARNINGS_SHOWN]]]
    # The ranked rows lead (as on the page); when none is ranked, the first rows show what each lacks.
    shown = frame[frame["rank"].notna()] if ranked else frame
    if len(shown) and top > 0:
        table = _display(shown.head(top), board.task_types)
        keep = [c for c in ("rank", "model", "kind", "tasks", "mean (task)", "mean (type)", "vs claimed", "tie", "revision") if c in table]
        if not ranked:
            keep.append("lacks")
        title = (
            f"Top {min(top, ranked)} of {ranked} ranked:" if ranked else f"First {min(top, len(frame))} of {len(frame)} rows, none ranked:"
        )
        lines += ["", title, R.markdown_table(table[keep])]
    lines += ["", f"The full table: {R.full_table_at(board.files)}"]
    return R.verdict_last(lines, verdict_line(board))


def write_reports(board: Leaderboard, folder: Path, *, about: R.About | None = None) -> tuple[Path, ...]:
    """Write leaderboard.md, .csv, .json, .html and leaderboard_tasks.csv (per-task scores) under `folder`.

    Args:
        board: the leaderboard.
        folder: where the files go (created if needed).
        about: header entries (defaults to the board's models and suite).

    Returns:
        The paths written.
    """
    frame = board.rows
    csv_frame = frame.assign(partial=[" ".join(p) for p in frame["partial"]], lacks=[" ".join(x) for x in frame["lacks"]])
    payload = {
        "suite": board.suite,
        "average": board.average,
        "task_set": list(board.task_set),
        "common_tasks": list(board.common),
        "rows": json.loads(frame.to_json(orient="records", double_precision=15)),
        "tasks": json.loads(board.tasks.to_json(orient="records", double_precision=15)),
        "claimed_vs_measured": json.loads(board.claimed_vs_measured.to_json(orient="records", double_precision=15)),
        "warnings": list(board.warnings),
    }
    colours = {tuple(r): C.PALETTE[i % len(C.PALETTE)] for i, r in enumerate(frame[KEY].itertuples(index=False, name=None))}

    # Chart labels stay short enough for a phone: the model's own name, a short revision, the kind,
    # and the source only where one model and revision come from several sources.
    short: dict[tuple[str, ...], str] = {}
    for _, twins in frame.groupby(["model", "revision", "kind"]):
        if len(twins) > 1:
            base = os.path.commonpath([os.path.abspath(x) for x in twins["source"]])
            for r in twins.itertuples(index=False):
                short[(r.model, r.revision, r.kind, r.source)] = ", " + os.path.relpath(os.path.abspath(r.source), base)

    def name(r: Any) -> str:
        rev = "" if r.revision == "-" else f"@{r.revision[:8]}"
        return f"{r.model.rsplit('/', 1)[-1]}{rev} ({r.kind}{short.get((r.model, r.revision, r.kind, r.source), '')})"

    groups = []
    for col in (*board.task_types, "mean (task)"):
        idx = list(frame.columns).index(col)
        bars = []
        for r in frame.itertuples(index=False):
            value = r[idx]
            if math.isnan(value):
                continue
            tip = f"{name(r)}, {col}: {value:.4f}"
            bars.append(C.Row(name(r), f"{value:.4f}", (C.Bar(value, colours[(r.model, r.revision, r.kind, r.source)], tip),), tip=tip))
        if bars:
            groups.append(C.Group(col, tuple(bars)))
    values = [v for col in (*board.task_types, "mean (task)") for v in frame[col] if not math.isnan(v)]
    lo, hi = C.domain(values)
    chart = C.bar_chart(groups, title="Models by task type", axis_label="average main score (0-1 scale)", lo=lo, hi=hi)
    top = frame.iloc[0]
    if pd.isna(top["rank"]):
        summary = "No row holds every task of the basis, so none is ranked; each lists what it lacks."
    else:
        summary = f"#1 {top['model']} ({top['kind']}): mean (task) {R.fmt(top['mean (task)'])} over {top['tasks']} of {top['of']} tasks."
    unranked = int(frame["rank"].isna().sum())
    if unranked and not pd.isna(top["rank"]):
        summary += f" {unranked} row{'s' if unranked > 1 else ''} lacking tasks of the basis listed below, unranked."
    verdict, tone = _VERDICTS[board.verdict]
    if board.largest_claim_gap is not None:
        summary += f" Measured vs claimed: largest split difference {board.largest_claim_gap:.4f} (tolerance {CLAIM_TOLERANCE:g})."
    page = R.render_page(
        "leaderboard.html.j2",
        verdict=verdict,
        tone=tone,
        title="evalkit leaderboard",
        summary=summary,
        about=about
        or R.About(
            models=tuple(
                R.ModelRef(f"{'-' if pd.isna(r.rank) else f'#{r.rank}'} {r.kind}", r.model, None if r.revision == "-" else r.revision)
                for r in frame.itertuples()
            ),
            suite=board.suite,
        ),
        description=_describe(board.task_set, board.common, board.average, board.suite, len(frame)),
        charts={"types": chart},
        legend=[(name(r), colours[(r.model, r.revision, r.kind, r.source)]) for r in frame.itertuples(index=False)],
        ties_note=frame.attrs.get("ties_note", ""),  # issue 23
        ranking=R.table(
            _display(frame, board.task_types),
            id="ranking",
            wrap=("lacks", "source"),
            row_class=lambda r: "" if r.rank != "-" else "muted",
        ),
        versus=R.table(board.claimed_vs_measured, id="versus", signed=[c for c in board.claimed_vs_measured.columns if "Δ" in c]),
        tasks=R.table(board.tasks.assign(revision=[r[:12] for r in board.tasks["revision"]]), id="tasks"),
        warnings=list(board.warnings),
    )
    paths = R.write_files(
        folder,
        "leaderboard",
        {"md": markdown(board), "csv": R.csv_text(csv_frame), "json": json.dumps(payload, indent=2) + "\n", "html": page},
    )
    paths += R.write_files(folder, "leaderboard_tasks", {"csv": R.csv_text(board.tasks)})
    return tuple(paths)
