"""Regression gate: a candidate's main scores against a baseline's, with tolerances and a paired bootstrap.

A task is `regressed` when its main score drops by more than its tolerance and, where both sides
kept per-example scores, the paired bootstrap interval of the delta lies below zero (the second
rule can be switched off). Tasks without per-example scores (clustering, cards) are judged by the
tolerance alone, and the report says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from evalkit import examples as E
from evalkit import report as R
from evalkit import scores as S
from evalkit.errors import DataError
from evalkit.settings import BOOTSTRAP_SAMPLES, REGRESS_ALPHA, REGRESS_TOLERANCE, check_alpha, check_tolerance
from evalkit.suite import Suite

Verdict = Literal["improved", "unchanged", "regressed", "missing"]


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
    from evalkit.results_folder import ResultsFolder

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
    if base.kind != cand.kind:
        return None
    if base.kind == "mean" and base.ids and cand.ids:
        common = sorted(set(base.ids) & set(cand.ids))
        if not common:
            return None
        bi = {q: i for i, q in enumerate(base.ids)}
        ci = {q: i for i, q in enumerate(cand.ids)}
        a = (np.asarray(base.values)[[bi[q] for q in common]],)
        b = (np.asarray(cand.values)[[ci[q] for q in common]],)
    else:
        if len(base) != len(cand) or len(base) == 0:
            return None
        a, b = base.arrays(), cand.arrays()
        if base.kind != "mean" and not np.array_equal(a[0], b[0]):
            return None  # different gold labels: not the same examples
    n = len(a[0])
    rng = np.random.default_rng(seed)
    deltas = np.empty(samples)
    if base.kind == "mean":
        diff = b[0] - a[0]
        for start in range(0, samples, 100):
            stop = min(samples, start + 100)
            idx = rng.integers(0, n, size=(stop - start, n))
            deltas[start:stop] = diff[idx].mean(axis=1)
    else:
        for i in range(samples):
            idx = rng.integers(0, n, size=n)
            deltas[i] = E.statistic(cand.kind, b, idx) - E.statistic(base.kind, a, idx)
    deltas = deltas[~np.isnan(deltas)]
    if len(deltas) == 0:
        return None
    return float(np.quantile(deltas, alpha / 2)), float(np.quantile(deltas, 1 - alpha / 2))


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

    @property
    def regressed(self) -> bool:
        """True when any task regressed: the CI exit code is 1."""
        return bool((self.tasks["verdict"] == "regressed").any())


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
) -> RegressReport:
    """Compare main scores task by task and decide a verdict for each.

    Args:
        base: the baseline side.
        cand: the candidate side.
        suite: per-task tolerances and regress defaults.
        tolerance: default allowed drop (0-1 scale); a suite's per-task tolerance still wins.
        alpha: significance level of the bootstrap interval.
        require_significance: a drop must also be significant to count (default True).

    Raises:
        DataError: when the two sides share no task.
    """
    settings = suite.regress if suite is not None else None
    default_tol = check_tolerance(tolerance if tolerance is not None else (settings.tolerance if settings else REGRESS_TOLERANCE))
    alpha = check_alpha(alpha if alpha is not None else (settings.alpha if settings else REGRESS_ALPHA))
    need_sig = require_significance if require_significance is not None else (settings.require_significance if settings else True)
    samples = settings.bootstrap_samples if settings else BOOTSTRAP_SAMPLES
    keys = ["task", "subset", "split"]
    b = S.main_scores(base.scores)[keys + ["task_type", "value", "mteb_version", "dataset_revision"]]
    c = S.main_scores(cand.scores)[keys + ["task_type", "value", "mteb_version", "dataset_revision"]]
    if suite is not None:
        names = {t.name for t in suite.tasks}
        b, c = b[b.task.isin(names)], c[c.task.isin(names)]
    joined = b.merge(c, on=keys, how="outer", suffixes=("_b", "_c"))
    common = joined.dropna(subset=["value_b", "value_c"])
    if common.empty:
        raise DataError(f"baseline {base.label} and candidate {cand.label} share no task; run the same suite on both")
    warnings = []
    rows = []
    for r in joined.itertuples():
        ttype = r.task_type_b if isinstance(r.task_type_b, str) else r.task_type_c
        spec = suite.task(r.task) if suite is not None else None
        tol = spec.tolerance if spec is not None and spec.tolerance is not None else default_tol
        row = {"task": r.task, "task_type": ttype, "split": r.split, "subset": r.subset, "baseline": r.value_b, "candidate": r.value_c}
        if pd.isna(r.value_b) or pd.isna(r.value_c):
            rows.append(
                {
                    **row,
                    "delta": math.nan,
                    "tolerance": tol,
                    "ci_low": math.nan,
                    "ci_high": math.nan,
                    "verdict": "missing",
                    "rule": f"no {'baseline' if pd.isna(r.value_b) else 'candidate'} score",
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
        ci = paired_bootstrap(eb, ec, samples=samples, alpha=alpha) if eb is not None and ec is not None else None
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
    tasks = pd.DataFrame(rows).sort_values(["task_type", "task", "split"], kind="stable").reset_index(drop=True)
    averages = _averages(tasks)
    return _render(tasks, averages, tuple(dict.fromkeys(warnings)), base.label, cand.label, alpha)


def _averages(tasks: pd.DataFrame) -> pd.DataFrame:
    both = tasks[tasks.verdict != "missing"]
    per_task = both.groupby(["task", "task_type"], as_index=False)[["baseline", "candidate"]].mean()
    by_type = per_task.groupby("task_type", as_index=False).agg(
        tasks=("task", "count"), baseline=("baseline", "mean"), candidate=("candidate", "mean")
    )
    overall = pd.DataFrame(
        [{"task_type": "All", "tasks": len(per_task), "baseline": per_task["baseline"].mean(), "candidate": per_task["candidate"].mean()}]
    )
    out = pd.concat([by_type, overall], ignore_index=True)
    out["delta"] = out["candidate"] - out["baseline"]
    return out


def _render(tasks: pd.DataFrame, averages: pd.DataFrame, warnings: tuple[str, ...], base: str, cand: str, alpha: float) -> RegressReport:
    counts = tasks["verdict"].value_counts().to_dict()
    regressed = tasks[tasks.verdict == "regressed"]
    head = "REGRESSED" if len(regressed) else "PASS"
    level = int(round((1 - alpha) * 100))
    lines = [
        f"# evalkit regress: {head}",
        "",
        f"Baseline `{base}`, candidate `{cand}`. " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".",
        f"Intervals: paired bootstrap {level}% of the delta (candidate - baseline).",
        "",
        R.markdown_table(tasks),
        "",
        "## Averages per task type",
        R.markdown_table(averages),
    ]
    fallback = tasks[tasks.rule.str.startswith("tolerance only (no")]
    if len(fallback):
        lines += ["", "Judged by tolerance alone (no per-example scores): " + ", ".join(sorted(set(fallback.task))) + "."]
    if warnings:
        lines += ["", "## Warnings", *[f"- {w}" for w in warnings]]
    markdown = "\n".join(lines) + "\n"
    payload = {
        "verdict": "regressed" if len(regressed) else "pass",
        "baseline": base,
        "candidate": cand,
        "alpha": alpha,
        "tasks": json.loads(tasks.to_json(orient="records")),
        "averages": json.loads(averages.to_json(orient="records")),
        "warnings": list(warnings),
    }
    cases = [
        (
            f"evalkit.regress.{r.task_type}",
            f"{r.task} [{r.split}/{r.subset}]",
            f"{r.task} regressed: {r.baseline:.4f} -> {r.candidate:.4f} (delta {r.delta:+.4f}, tolerance {r.tolerance})"
            if r.verdict == "regressed"
            else None,
            0.0,
        )
        for r in tasks.itertuples()
    ]
    return RegressReport(
        tasks, averages, warnings, base, cand, markdown, json.dumps(payload, indent=2) + "\n", R.junit_xml("evalkit regress", cases)
    )


def write_reports(report: RegressReport, folder: Path) -> tuple[Path, ...]:
    """Write regress.md, regress.json, regress.xml (JUnit) and a self-contained regress.html."""
    groups, intervals = [], []
    for ttype, frame in report.tasks[report.tasks.verdict != "missing"].groupby("task_type", sort=True):
        rows = []
        for r in frame.itertuples():
            rows.append((f"{r.task} ({r.split}) {r.verdict}", [r.delta]))
            intervals.append([(r.ci_low, r.ci_high)] if not math.isnan(r.ci_low) else [None])
        groups.append((str(ttype), rows))
    chart = R.bar_chart(
        groups, ["delta (candidate - baseline)"], title="Main-score deltas with bootstrap intervals", signed=True, intervals=intervals
    )
    sections = [("Verdicts", chart + R.html_table(report.tasks)), ("Averages per task type", R.html_table(report.averages))]
    if report.warnings:
        sections.append(("Warnings", "<ul>" + "".join(f"<li>{w}</li>" for w in report.warnings) + "</ul>"))
    page = R.html_page("evalkit regress", sections)
    return tuple(R.write_files(folder, "regress", {"md": report.markdown, "json": report.json_text, "xml": report.junit, "html": page}))
