#!/usr/bin/env python
"""evalkit's leaderboard against mteb's own computation on the public-results fixtures.

For each benchmark (`MTEB(cmn, v1)` and the one `configs/cmteb.yaml` describes), every results folder
under `tests/data/public_results/results` (one model at one revision, or an `external/` card
conversion) is one row on both sides:

* mteb: the folder's task files are linked into a temporary result cache as a model of their own
  (so that `join_revisions` never merges two folders), read with `mteb.ResultCache.load_results`
  as mteb's leaderboard rebuild reads them, then `Benchmark._build_per_task_pivot` gives the
  per-task values (null when a task lacks a split or subset), and mteb's own summary expressions
  (`_get_means_per_types`, `_skipna_false_mean`, as in `_create_table._create_summary_table`) give
  the type means, `Mean (Task)` and `Mean (TaskType)`.
* evalkit: `evalkit.leaderboard` on the fixture folder with the benchmark as its suite.

Prints how many values were compared and how many agree within 1e-6; exit 1 on any disagreement.

Run:  . .venv/bin/activate && python scripts/public_results_agreement.py
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "public_results"
CONFIG = ROOT / "configs" / "cmteb.yaml"
TOLERANCE = 1e-6


def folders(fixture: Path = FIXTURE) -> list[Path]:
    """Every results folder (`<org__model>/<revision>`) of the fixture."""
    return sorted(p for p in (fixture / "results").glob("*/*") if p.is_dir() and any(p.glob("*.json")))


def folder_key(folder: Path) -> str:
    """The name a folder has in the temporary mteb cache (and in the comparison)."""
    return f"{folder.parent.name}--{folder.name}"


def benchmarks(config: Path = CONFIG) -> list[Any]:
    """`MTEB(cmn, v1)` and a Benchmark built from the suite file, each task cut to its splits and subsets."""
    import mteb
    import yaml

    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    by_name = {t.metadata.name: t for t in mteb.get_tasks(tasks=[e["name"] for e in cfg["tasks"]])}
    tasks = []
    for e in cfg["tasks"]:
        task = by_name[e["name"]]
        if e.get("splits"):
            task.filter_eval_splits(eval_splits=e["splits"])
        tasks.append(task.filter_languages(None, None, hf_subsets=e.get("subsets")))
    return [mteb.get_benchmark("MTEB(cmn, v1)"), mteb.Benchmark(name=f"evalkit:{cfg['name']}", tasks=tasks)]


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def mteb_values(bench: Any, fixture: Path = FIXTURE) -> dict[str, dict[str, float | None]]:
    """mteb's per-task values and averages per folder: {folder key: {task or average: value}}."""
    import mteb
    import polars as pl
    from mteb.benchmarks._create_table import _get_means_per_types, _skipna_false_mean

    with tempfile.TemporaryDirectory() as tmp:
        for folder in folders(fixture):
            target = Path(tmp) / "results" / folder_key(folder) / folder.name
            target.mkdir(parents=True)
            for f in folder.glob("*.json"):
                if f.name != "model_meta.json":  # without it, mteb names the model by its folder
                    (target / f.name).symlink_to(f.resolve())
        results = mteb.ResultCache(tmp).load_results(
            tasks=bench, require_model_meta=False, include_remote=False, only_main_score=True, load_experiments="match_name"
        )
        long_df = results._to_results_df(bench.tasks)
    per_task, task_cols = bench._build_per_task_pivot(long_df)
    type_exprs, type_cols = _get_means_per_types(task_cols)
    means = per_task.select("model_name", *type_exprs, _skipna_false_mean(task_cols).alias("mean (task)")).with_columns(
        _skipna_false_mean(type_cols).alias("mean (type)")
    )
    out: dict[str, dict[str, float | None]] = {}
    for row in per_task.join(means, on="model_name").iter_rows(named=True):
        key = row["model_name"].replace("/", "__")
        out[key] = {k: _num(v) for k, v in row.items() if k not in {"model_name", "_experiment_id"}}
    del pl
    return out


