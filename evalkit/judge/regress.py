"""Regression gate: a candidate's main scores against a baseline's, with tolerances and a paired bootstrap.

A task is `regressed` when its main score drops by more than its tolerance and, where both sides
kept per-example scores, the paired bootstrap interval of the delta lies below zero (the second
rule can be switched off). Tasks without per-example scores (clustering, cards) are judged by the
tolerance alone, and the report says so.

A baseline task the candidate lacks is `missing`: the gate fails (`incomplete`) unless missing
tasks are allowed, since a candidate that skipped six tasks has not passed them. A task only the
candidate has is `new` and never fails the gate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from evalkit.errors import DataError
from evalkit.judge import confidence
from evalkit.judge.basis import in_suite
from evalkit.report import pages as R
from evalkit.results import per_example as E
from evalkit.results import scores as S
from evalkit.runner.settings import BOOTSTRAP_SAMPLES, REGRESS_ALPHA, REGRESS_TOLERANCE, check_alpha, check_tolerance
from evalkit.runner.suite import Suite

Verdict = Literal["improved", "unchanged", "regressed", "missing", "new"]
Outcome = Literal["pass", "regressed", "incomplete"]


@dataclass
class Side:
    """One side of the comparison: its Scores table and its per-example scores."""

    label: str
    scores: pd.DataFrame
    examples: dict[tuple[str, str, str], E.ExampleScores] = field(default_factory=dict)


def load_side(ref: str | Path, *, role: str) -> Side:
    """Read a results folder (with per-example scores) or a model card as one side.

    Raises:
        DataError: a missing folder, a broken results or per-example file, or a broken card.
    """
    from evalkit.results.folder import ResultsFolder

    path = Path(ref)
    if path.is_dir():
        table = S.read_results(path, single_model=True)
        examples: dict[tuple[str, str, str], E.ExampleScores] = {}
        for folder in ResultsFolder.find(path):
            for file in folder.example_files():
                task, entries = E.load(file)
                for entry in entries:
                    examples[(task, entry.subset, entry.split)] = entry
        label = f"{table['model'].iloc[0]}@{str(table['revision'].iloc[0])[:12]}"
        return Side(label, table, examples)
    if path.suffix == ".md" or str(ref).count("/") == 1:
        from evalkit.card import read_card

        card = read_card(ref)
        return Side(f"card {card.model_name}", card.scores)
    raise DataError(f"{role} {ref}: no such results folder; pass the folder `evalkit run` wrote, or a README.md card")


def paired_bootstrap(
    base: E.ExampleScores, cand: E.ExampleScores, *, samples: int, alpha: float, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile interval of (candidate - baseline) over paired resamples of the examples.

    Returns:
        (low, high), or None when the two sides' examples cannot be paired.
    """
    return confidence.percentile_interval(confidence.paired_replicates(base, cand, samples=samples, seed=seed), alpha)


MOVED_CAP = 10
MOVED_COLUMNS = ["task", "subset", "split", "example", "text", "text2", "gold", "before", "after", "worse by", "note"]


def _rank_text(rank: str) -> str:
    return "?" if rank == "" else ("not retrieved" if rank == "0" else f"rank {rank}")


def _percentile_ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    n = len(values)
    return (rankdata(values) - 1) / (n - 1) if n > 1 else np.zeros(n)


