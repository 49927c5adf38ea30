"""The main score of a result and every average over main scores: one owner for both.

A result's metric names changed over mteb's history; this module holds that history per task type
(`METRIC_HISTORY`, `current_key`) for result files and cards alike, and decides a result's main
score the way mteb's `TaskResult` does (`main_value`):

1. mteb 2.26's main metric of the task, when the row holds it (after the renames: a 1.x reranking
   file's `map` is mteb 2's `map_at_1000`, a card conversion's `cos_sim_spearman` is `cosine_spearman`);
2. else the row's stored `main_score`, which is what mteb's `TaskResult.get_score` and its
   leaderboard read for every file (`TaskResult._convert_from_before_v1_11_0` fills it in for
   pre-1.11 files from the main metric of that time).

The averages (`per_task`, `averages`) follow mteb's benchmark tables (`mteb/benchmarks/_create_table.py`):
a task's score is the mean of its main score over its splits and subsets; a type's score the mean
over its tasks; `mean (task)` the mean over all tasks, `mean (type)` the mean of the type means.

Example::

    >>> current_key("Reranking", "map"), current_key("STS", "cos_sim_spearman")
    ('map_at_1000', 'cosine_spearman')
    >>> main_value({"map": 0.66, "mrr": 0.75, "main_score": 0.66}, "map_at_1000", "Reranking")
    0.66
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

_PAIR_FNS = ("cos_sim", "dot", "euclidean", "manhattan")
_PAIR_STATS = ("accuracy", "ap", "f1", "precision", "recall")
_KS = (1, 3, 5, 10, 100, 1000)

#: Old metric name -> mteb 2.x key, per task type: the vocabulary of mteb 1.x result files and of
#: the C-MTEB cards of 2023 (mteb issue #3317 / PR #3332: reranking `map` became `map_at_1000` when
#: reranking was merged into retrieval, PR #1359; the old `RerankingEvaluator` computed MRR@10).
METRIC_HISTORY: dict[str, dict[str, str]] = {
    "STS": {
        "cos_sim_pearson": "cosine_pearson",
        "cos_sim_spearman": "cosine_spearman",
        "euclidean_pearson": "euclidean_pearson",
        "euclidean_spearman": "euclidean_spearman",
        "manhattan_pearson": "manhattan_pearson",
        "manhattan_spearman": "manhattan_spearman",
    },
    "PairClassification": {
        **{f"{fn}_{st}": f"{'cosine' if fn == 'cos_sim' else fn}_{st}" for fn in _PAIR_FNS for st in _PAIR_STATS},
        "max_accuracy": "max_accuracy",
        "max_ap": "max_ap",
        "max_f1": "max_f1",
    },
    "Classification": {"accuracy": "accuracy", "f1": "f1", "ap": "ap"},
    "Clustering": {"v_measure": "v_measure"},
    "Reranking": {"map": "map_at_1000", "mrr": "mrr_at_10"},
    "Retrieval": {f"{m}_at_{k}": f"{m}_at_{k}" for m in ("map", "mrr", "ndcg", "precision", "recall") for k in _KS},
}

#: Keys of a result row that are not metrics.
NOT_METRICS = frozenset({"hf_subset", "languages", "main_score", "mteb_version", "evaluation_time"})


def current_key(task_type: str, name: str) -> str:
    """The mteb 2.x name of a metric name of any mteb version (a name with no history is itself).

    `cos_sim_*` became `cosine_*` (mteb 1.11), `nAUC_*` became `nauc_*`, reranking `map`/`mrr`
    became `map_at_1000`/`mrr_at_10` (mteb 1.15).
    """
    name = METRIC_HISTORY.get(task_type, {}).get(name, name)
    if name.startswith("cos_sim_"):
        name = "cosine_" + name[len("cos_sim_") :]
    if name.startswith("nAUC_"):
        name = "nauc_" + name[len("nAUC_") :]
    return name


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def row_metrics(entry: Mapping[str, Any], task_type: str) -> dict[str, float]:
    """A result row's numeric metrics under their mteb 2.x names.

    Where a row holds a metric under both an old and the current name (a 1.x file with `map` and
    `map_at_1000`), the current one wins: it is the value mteb 2 itself computed.
    """
    native = set(entry)
    out: dict[str, float] = {}
    for name, raw in entry.items():
        value = _number(raw)
        if name in NOT_METRICS or value is None:
            continue
        key = current_key(task_type, name)
        if key != name and key in native:
            continue
        out[key] = value
    return out


def main_value(entry: Mapping[str, Any], main_metric: str | None, task_type: str) -> float | None:
    """A result row's main score: mteb 2.26's main metric when the row has it, else its stored `main_score`.

    Returns None when the row has neither (mteb then has no score for it either).
    """
    if main_metric:
        value = row_metrics(entry, task_type).get(main_metric)
        if value is not None:
            return value
    return _number(entry.get("main_score"))


# --- averages ----------------------------------------------------------------------------------------


def main_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Only the rows of a Scores table that hold each task's main score."""
    return df[df["is_main"].astype(bool)].reset_index(drop=True)


def per_task(df: pd.DataFrame) -> pd.DataFrame:
    """One main score per task: the mean over its splits and subsets, as mteb's `get_score` does.

    Returns:
        Columns `task`, `task_type`, `value`, in the table's task order.
    """
    main = main_rows(df)
    if main.empty:
        return pd.DataFrame(columns=["task", "task_type", "value"])
    return main.groupby(["task", "task_type"], as_index=False, sort=False, dropna=False)["value"].mean()


def mean(values: list[float]) -> float:
    """The plain mean (NaN for none): every average in evalkit is this over main scores."""
    return float(sum(values) / len(values)) if values else math.nan


def averages(df: pd.DataFrame, *, type_mean: bool = False) -> pd.DataFrame:
    """Leaderboard-style averages of a Scores table: per task type, then over all tasks (and types).

    Args:
        df: a Scores table.
        type_mean: add an `All types` row, the mean of the type means (mteb's `Mean (TaskType)`).

    Returns:
        Columns `task_type`, `tasks`, `value`; then `All` (mean over tasks, mteb's `Mean (Task)`)
        and, with `type_mean`, `All types`.
    """
    tasks = per_task(df)
    if tasks.empty:
        return pd.DataFrame(columns=["task_type", "tasks", "value"])
    by_type = tasks.groupby("task_type", as_index=False).agg(tasks=("task", "count"), value=("value", "mean"))
    overall = [{"task_type": "All", "tasks": len(tasks), "value": tasks["value"].mean()}]
    if type_mean:
        overall.append({"task_type": "All types", "tasks": len(tasks), "value": by_type["value"].mean()})
    return pd.concat([by_type, pd.DataFrame(overall)], ignore_index=True)
