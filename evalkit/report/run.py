"""The run report: one model's results folder as `run.md` and `run.html` (scores, averages, time, encoder)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.report.pages import (
    About,
    ModelRef,
    Table,
    Tone,
    anchor,
    fmt,
    manifest_of,
    markdown_table,
    mteb_versions,
    render_page,
    table,
    write_files,
)
from evalkit.results.folder import ResultsFolder


def _record(folder: Path, task: str) -> dict[str, Any]:
    record = ResultsFolder(folder).read_record(task)
    return record.to_json() if record else {}


def run_tables(folder: Path) -> dict[str, Any]:
    """The run report's content for one model's results folder: scores, averages, timing, encoder counts.

    Args:
        folder: `<output>/<org__name>/<revision>/` (or a root holding one model).

    Returns:
        `scores` (per task and split), `averages` (per type, mean (task), mean (type)), `timing`
        (per task and a total row, with the forward path of each task), `forward` (one line: the
        loop that ran and each reason `model.encode` ran instead, with their tasks), `manifest`,
        `folder` and `table` (the Scores table).

    Raises:
        DataError: a folder with neither results nor a manifest, or one that mixes models.
    """
    from evalkit.results import scores as S
    folder = ResultsFolder.one_model(Path(folder)).path
    manifest = manifest_of(folder)
    # Every task failed: no results, and the manifest still says what happened.
    table = S.read_results(folder, single_model=True) if ResultsFolder(folder).has_results() else S.empty()
    states = manifest.get("tasks", {})
    main = S.main_scores(table)
    this = ResultsFolder.latest_run(manifest)
    # This run's tasks first, in its order; results that earlier runs into the folder left after them.
    names = list(dict.fromkeys([*(this or {}).get("tasks", {}), *states, *main["task"]]))
    score_rows, time_rows = [], []
    forward: dict[str, list[str]] = {}  # a loop description or a reason model.encode ran: its tasks
    for task in names:
        state, record = states.get(task, {}), _record(folder, task)
        status = state.get("status") or record.get("status") or "done"
        shown = "reused" if status == "skipped" else status
        if this is not None and task not in this.get("tasks", {}):
            # Not this run's task: what matters is that an earlier run left its result (whether that
            # run computed it or reused it from one before), not "reused", which reads as this run's doing.
            shown = f"{'done' if status == 'skipped' else status} (earlier run)"
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
        used = record.get("forward") or {}
        for key in ("loop", "reason"):
            if used.get(key):
                forward.setdefault(used[key], []).append(task)
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
                # Which code encoded: evalkit's forward loop, sentence-transformers' model.encode, or the model's own.
                "forward": "+".join(used.get("paths") or []) or ("cache" if used else None),
            }
        )
    scores = pd.DataFrame(score_rows, columns=["task", "type", "subset", "split", "metric", "score", "status", "reason"])
    if not scores["reason"].astype(bool).any():
        scores = scores.drop(columns="reason")
    timing = pd.DataFrame(
        time_rows,
        columns=["task", "status", "seconds", "encode s", "encode share", "texts", "encoded", "cache hits", "empty", "truncated", "forward"],
    )
    for col in ("texts", "encoded", "cache hits", "empty", "truncated"):
        timing[col] = pd.to_numeric(timing[col], errors="coerce").astype("Int64")
    if len(timing):
        total = {"task": "total", "status": "", **{c: timing[c].sum(min_count=1) for c in timing.columns[2:] if c != "forward"}}
        total["encode share"] = total["encode s"] / total["seconds"] if total["seconds"] else math.nan
        timing = pd.concat([timing, pd.DataFrame([total])], ignore_index=True)
    # Each loop description and each reason model.encode ran, with the tasks it holds for.
    encoder = "; ".join(f"{line} ({'every task' if len(tasks) == len(names) else ', '.join(tasks)})" for line, tasks in forward.items())
    return {
        "folder": folder,
        "manifest": manifest,
        "table": table,
        "scores": scores,
        "averages": cmteb_averages(table),
        "timing": timing,
        "forward": encoder,
    }


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


def detectable(folder: Path) -> pd.DataFrame:
    """Issue 23: per task split with per-example scores, the smallest change a comparison could detect.

    At regress's default alpha and power 0.8, for a second model unrelated to this one (see
    `judge.confidence.run_detectable`); empty when the run kept no per-example scores.
    """
    from evalkit.errors import DataError
    from evalkit.judge import confidence
    from evalkit.results import per_example as E
    from evalkit.runner.settings import REGRESS_ALPHA

    entries = {}
    for file in ResultsFolder(folder).example_files():
        try:
            task, found = E.load(file)
        except DataError:
            continue  # a broken per-example file is regress's error to report (it names the fix); the run page goes on
        entries.update({(task, e.subset, e.split): e for e in found})
    return confidence.run_detectable(entries, alpha=REGRESS_ALPHA)


DETECTABLE_NOTE = (
    "For each task split with per-example scores: the standard error of its main score (sd / sqrt(n) for means, else a "
    "bootstrap) and the smallest change a comparison with another model would detect at alpha 0.05 with power 0.8, taking "
    "that model as unrelated to this one (paired SE = sqrt 2 x SE). A fine-tune of this model moves with it and can be seen "
    "below this; `evalkit regress` measures the paired figure. Set regress tolerances at or above it."
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
    detect = detectable(t["folder"])  # issue 23
    model = manifest.get("model", {})
    name = model.get("name") or (str(results["model"].iloc[0]) if len(results) else t["folder"].parent.name)
    revision = model.get("revision") or (str(results["revision"].iloc[0]) if len(results) else t["folder"].name)
    per_task = timing[timing["task"] != "total"]
    failed = per_task[per_task["status"].str.startswith("failed")]
    locked = per_task[per_task["status"].str.startswith("locked")]
    tone: Tone
    verdict, tone = ("FAILED", "bad") if len(failed) else (("INCOMPLETE", "warn") if len(locked) else ("PASS", "good"))
    this = ResultsFolder.latest_run(manifest)
    mine = per_task[~per_task["status"].str.endswith("(earlier run)")]
    counts = mine["status"].value_counts()
    summary = ("This run: " if this else "") + f"{len(mine)} task{'' if len(mine) == 1 else 's'}: " + ", ".join(
        f"{int(n)} {s}" for s, n in counts.items()
    )
    if earlier := len(per_task) - len(mine):
        summary += f"; {earlier} more from earlier runs into this folder"
    overall = averages[averages["average"] == "mean (task)"]
    if len(overall):
        summary += f"; mean (task) {overall['score'].iloc[0]:.4f}"
    total = timing[timing["task"] == "total"]
    if len(total) and not pd.isna(total["seconds"].iloc[0]):
        share = total["encode share"].iloc[0]
        summary += f"; {total['seconds'].iloc[0]:.1f} s" + ("" if pd.isna(share) else f" ({share:.0%} encoding)")
    about = About(
        models=(ModelRef("model", str(name), str(revision)),),
        suite=(this or {}).get("suite") or (manifest.get("suite") or {}).get("name"),
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
        ("data", (this or {}).get("data") or manifest.get("data_dir") or "the Hub (or its local cache)"),
        ("runs into this folder", str(len(manifest.get("runs") or [])) if this else "-"),
        ("settings", ", ".join(f"{k}={v}" for k, v in settings.items()) or "-"),
        ("forward path", t["forward"] or "-"),
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
            row_class=lambda r: "bad" if str(r.status).startswith("failed") else ("muted" if r.task == "total" else ""),
        ),
        facts=facts,
        warnings=list(manifest.get("warnings", [])),
        detectable=table(detect, id="detectable") if len(detect) else None,
        detectable_note=DETECTABLE_NOTE,
    )
    md = _run_markdown(verdict, summary, about, scores, averages, timing, manifest, forward=t["forward"])
    if len(detect):  # issue 23
        md += "\n## How much can this suite see?\n" + DETECTABLE_NOTE + "\n\n" + markdown_table(detect) + "\n"
    return tuple(write_files(Path(reports_dir), "run", {"md": md, "html": page}))


def table_of_scores(scores: pd.DataFrame) -> Table:
    """The per-task-and-split scores as a sortable table; failed tasks marked, first row of each task anchored."""
    first: set[str] = set()

    def row_id(r: Any) -> str:
        if r.task in first:
            return ""
        first.add(r.task)
        return anchor("score", r.task)

    return table(scores, id="scores", row_class=lambda r: "bad" if str(r.status).startswith("failed") else "", row_id=row_id)


def _run_markdown(
    verdict: str,
    summary: str,
    about: About,
    scores: pd.DataFrame,
    averages: pd.DataFrame,
    timing: pd.DataFrame,
    manifest: dict[str, Any],
    *,
    forward: str = "",
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
    if forward:
        lines += ["", f"Forward path: {forward}."]
    if manifest.get("warnings"):
        lines += ["", "## Warnings", *[f"- {w}" for w in manifest["warnings"]]]
    return "\n".join(lines) + "\n"