def moved_examples(
    task: str, base: E.ExampleScores, cand: E.ExampleScores, *, metric: str, cap: int = MOVED_CAP
) -> tuple[pd.DataFrame, str, int]:
    """The examples of one task split that got worse the most from baseline to candidate.

    What "worse" means follows the task's own statistic:

    - Retrieval, Reranking (per-query mean): the query's main metric dropped; the note gives the
      rank of the first relevant document before and after (0: not retrieved);
    - Classification (per-item mean): fewer of the classifier runs got the item right;
    - STS (Spearman): the pair's similarity rank moved away from its gold rank (rank error, as a
      fraction of the list), since Spearman scores ranks;
    - PairClassification (best-threshold accuracy): right before, wrong after, at each side's own
      best threshold; ordered by how far the candidate's similarity sits on the wrong side.

    Args:
        task: task name (for the rows).
        base: the baseline's per-example data.
        cand: the candidate's per-example data.
        metric: the task's main metric, named in the explanation.
        cap: at most this many examples.

    Returns:
        Rows (`MOVED_COLUMNS`, worst first, at most `cap`), one line saying what before and after
        measure, and how many examples got worse in all; an empty frame when the two sides'
        examples cannot be paired.
    """
    empty = pd.DataFrame(columns=MOVED_COLUMNS)
    if base.kind != cand.kind or cap <= 0:
        return empty, "", 0

    def at(values: Sequence[object], i: int | np.integer) -> str:
        return str(values[int(i)]) if i < len(values) else ""

    rows = []
    if base.kind == "mean":
        if base.ids and cand.ids:
            ci = {q: i for i, q in enumerate(cand.ids)}
            pairs = [(i, ci[q]) for i, q in enumerate(base.ids) if q in ci]
        elif len(base) == len(cand) and (not base.texts or not cand.texts or base.texts == cand.texts):
            pairs = [(i, i) for i in range(len(base))]
        else:
            return empty, "", 0
        retrieval = bool(base.ranks or cand.ranks)
        for bi, ci_ in pairs:
            before, after = base.values[bi], cand.values[ci_]
            if after >= before:
                continue
            note = ""
            if retrieval:
                rb, rc = (_rank_text(at(x.ranks, i)) for x, i in ((base, bi), (cand, ci_)))
                note = f"first relevant: {rb} -> {rc}"
            example = base.ids[bi] if base.ids else f"#{bi + 1}"
            rows.append([example, at(base.texts, bi) or at(cand.texts, ci_), "", at(base.answers, bi), before, after, before - after, note])
        what = (
            f"before/after: the query's {metric}; gold: its best relevant document; note: rank of the first relevant document"
            if retrieval
            else "before/after: the share of classifier runs that got the item right; gold: its label"
        )
    else:
        if len(base) != len(cand) or len(base) < 2 or not np.array_equal(np.asarray(base.gold), np.asarray(cand.gold)):
            return empty, "", 0
        gold, pb, pc = (np.asarray(v, dtype=np.float64) for v in (base.gold, base.pred, cand.pred))
        if base.kind == "correlation":
            g = _percentile_ranks(gold)
            eb, ec = np.abs(_percentile_ranks(pb) - g), np.abs(_percentile_ranks(pc) - g)
            for i in np.flatnonzero(ec - eb > 1e-9):  # ranks of ties make exact equality unreliable
                note = f"cosine {pb[i]:.3f} -> {pc[i]:.3f}"
                rows.append([f"#{i + 1}", at(base.texts, i), at(base.texts2, i), f"{gold[i]:g}", eb[i], ec[i], ec[i] - eb[i], note])
            what = "before/after: rank error, how far the pair's similarity rank is from its gold rank (0-1 of the list; Spearman scores ranks); gold: the pair's score"
        else:
            tb, tc = E.best_threshold(gold, pb)[1], E.best_threshold(gold, pc)[1]
            right_b, right_c = (pb >= tb) == (gold > 0), (pc >= tc) == (gold > 0)
            for i in np.flatnonzero(right_b & ~right_c):
                note = f"right -> wrong (thresholds {tb:.3f} -> {tc:.3f})"
                rows.append([f"#{i + 1}", at(base.texts, i), at(base.texts2, i), f"{gold[i]:g}", pb[i], pc[i], abs(pc[i] - tc), note])
            what = "before/after: the pair's cosine similarity, judged at each side's best threshold; gold: the pair's label; worse by: distance to the candidate's threshold"
    if not rows:
        return empty, what, 0
    frame = pd.DataFrame([[task, base.subset, base.split, *r] for r in rows], columns=MOVED_COLUMNS)
    frame = frame.sort_values("worse by", ascending=False, kind="stable").head(cap).reset_index(drop=True)
    return frame, what, len(rows)


