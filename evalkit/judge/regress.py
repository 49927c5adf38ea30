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

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from evalkit.errors import DataError
from evalkit.judge import confidence
from evalkit.judge.basis import in_suite
from evalkit.judge.moved import MOVED_CAP, MOVED_COLUMNS, moved_examples
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


@dataclass(frozen=True)
class RegressReport:
    """Per-task verdicts, averages, the suite verdict, warnings and the examples that moved.

    The pages (`evalkit.report.regress`) render it; `files` are the pages written, filled in by
    `evalkit.api`.
    """

    tasks: pd.DataFrame
    averages: pd.DataFrame
    warnings: tuple[str, ...]
    baseline: str
    candidate: str
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

    @property
    def level(self) -> int:
        """The intervals' confidence level in percent (95 for alpha 0.05)."""
        return int(round((1 - self.alpha) * 100))

    @property
    def tolerance_only(self) -> tuple[str, ...]:
        """The tasks judged by tolerance alone, for want of per-example scores (sorted)."""
        return tuple(sorted(set(self.tasks[self.tasks.rule.str.startswith("tolerance only (no")].task)))


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
    return RegressReport(
        tasks,
        averages,
        tuple(dict.fromkeys(warnings)),
        base.label,
        cand.label,
        allow_missing=allow_missing,
        alpha=alpha,
        moved=moved,
        moved_notes=notes,
        suite=suite_table,
    )


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
