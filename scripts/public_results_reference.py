#!/usr/bin/env python
"""mteb's own reading of tests/data/public_results, written to reference.json.

Uses only mteb (no evalkit). The fixture folder has the layout of mteb's result
cache (``<cache>/results/<org__model>/<revision>/<Task>.json``), so it is read
by ``mteb.ResultCache(<fixture>).load_results(...)`` exactly like the mteb
leaderboard rebuild does (``ResultCache._rebuild_from_full_repository``:
``only_main_score=True, require_model_meta=False, load_experiments="match_name"``),
except that ``models=None`` here keeps models that are not in mteb's model
registry (the leaderboard passes the registry's model names and so drops them).

Per benchmark (``MTEB(cmn, v1)`` and one built from configs/cmteb.yaml):

* ``long_df = results._to_results_df(benchmark.tasks)``: the leaderboard's
  long frame (``select_tasks`` = validate/filter to the benchmark's splits and
  subsets, then ``join_revisions``).
* per-task values: ``benchmark._build_per_task_pivot(long_df)`` (what the
  leaderboard's per-task table shows, and what the summary averages).
* leaderboard summary: ``benchmark._create_summary_table(long_df)``
  (== ``results.get_benchmark_result()``): ``Mean (Task)``, ``Mean (TaskType)``,
  one column per task type, ``Rank (Borda)``. Only models in mteb's registry.
* Python API: ``benchmark.get_score(results)`` (``Mean(Task)``, ``Mean(TaskType)``,
  per type, ``Rank``), which also covers models outside the registry.
* means over the tasks a model has: mteb's ``_recompute_lenient_means`` (used by
  mteb's API only when a language filter is set; not a leaderboard number).

Run:  . .venv/bin/activate && python scripts/public_results_reference.py
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import mteb
import yaml
from mteb.benchmarks._benchmark_metrics import _recompute_lenient_means

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "public_results"
CONFIG = ROOT / "configs" / "cmteb.yaml"
OUT = FIXTURE / "reference.json"

SOURCE = {
    "repository": "https://github.com/embeddings-benchmark/results",
    "commit": "f4cc6c8b365a3c779dbc708d6affe0b0355b2ddf",
    "jina_embeddings_v2_base_zh_commit": "2d8f542631e84177d9209a49256e75c5804d5299",
}


def _num(x: Any) -> float | None:
    """JSON-safe float: None for None/NaN; rounded to 12 decimals.

    mteb's polars summary is not bit-stable between runs: the pivot's column
    order follows an unordered group_by, so horizontal means differ in the last
    ulp. Rounding to 12 decimals makes reference.json reproducible.
    """
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else round(x, 12)


def cmteb_benchmark(config: Path) -> mteb.Benchmark:
    """Benchmark from configs/cmteb.yaml: its tasks, each cut to its splits and subsets.

    ``mteb.get_tasks`` takes one split/language filter for all tasks, so each task
    is cut afterwards with the same calls ``mteb.get_task`` makes
    (``filter_eval_splits`` then ``filter_languages(hf_subsets=...)``).
    """
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    entries = cfg["tasks"]
    by_name = {t.metadata.name: t for t in mteb.get_tasks(tasks=[e["name"] for e in entries])}
    tasks = []
    for e in entries:
        task = by_name[e["name"]]
        if e.get("splits"):
            task.filter_eval_splits(eval_splits=e["splits"])
        task = task.filter_languages(None, None, hf_subsets=e.get("subsets"))
        tasks.append(task)
    return mteb.Benchmark(
        name=f"evalkit:{cfg['name']}",
        tasks=tasks,
        description=cfg.get("description"),
    )


def _task_cells(results: mteb.BenchmarkResults) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (model, task) as loaded, before benchmark filtering.

    Returns the revision dir, mteb_version, splits/subsets in the file and the
    (split, subset) cells whose stored main_score is None.
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for mr in results:
        for tr in mr.task_results:
            none_cells = [
                f"{split}/{s.get('hf_subset')}" for split, subsets in tr.scores.items() for s in subsets if s.get("main_score") is None
            ]
            out[(mr.model_name, tr.task_name)] = {
                "revision": mr.model_revision,
                "mteb_version": tr.mteb_version,
                "splits_in_file": {split: sorted(s.get("hf_subset") for s in subsets) for split, subsets in tr.scores.items()},
                "main_score_none": none_cells,
            }
    return out


def evaluate(cache: mteb.ResultCache, bench: mteb.Benchmark) -> dict[str, Any]:
    """Per-task values and averages, as mteb computes them, for every fixture model on ``bench``."""
    results = cache.load_results(
        tasks=bench,
        require_model_meta=False,
        include_remote=False,
        only_main_score=True,
        load_experiments="match_name",
    )
    # Where each task's file comes from once mteb has picked one revision per
    # (model, task) (join_revisions; no C-MTEB task file is duplicated across
    # revision dirs in this fixture, so the pick is the only file).
    loaded = _task_cells(results.join_revisions())
    task_names = [t.metadata.name for t in bench.tasks]
    task_type = {t.metadata.name: t.metadata.type for t in bench.tasks}

    long_df = results._to_results_df(bench.tasks)
    pivot = bench._build_per_task_pivot(long_df)
    per_task_df, task_cols = pivot
    per_task = {row["model_name"]: {t: _num(row.get(t)) for t in task_cols} for row in per_task_df.iter_rows(named=True)}

    summary = bench._create_summary_table(long_df)
    sdf = summary.df
    type_cols = sorted(c for c in sdf.columns if c in set(task_type.values()))
    lb = {row["Model"]: row for row in sdf.iter_rows(named=True)}

    # Benchmark.get_score: warns + fills None for models lacking a task.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        py = bench.get_score(results)

    # Cells of the long frame per (model, task): main_score per "split/subset"
    # after mteb's validate/filter (benchmark cells only; missing ones are null).
    cells: dict[tuple[str, str], dict[str, float | None]] = {}
    for r in long_df.select("model_name", "task_name", "split", "subset", "score").iter_rows(named=True):
        d = cells.setdefault((r["model_name"], r["task_name"]), {})
        d[f"{r['split']}/{r['subset']}"] = _num(r["score"])

    models: dict[str, Any] = {}
    registry = {m.name for m in mteb.get_model_metas()}
    for model in sorted({m.model_name for m in results}):
        tasks = {t: per_task.get(model, {}).get(t) for t in task_names}
        missing = [t for t in task_names if (model, t) not in loaded]
        null = {}
        for t in task_names:
            if tasks[t] is not None or t in missing:
                continue
            cm = cells.get((model, t), {})
            c = {
                "scored": [k for k, v in cm.items() if v is not None],
                "unscored": [k for k, v in cm.items() if v is None],
            }
            info = loaded[(model, t)]
            if info["main_score_none"]:
                why = f"main_score is None in file for {info['main_score_none']} (pre-1.11 file without {bench_main_score(bench, t)})"
            elif c["scored"]:
                why = f"incomplete: scored {c['scored']}, not {c['unscored'] or 'the other split/subset seen for other models'}; leaderboard nulls partial tasks"
            else:
                why = f"file has {info['splits_in_file']}, benchmark needs {bench_cells(bench, t)}"
            null[t] = why

        row = lb.get(model)
        leaderboard = None
        if row is not None:
            leaderboard = {
                "mean_task": _num(row.get("Mean (Task)")),
                "mean_task_type": _num(row.get("Mean (TaskType)")),
                "type_means": {c: _num(row.get(c)) for c in type_cols},
                "rank_borda": row.get("Rank (Borda)"),
            }

        g = py.get(model, {})
        get_score = {
            "mean_task": _num(g.get("Mean(Task)")),
            "mean_task_type": _num(g.get("Mean(TaskType)")),
            "type_means": {c: _num(g.get(c)) for c in sorted(set(task_type.values()))},
            "rank": g.get("Rank"),
        }

        avail = {t: v for t, v in tasks.items() if v is not None}
        lt, lm, ltt = _recompute_lenient_means(avail, task_type) if avail else ({}, None, None)

        models[model] = {
            "in_mteb_registry": model in registry,
            "in_leaderboard_summary": row is not None,
            "revisions": sorted({loaded[(model, t)]["revision"] for t in task_names if (model, t) in loaded}),
            "task_source": {
                t: {"revision": loaded[(model, t)]["revision"], "mteb_version": loaded[(model, t)]["mteb_version"]}
                for t in task_names
                if (model, t) in loaded
            },
            "tasks": tasks,
            "cells": {t: cells[(model, t)] for t in task_names if (model, t) in cells},
            "missing_tasks": missing,
            "null_tasks": null,
            "n_tasks_scored": len(avail),
            "leaderboard": leaderboard,
            "get_score": get_score,
            "available_tasks_only": {
                "mean_task": _num(lm),
                "mean_task_type": _num(ltt),
                "type_means": {k: _num(lt[k]) for k in sorted(lt)},
            },
        }

    # Self-checks: the summary's Mean (Task) is the plain mean of the per-task
    # values, and the public BenchmarkResults.get_benchmark_result() gives the
    # same summary as the leaderboard call used above.
    for model, m in models.items():
        if m["leaderboard"] and m["leaderboard"]["mean_task"] is not None:
            vals = list(m["tasks"].values())
            assert None not in vals, model
            assert math.isclose(sum(vals) / len(vals), m["leaderboard"]["mean_task"], abs_tol=1e-11), model
    public = results.get_benchmark_result()
    assert list(public["Model"]) == list(sdf["Model"]), "get_benchmark_result() differs"

    differences = []
    for model, m in models.items():
        if not m["in_leaderboard_summary"]:
            differences.append(
                f"{model}: not in mteb's model registry, so no leaderboard summary row (get_score and per-task values still cover it)"
            )
            continue
        lbm, gsm = m["leaderboard"], m["get_score"]
        pairs = {"mean_task": (lbm["mean_task"], gsm["mean_task"]), "mean_task_type": (lbm["mean_task_type"], gsm["mean_task_type"])}
        pairs.update({k: (v, gsm["type_means"].get(k)) for k, v in lbm["type_means"].items()})
        diff = [k for k, (a, b) in pairs.items() if (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-9)]
        if diff:
            why = (
                "get_score scores each (model, revision) group of join_revisions separately, so tasks split over revisions count as missing"
                if len(m["revisions"]) > 1 and lbm["mean_task"] is not None
                else "leaderboard type means are null only for the types with a null task; "
                "get_score nulls every type when any task is missing or null"
            )
            differences.append(f"{model}: leaderboard vs get_score differ on {diff} ({why})")
    return {
        "differences": differences,
        "tasks": {
            t.metadata.name: {
                "type": t.metadata.type,
                "main_score": t.metadata.main_score,
                "splits": list(t.eval_splits),
                "subsets": list(t.hf_subsets),
            }
            for t in bench.tasks
        },
        "task_columns_in_summary": [t for t in task_names if t in task_cols],
        "models": models,
    }


def bench_main_score(bench: mteb.Benchmark, task: str) -> str:
    """The task's main score name in mteb 2.x metadata."""
    return next(t.metadata.main_score for t in bench.tasks if t.metadata.name == task)