@dataclass(frozen=True)
class RegressReport:
    """Per-task verdicts, averages, warnings and the rendered outputs."""

    tasks: pd.DataFrame
    averages: pd.DataFrame
    warnings: tuple[str, ...]
    baseline: str
    candidate: str
    markdown: str
    json_text: str
    junit: str
    files: tuple[Path, ...] = ()
    allow_missing: bool = False
    alpha: float = REGRESS_ALPHA
    moved: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MOVED_COLUMNS))
    moved_notes: tuple[tuple[str, str, str, str, int], ...] = ()  # (task, subset, split, what, examples that got worse)
    suite: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=confidence.SUITE_COLUMNS))  # issue 23

    @property
    def regressed(self) -> bool:
        """True when any task regressed."""
        return bool((self.tasks["verdict"] == "regressed").any())

    @property
    def missing(self) -> pd.DataFrame:
        """The baseline's (task, split, subset) rows that the candidate lacks."""
        return self.tasks[self.tasks["verdict"] == "missing"]

    @property
    def outcome(self) -> Outcome:
        """`regressed` when a task regressed, else `incomplete` when tasks are missing and not allowed, else `pass`."""
        return _outcome(self.tasks, self.allow_missing)

    @property
    def failed(self) -> bool:
        """True when the gate fails (regressed, or incomplete): the CI exit code is 1."""
        return self.outcome != "pass"


def _judge(delta: float, tol: float, ci: tuple[float, float] | None, require_significance: bool) -> tuple[Verdict, str]:
    if ci is None or not require_significance:
        rule = "tolerance only (no per-example scores)" if ci is None else "tolerance only"
        if delta < -tol:
            return "regressed", rule
        if delta > tol:
            return "improved", rule
        return "unchanged", rule
    if delta < -tol and ci[1] < 0:
        return "regressed", "tolerance and bootstrap"
    if delta > tol and ci[0] > 0:
        return "improved", "tolerance and bootstrap"
    return "unchanged", "tolerance and bootstrap"