def suite_of(bench: Any) -> Any:
    """The benchmark as an evalkit suite: its tasks with their splits and subsets."""
    from evalkit.runner.suite import Suite, TaskSpec

    return Suite(
        name=bench.name,
        tasks=tuple(TaskSpec(t.metadata.name, splits=tuple(t.eval_splits), subsets=tuple(t.hf_subsets)) for t in bench.tasks),
    )


def evalkit_values(bench: Any, fixture: Path = FIXTURE) -> dict[str, dict[str, float | None]]:
    """evalkit's leaderboard on the fixture with the benchmark as suite: {folder key: {task or average: value}}."""
    from evalkit.judge import leaderboard as L
    from evalkit.results.folder import ResultsFolder
    from evalkit.results.scores import task_type_of

    suite = suite_of(bench)
    entries, notes = L.collect([fixture / "results"], suite=suite)
    board = L.build(entries, suite=suite, warnings=notes)
    by_identity = {ResultsFolder(f).identity(): folder_key(f) for f in folders(fixture)}
    out: dict[str, dict[str, float | None]] = {}
    tasks = board.tasks.set_index(["model", "revision"])
    for row in board.rows.to_dict("records"):
        values = {t: _num(tasks.loc[(row["model"], row["revision"]), t]) for t in board.task_set}
        types = {t: task_type_of(t) for t in board.task_set}
        # A mean is a leaderboard number only over all of its tasks (mteb's means are null otherwise).
        for ttype in board.task_types:
            whole = all(values[t] is not None for t in board.task_set if types[t] == ttype)
            values[ttype] = _num(row[ttype]) if whole else None
        complete = all(values[t] is not None for t in board.task_set)
        values["mean (task)"] = _num(row["mean (task)"]) if complete else None
        values["mean (type)"] = _num(row["mean (type)"]) if complete else None
        out[by_identity[(row["model"], row["revision"])]] = values
    return out


@dataclass
class Agreement:
    """Counts of one comparison."""

    benchmark: str
    compared: int = 0
    agree: int = 0
    tasks_compared: int = 0
    tasks_agree: int = 0
    rows: int = 0
    only_evalkit: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def compare(bench: Any, fixture: Path = FIXTURE) -> Agreement:
    """Compare every value mteb has for every folder with evalkit's."""
    ref, ours = mteb_values(bench, fixture), evalkit_values(bench, fixture)
    result = Agreement(bench.name, rows=len(ref))
    task_names = {t.metadata.name for t in bench.tasks}
    for key, values in sorted(ref.items()):
        got = ours.get(key)
        if got is None:
            result.problems.append(f"{key}: no evalkit row")
            continue
        for name, want in values.items():
            have = got.get(name)
            if want is None:
                if have is not None:
                    result.only_evalkit.append(f"{key} {name}: evalkit {have}, mteb none")
                continue
            ok = have is not None and abs(want - have) <= TOLERANCE
            result.compared += 1
            result.agree += ok
            if name in task_names:
                result.tasks_compared += 1
                result.tasks_agree += ok
            if ok:
                continue
            result.problems.append(f"{key} {name}: mteb {want}, evalkit {have}")
    return result


def main() -> int:
    logging.getLogger("mteb").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    failed = False
    for bench in benchmarks():
        a = compare(bench)
        print(
            f"{a.benchmark}: {a.rows} folders; {a.compared} mteb values compared, {a.agree} agree within {TOLERANCE:g} "
            f"(per task {a.tasks_agree}/{a.tasks_compared}, averages {a.agree - a.tasks_agree}/{a.compared - a.tasks_compared}); "
            f"{len(a.only_evalkit)} values evalkit reads where mteb has none"
        )
        for p in a.problems:
            print("   differ:", p)
        for p in a.only_evalkit:
            print("   evalkit only:", p)
        failed |= bool(a.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