def bench_cells(bench: mteb.Benchmark, task: str) -> dict[str, list[str]]:
    """The split -> subsets the benchmark asks of ``task``."""
    t = next(t for t in bench.tasks if t.metadata.name == task)
    return {s: list(t.hf_subsets) for s in t.eval_splits}


def print_table(name: str, data: dict[str, Any]) -> None:
    """Short summary: scored tasks, leaderboard means, get_score mean, mean over available tasks, rank."""
    n = len(data["tasks"])
    print(f"\n== {name}: {n} tasks ({len(data['models'])} models)")
    print(f"{'model':52s} {'n':>5s} {'LB task':>8s} {'LB type':>8s} {'gs task':>8s} {'avail':>8s} {'rank':>4s}")

    def f(x: float | None) -> str:
        return f"{100 * x:8.2f}" if x is not None else f"{'-':>8s}"

    for model, m in sorted(
        data["models"].items(),
        key=lambda kv: -(kv[1]["available_tasks_only"]["mean_task"] or 0),
    ):
        lbd = m["leaderboard"] or {}
        rank = lbd.get("rank_borda")
        print(
            f"{model[:52]:52s} {m['n_tasks_scored']:>2d}/{n:<2d} {f(lbd.get('mean_task'))} "
            f"{f(lbd.get('mean_task_type'))} {f(m['get_score']['mean_task'])} "
            f"{f(m['available_tasks_only']['mean_task'])} {rank if rank is not None else '-':>4}"
            + ("" if m["in_leaderboard_summary"] else "  (not in mteb registry: no summary row)")
        )