def gate(
    base: Side,
    cand: Side,
    *,
    suite: Suite | None = None,
    tolerance: float | None = None,
    alpha: float | None = None,
    require_significance: bool | None = None,
    allow_missing: bool = False,
    moved_cap: int = MOVED_CAP,
) -> RegressReport:
    """Compare main scores task by task and decide a verdict for each.

    Args:
        base: the baseline side.
        cand: the candidate side.
        suite: per-task tolerances and regress defaults.
        tolerance: default allowed drop (0-1 scale); a suite's per-task tolerance still wins.
        alpha: significance level of the bootstrap interval.
        require_significance: a drop must also be significant to count (default True).
        allow_missing: baseline tasks the candidate lacks do not fail the gate (they are still listed).
        moved_cap: per regressed task split, list at most this many of the examples that got worse.

    Raises:
        DataError: when the two sides share no task.
    """
    settings = suite.regress if suite is not None else None
    default_tol = check_tolerance(tolerance if tolerance is not None else (settings.tolerance if settings else REGRESS_TOLERANCE))
    alpha = check_alpha(alpha if alpha is not None else (settings.alpha if settings else REGRESS_ALPHA))
    need_sig = require_significance if require_significance is not None else (settings.require_significance if settings else True)
    samples = settings.bootstrap_samples if settings else BOOTSTRAP_SAMPLES
    keys = ["task", "subset", "split"]
    # The suite's own splits and subsets, not every subset a results file holds of a named task.
    b = S.main_scores(in_suite(base.scores, suite))[keys + ["task_type", "value", "mteb_version", "dataset_revision"]]
    c = S.main_scores(in_suite(cand.scores, suite))[keys + ["task_type", "value", "mteb_version", "dataset_revision"]]
    joined = b.merge(c, on=keys, how="outer", suffixes=("_b", "_c"))
    common = joined.dropna(subset=["value_b", "value_c"])
    if common.empty:
        where = f" on the tasks of suite {suite.name}" if suite is not None else ""
        raise DataError(
            f"baseline {base.label} and candidate {cand.label} share no task{where} "
            f"(baseline: {_held(b)}; candidate: {_held(c)}); run the same suite on both"
        )
    warnings = []
    rows = []
    replicates: dict[tuple[str, str, str], np.ndarray] = {}
    for r in joined.itertuples():
        ttype = r.task_type_b if isinstance(r.task_type_b, str) else r.task_type_c
        spec = suite.task(r.task) if suite is not None else None
        tol = spec.tolerance if spec is not None and spec.tolerance is not None else default_tol
        row = {"task": r.task, "task_type": ttype, "split": r.split, "subset": r.subset, "baseline": r.value_b, "candidate": r.value_c}
        if pd.isna(r.value_b) or pd.isna(r.value_c):
            lacks_candidate = pd.isna(r.value_c)
            rows.append(
                {
                    **row,
                    "delta": math.nan,
                    "tolerance": tol,
                    "ci_low": math.nan,
                    "ci_high": math.nan,
                    "verdict": "missing" if lacks_candidate else "new",
                    "rule": "not in the candidate" if lacks_candidate else "not in the baseline",
                }
            )
            continue
        for what, x, y in (
            ("mteb version", r.mteb_version_b, r.mteb_version_c),
            ("dataset revision", r.dataset_revision_b, r.dataset_revision_c),
        ):
            if isinstance(x, str) and isinstance(y, str) and x != y and x != "None":
                warnings.append(f"{r.task}: {what} differs ({x} vs {y}); the scores may not be comparable")
        delta = float(r.value_c - r.value_b)
        eb, ec = base.examples.get((r.task, r.subset, r.split)), cand.examples.get((r.task, r.subset, r.split))
        # Issue 23: one set of replicates per split serves the interval, the p-value and the suite.
        reps = (
            None
            if eb is None or ec is None
            else confidence.paired_replicates(eb, ec, samples=samples, seed=confidence.split_seed(r.task, r.subset, r.split))
        )
        if reps is not None:
            replicates[(r.task, r.subset, r.split)] = reps
        ci = confidence.percentile_interval(reps, alpha)
        verdict, rule = _judge(delta, tol, ci, need_sig)
        rows.append(
            {
                **row,
                "delta": delta,
                "tolerance": tol,
                "ci_low": ci[0] if ci else math.nan,
                "ci_high": ci[1] if ci else math.nan,
                "verdict": verdict,
                "rule": rule,
            }
        )
    tasks = pd.DataFrame(rows)
    # Missing tasks first: they are what a reader must see before trusting a PASS.
    tasks["_order"] = (tasks["verdict"] != "missing").astype(int)
    tasks = tasks.sort_values(["_order", "task_type", "task", "split"], kind="stable").drop(columns="_order").reset_index(drop=True)
    averages = _averages(tasks)
    # Issue 23 (judge/confidence.py): Holm-adjusted verdicts, detectable change, suite intervals.
    tasks = confidence.task_columns(tasks, replicates, alpha=alpha)
    suite_table = confidence.regress_suite(tasks, replicates, alpha=alpha)
    moved, notes = _moved(tasks, base, cand, moved_cap)
    report = _render(
        tasks, averages, tuple(dict.fromkeys(warnings)), base.label, cand.label, alpha, allow_missing, moved, notes, suite_table
    )
    return report


def _held(main: pd.DataFrame, shown: int = 6) -> str:
    """The tasks a side holds, for a one-line message: `3 tasks: ATEC, BQ, LCQMC`."""
    tasks = sorted(dict.fromkeys(main["task"]))
    if not tasks:
        return "no task"
    listed = ", ".join(tasks[:shown]) + (f" and {len(tasks) - shown} more" if len(tasks) > shown else "")
    return f"{len(tasks)} task{'s' if len(tasks) != 1 else ''}: {listed}"


def _moved(tasks: pd.DataFrame, base: Side, cand: Side, cap: int) -> tuple[pd.DataFrame, tuple[tuple[str, str, str, str, int], ...]]:
    """The examples that got worse the most, for each regressed task split."""
    if cap <= 0:
        return pd.DataFrame(columns=MOVED_COLUMNS), ()
    metrics = dict(zip(S.main_scores(base.scores)["task"], S.main_scores(base.scores)["metric"], strict=True))
    frames, notes = [], []
    for r in tasks[tasks.verdict == "regressed"].itertuples():
        eb, ec = base.examples.get((r.task, r.subset, r.split)), cand.examples.get((r.task, r.subset, r.split))
        if eb is None or ec is None:
            continue
        frame, what, worse = moved_examples(r.task, eb, ec, metric=metrics.get(r.task, "main score"), cap=cap)
        notes.append((r.task, r.subset, r.split, what, worse))
        frames.append(frame)
    moved = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MOVED_COLUMNS)
    return moved, tuple(notes)


