"""The Scores table: one long pandas DataFrame that every reader produces and every writer consumes.

Columns (`COLUMNS`)::

    model, revision, task, task_type, subset, split, metric, value, is_main, source,
    mteb_version, dataset_revision, dataset

`value` is always on the 0-1 scale at full precision; `metric` is an mteb 2.x key. Results folders
(`read_results`), published-score files (`read_published`) and model cards (`evalkit.card`) are
three sources of the same table.

Example::

    >>> df = read_results(Path("results"))
    >>> main_scores(df)[["task", "split", "value"]]
               task split     value
    0  STSBenchmark  test  0.820325
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit import _parse
from evalkit.errors import DataError
from evalkit.results import main_score as M
from evalkit.results.names import task_type_of

COLUMNS = [
    "model",
    "revision",
    "task",
    "task_type",
    "subset",
    "split",
    "metric",
    "value",
    "is_main",
    "source",
    "mteb_version",
    "dataset_revision",
    "dataset",
]
KEY = ["task", "subset", "split", "metric"]


def empty() -> pd.DataFrame:
    """An empty Scores table with the right columns."""
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "value" else ("bool" if c == "is_main" else "object")) for c in COLUMNS})


def make(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Build a Scores table from row dicts, filling absent optional columns with None."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return empty()
    for col in COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame["value"] = frame["value"].astype("float64")
    frame["is_main"] = frame["is_main"].astype(bool)
    return frame[COLUMNS].reset_index(drop=True)


def read_results(folder: Path, *, single_model: bool = False, source: str = "run") -> pd.DataFrame:
    """Read every mteb TaskResult JSON under `folder` into a Scores table.

    Args:
        folder: a results root (`results/`), a model folder, a revision folder, or one result file.
        single_model: refuse folders that mix several models or revisions.
        source: the `source` column value.

    Returns:
        The Scores table, one row per (task, subset, split, metric).

    Raises:
        DataError: missing or empty folder, unreadable JSON (naming the file), mixed models.
    """
    from evalkit.results.folder import ResultsFolder, read_task_result

    folder = Path(folder)
    if folder.is_file():
        files = [(ResultsFolder.of_file(folder), folder)]
    else:
        files = [(f, path) for f in ResultsFolder.find(folder) for path in f.result_files()]
    rows: list[dict[str, Any]] = []
    models: set[tuple[str, str]] = set()
    for owner, path in files:
        result = read_task_result(path)
        model, revision = owner.identity()
        models.add((model, revision))
        rows.extend(_rows_of(result, model, revision, source, owner))
    if single_model and len(models) > 1:
        listed = ", ".join(f"{m}@{r[:12]}" for m, r in sorted(models))
        raise DataError(f"results folder {folder}: mixes several models ({listed}); pass one model's folder")
    return make(rows)


def _rows_of(result: Any, model: str, revision: str, source: str, owner: Any) -> list[dict[str, Any]]:
    from evalkit._compat.mteb import task_metadata

    task = result.task_name
    meta = task_metadata(task)
    if meta is not None:
        main, ttype, dataset = meta.main_score, meta.type, meta.dataset["path"]
    else:
        (main, ttype), dataset = owner.task_info(task), None
    rows = []
    for split, entries in result.scores.items():
        for entry in entries:
            metrics = M.row_metrics(entry, ttype)
            chosen = main
            value = M.main_value(entry, main, ttype)
            if value is not None and (main is None or main not in metrics):
                # The stored main_score stands for the main metric (mteb's get_score reads it): an
                # old file without mteb 2's main key, or a task whose main metric evalkit does not know.
                twin = next((k for k, v in metrics.items() if v == value), None) if main is None else None
                chosen = twin or main or "main_score"
                metrics.setdefault(chosen, value)
            for metric, number in metrics.items():
                rows.append(
                    {
                        "model": model,
                        "revision": revision,
                        "task": task,
                        "task_type": ttype,
                        "subset": entry.get("hf_subset", "default"),
                        "split": split,
                        "metric": metric,
                        "value": number,
                        "is_main": metric == chosen,
                        "source": source,
                        "mteb_version": result.mteb_version,
                        "dataset_revision": result.dataset_revision,
                        "dataset": dataset,
                    }
                )
    return rows


def read_published(path: Path) -> pd.DataFrame:
    """Read a published-scores file (as in `shared/published/*.json`) into a Scores table.

    Raises:
        DataError: when the file is missing or not in that format.
    """
    try:
        data = _parse.read_json(path, f"published scores {path}")
        rows = [
            {
                "model": data["model"],
                "revision": data.get("model_revision"),
                "task": s["task"],
                "task_type": task_type_of(s["task"]),
                "subset": s.get("hf_subset", "default"),
                "split": s["split"],
                "metric": s["metric"],
                "value": float(s["main_score"]),
                "is_main": True,
                "source": "published",
                "mteb_version": s.get("mteb_version"),
                "dataset_revision": s.get("dataset_revision"),
            }
            for s in data["scores"]
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(
            f"published scores {path}: unreadable ({type(exc).__name__}); expected {{model, scores: [{{task, split, metric, main_score}}]}}"
        ) from None
    return make(rows)


# The main score and every average over it have one owner, `results.main_score`; these names stay
# for the readers that reach them through the Scores table.
main_scores = M.main_rows
per_task = M.per_task
averages = M.averages