def main() -> None:
    """Compute both benchmarks and write reference.json."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--fixture", type=Path, default=FIXTURE)
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or args.fixture / "reference.json"

    logging.getLogger("mteb").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    cache = mteb.ResultCache(args.fixture)
    benches = [mteb.get_benchmark("MTEB(cmn, v1)"), cmteb_benchmark(args.config)]
    ref: dict[str, Any] = {
        "source": SOURCE,
        "mteb_version": mteb.__version__,
        "how": {
            "load": "mteb.ResultCache(fixture).load_results(tasks=benchmark, require_model_meta=False, "
            "include_remote=False, only_main_score=True, load_experiments='match_name')",
            "long_frame": "BenchmarkResults._to_results_df(benchmark.tasks) (select_tasks, then join_revisions)",
            "tasks": "Benchmark._build_per_task_pivot(long_frame): mean of main_score over the task's "
            "benchmark splits x subsets; null when any is missing (nulling is judged against the "
            "split x subset combos seen for that task across all loaded models)",
            "leaderboard": "Benchmark._create_summary_table(long_frame) == BenchmarkResults.get_benchmark_result(): "
            "Mean (Task) = mean over tasks, Mean (TaskType) = mean of per-type means, both null if any task "
            "is null; only models in mteb's model registry get a row",
            "get_score": "Benchmark.get_score(results) (join_revisions, then select_tasks; TaskResult.get_score "
            "per task); all None when a task file is missing",
            "available_tasks_only": "mteb.benchmarks._benchmark_metrics._recompute_lenient_means over the "
            "non-null per-task values (not a leaderboard number)",
            "floats": "rounded to 12 decimals (mteb's summary varies in the last ulp between runs); compare with abs tol 1e-9",
        },
        "benchmarks": {},
    }
    for bench in benches:
        data = evaluate(cache, bench)
        ref["benchmarks"][bench.name] = data
        print_table(bench.name, data)

    out.write_text(json.dumps(ref, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