def _outcome(tasks: pd.DataFrame, allow_missing: bool) -> Outcome:
    if (tasks["verdict"] == "regressed").any():
        return "regressed"
    if not allow_missing and (tasks["verdict"] == "missing").any():
        return "incomplete"
    return "pass"


def _averages(tasks: pd.DataFrame) -> pd.DataFrame:
    both = tasks[~tasks.verdict.isin(["missing", "new"])]

    def side(column: str) -> pd.DataFrame:
        return S.averages(both.assign(value=both[column], is_main=True)).rename(columns={"value": column})

    out = side("baseline").merge(side("candidate")[["task_type", "candidate"]], on="task_type", how="left")
    out["delta"] = out["candidate"] - out["baseline"]
    return out


def _render(
    tasks: pd.DataFrame,
    averages: pd.DataFrame,
    warnings: tuple[str, ...],
    base: str,
    cand: str,
    alpha: float,
    allow_missing: bool,
    moved: pd.DataFrame,
    moved_notes: tuple[tuple[str, str, str, str, int], ...],
    suite: pd.DataFrame | None = None,
) -> RegressReport:
    counts = tasks["verdict"].value_counts().to_dict()
    outcome = _outcome(tasks, allow_missing)
    missing = tasks[tasks.verdict == "missing"]
    level = int(round((1 - alpha) * 100))
    lines = [
        f"# evalkit regress: {outcome.upper()}",
        "",
        f"Baseline `{base}`, candidate `{cand}`. " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".",
        f"Intervals: paired bootstrap {level}% of the delta (candidate - baseline).",
    ]
    suite = suite if suite is not None else pd.DataFrame(columns=confidence.SUITE_COLUMNS)
    if len(suite):  # issue 23
        lines += ["", confidence.suite_line(suite, alpha)]
    if len(missing):
        allowed = "allowed by --allow-missing" if allow_missing else "the gate fails; pass --allow-missing to accept"
        lines += [
            "",
            f"## Missing from the candidate: {len(missing)} ({allowed})",
            *[f"- {r.task} [{r.split}/{r.subset}]" for r in missing.itertuples()],
        ]
    lines += [
        "",
        "## Tasks",
        R.markdown_table(tasks),
        "",
        "## Averages per task type",
        R.markdown_table(averages),
    ]
    if len(suite):  # issue 23
        lines += ["", "## Suite: is the difference real?", SUITE_NOTE.format(level=level), "", R.markdown_table(suite)]
    fallback = tasks[tasks.rule.str.startswith("tolerance only (no")]
    if len(fallback):
        lines += ["", "Judged by tolerance alone (no per-example scores): " + ", ".join(sorted(set(fallback.task))) + "."]
    for task, subset, split, what, worse in moved_notes:
        shown = moved[(moved.task == task) & (moved.subset == subset) & (moved.split == split)]
        lines += [
            "",
            f"## Examples that moved: {task} [{split}/{subset}]",
            f"{moved_count(worse, len(shown))}. {what}.",
            "",
            R.markdown_table(_short_texts(moved_display(shown))),
        ]
    if warnings:
        lines += ["", "## Warnings", *[f"- {w}" for w in warnings]]
    markdown = "\n".join(lines) + "\n"
    payload = {
        "verdict": outcome,
        "baseline": base,
        "candidate": cand,
        "alpha": alpha,
        "allow_missing": allow_missing,
        "missing": [{"task": r.task, "split": r.split, "subset": r.subset} for r in missing.itertuples()],
        "tasks": json.loads(tasks.to_json(orient="records", double_precision=15)),
        "moved": json.loads(moved.to_json(orient="records", double_precision=15, force_ascii=False)),
        "averages": json.loads(averages.to_json(orient="records", double_precision=15)),
        "warnings": list(warnings),
        "suite": json.loads(suite.to_json(orient="records", double_precision=15)),  # issue 23
    }
    cases = []
    for r in tasks.itertuples():
        failure = skipped = None
        if r.verdict == "regressed":
            failure = f"{r.task} regressed: {r.baseline:.4f} -> {r.candidate:.4f} (delta {r.delta:+.4f}, tolerance {r.tolerance})"
        elif r.verdict == "missing":
            message = f"{r.task} [{r.split}/{r.subset}] is missing from the candidate"
            failure, skipped = (None, message) if allow_missing else (message, None)
        elif r.verdict == "new":
            skipped = f"{r.task} [{r.split}/{r.subset}] is not in the baseline"
        cases.append(R.JUnitCase(f"evalkit.regress.{r.task_type}", f"{r.task} [{r.split}/{r.subset}]", failure, skipped))
    return RegressReport(
        tasks,
        averages,
        warnings,
        base,
        cand,
        markdown,
        json.dumps(payload, indent=2) + "\n",
        R.junit_xml("evalkit regress", cases),
        allow_missing=allow_missing,
        alpha=alpha,
        moved=moved,
        moved_notes=moved_notes,
        suite=suite,
    )


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


def write_reports(report: RegressReport, folder: Path, *, about: R.About | None = None) -> tuple[Path, ...]:
    """Write regress.md, regress.json, regress.xml (JUnit) and a self-contained regress.html.

    Args:
        report: the gate's verdicts.
        folder: where the files go (created if needed).
        about: the baseline and candidate models and the suite, for the page header.

    Returns:
        The paths written.
    """
    from evalkit.report import charts as C

    colours = {"regressed": C.BAD, "improved": C.GOOD, "unchanged": C.NEUTRAL}
    tones = {"regressed": "bad", "missing": "warn", "improved": "good", "new": "muted"}
    verdicts: dict[str, tuple[str, R.Tone]] = {"pass": ("PASS", "good"), "regressed": ("REGRESSED", "bad"), "incomplete": ("INCOMPLETE", "warn")}
    verdict, tone = verdicts[report.outcome]
    tasks = report.tasks
    counts = tasks["verdict"].value_counts()
    order = ("regressed", "improved", "unchanged", "missing", "new")
    summary = f"{len(tasks)} task splits: " + ", ".join(f"{int(counts[v])} {v}" for v in order if v in counts)
    if len(report.missing):
        summary += "; missing tasks " + ("allowed (--allow-missing)" if report.allow_missing else "fail the gate")

    def label(r: Any) -> str:
        subset = "" if r.subset == "default" else f" {r.subset}"
        return f"{r.task}{subset} ({r.split})"

    def row_id(r: Any) -> str:
        return R.anchor("task", r.task, r.subset, r.split)

    judged = tasks[tasks.verdict.isin(list(colours))]
    groups = []
    for ttype, frame in judged.groupby("task_type", sort=True):
        rows = []
        for r in frame.itertuples():
            ci = (r.ci_low, r.ci_high) if not math.isnan(r.ci_low) else None
            ci_text = f", {int(round((1 - report.alpha) * 100))}% interval [{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if ci else ""
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
    counts = {(t, sub, sp): worse for t, sub, sp, _, worse in report.moved_notes}
    shown = tasks.rename(columns={"ci_low": "ci low", "ci_high": "ci high"})
    # Beside the verdict, so the link is in view without scrolling the table sideways.
    if moved_ids:
        shown.insert(
            list(shown.columns).index("verdict") + 1,
            "examples",
            [f"{counts[k]} worse" if k in moved_ids else "" for k in zip(tasks["task"], tasks["subset"], tasks["split"], strict=True)],
        )
    moved_sections = []
    for task, subset, split, what, worse in report.moved_notes:
        frame = report.moved[(report.moved.task == task) & (report.moved.subset == subset) & (report.moved.split == split)]
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
        level=int(round((1 - report.alpha) * 100)),
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
        fallback=sorted(set(tasks[tasks.rule.str.startswith("tolerance only (no")].task)),
        warnings=list(report.warnings),
    )
    return tuple(R.write_files(folder, "regress", {"md": report.markdown, "json": report.json_text, "xml": report.junit, "html": page}))
