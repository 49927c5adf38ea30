"""The library API: the operations of the CLI as plain functions (re-exported by `evalkit`).

Each function merges its sources in one stated order (explicit arguments over the suite over
defaults), validates before any work starts, and raises an `EvalkitError` on bad input.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import SuiteError
from evalkit.settings import COMPARE_TOLERANCE

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.compare import CompareReport
    from evalkit.data import MirrorEntry
    from evalkit.regress import RegressReport
    from evalkit.runner import RunSummary
    from evalkit.suite import Suite


def _adhoc_suite(tasks: tuple[str, ...]) -> Suite:
    from evalkit.suite import Suite, TaskSpec, check_task_names

    suite = Suite(name="adhoc", tasks=tuple(TaskSpec(name=t) for t in tasks))
    check_task_names(suite)
    return suite


def resolve_suite(suite: str | Path | Suite | None, tasks: tuple[str, ...] | None) -> tuple[Suite, tuple[str, ...] | None]:
    """A suite from a path, a packaged name, or (with no suite) from task names alone.

    Returns:
        The suite and the task filter still to apply (None when the suite was built from `tasks`).

    Raises:
        SuiteError: neither a suite nor tasks given, or an invalid suite.
    """
    from evalkit.suite import Suite, load_suite

    if isinstance(suite, Suite):
        return suite, tasks
    if suite is None:
        if not tasks:
            raise SuiteError("nothing to run: give a SUITE (e.g. configs/smoke.yaml) or --tasks T1,T2")
        return _adhoc_suite(tasks), None
    return load_suite(suite), tasks


def run(
    suite: str | Path | Suite | None = None,
    *,
    model: str | None = None,
    model_name: str | None = None,
    revision: str | None = None,
    tasks: tuple[str, ...] | None = None,
    output_dir: Path = Path("results"),
    data_dir: Path | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    max_seq_length: int | None = None,
    trust_remote_code: str | bool | None = None,
    allow_pickle: str | bool | None = None,
    unchecked_weights: str | bool | None = None,
    overwrite: bool = False,
    cache_dir: Path | None = None,
    no_cache: bool = False,
    shard: tuple[int, int] | None = None,
    show_progress: bool = False,
    on_task: Callable[[Any], None] | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
    ray: str | bool | None = None,
) -> RunSummary:
    """Run a suite (or plain mteb task names) on a model and write mteb results.

    Behaves as `evalkit run`: the same merge of settings (arguments over the suite over the
    defaults), the same embedding cache, and with `data_dir` the Hub is switched to offline.

    Args:
        suite: suite path, packaged suite name, `Suite`, or None with `tasks`.
        model: Hub id or local folder; default: the suite's model, else the embedded default.
        model_name: name to file results under.
        revision: Hub revision.
        tasks: narrows the suite, or names mteb tasks when `suite` is None.
        output_dir: results root.
        data_dir: offline mirror root.
        batch_size: encoder batch size (suite's otherwise).
        device: auto, cpu, cuda, mps.
        dtype: fp32, fp16, bf16.
        max_seq_length: truncation length.
        trust_remote_code: the model reference whose own code may run (or True from Python).
        allow_pickle: the model reference whose pickle weights may load (or True from Python).
        unchecked_weights: the model reference whose weight check is skipped (or True from Python).
        overwrite: rerun tasks that have results.
        cache_dir: embedding cache folder (default: `$EVALKIT_CACHE` or ~/.cache/evalkit/embeddings).
        no_cache: keep embeddings in memory only.
        shard: (K, N) to run the K-th of N deterministic shards.
        show_progress: progress bars on stderr.
        on_task: callback after each task.
        on_start: callback `(task, index, total)` before each task.
        ray: run each task as a Ray task (`evalkit.executors.run_on_ray`): `local`, `auto`,
            `HOST:PORT`, `ray://HOST:PORT`, or True for `$RAY_ADDRESS` else `local`.

    Returns:
        The run summary.

    Raises:
        EvalkitError: on bad input, before any task runs.
    """
    from evalkit.runner import run as run_tasks
    from evalkit.settings import RunConfig, cli_layer

    offline_if(data_dir)
    resolved_suite, only = resolve_suite(suite, tasks)
    flags = cli_layer(
        model=model,
        model_name=model_name,
        revision=revision,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        max_seq_length=max_seq_length,
        trust_remote_code=trust_remote_code,
        allow_pickle=allow_pickle,
        unchecked_weights=unchecked_weights,
    )
    config = RunConfig.from_sources(
        resolved_suite,
        flags,
        output_dir=Path(output_dir),
        data_dir=Path(data_dir) if data_dir else None,
        only_tasks=only,
        overwrite=overwrite,
        cache_dir=None if no_cache else (Path(cache_dir) if cache_dir else "default"),
        shard=shard,
        show_progress=show_progress,
    )
    if ray is not None and ray is not False:
        from evalkit.executors import run_on_ray

        return run_on_ray(config, address=ray, on_task=on_task, on_start=on_start)
    return run_tasks(config, on_task=on_task, on_start=on_start)


def offline_if(data_dir: Path | str | None) -> None:
    """With a mirror, the Hub is never asked: switch huggingface_hub and datasets to offline.

    Read by those libraries when they are imported, so this runs before evalkit imports them.
    """
    if data_dir is not None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"


def format_run_summary(summary: RunSummary) -> str:
    """The end-of-run table as Markdown."""
    lines = [
        f"model {summary.model} @ {summary.revision}  ->  {summary.folder}",
        "",
        "| task | type | split | main score | status | seconds |",
        "|---|---|---|---:|---|---:|",
    ]
    for o in summary.outcomes:
        if o.splits:
            for split, value in o.splits.items():
                lines.append(f"| {o.task} | {o.task_type} | {split} | {value:.4f} | {o.status} | {o.seconds:.1f} |")
        else:
            lines.append(f"| {o.task} | {o.task_type} | - | - | {o.status}: {o.reason} | {o.seconds:.1f} |")
    handled = [f"{o.task}: {note}" for o in summary.outcomes if o.status == "done" for note in [handled_note(o)] if note]
    if handled:
        lines += ["", "Handled as mteb does: " + "; ".join(handled)]
    failed = summary.failed
    if failed:
        lines += ["", f"{len(failed)} task(s) failed: " + "; ".join(f"{o.task}: {o.reason}" for o in failed)]
    return "\n".join(lines)


def handled_note(outcome: Any) -> str:
    """What the encoder did about empty and over-long texts in a task, or ''."""
    parts = []
    if outcome.stats.empty:
        parts.append(f"{outcome.stats.empty} empty texts")
    if outcome.stats.truncated:
        parts.append(f"{outcome.stats.truncated} texts truncated at {outcome.max_seq_length} tokens")
    return ", ".join(parts)


def pull(suite: str | Path | Suite, *, data_dir: Path, tasks: tuple[str, ...] | None = None, download: Any = None) -> list[MirrorEntry]:
    """Snapshot the datasets of a suite's mteb tasks into an offline mirror.

    Raises:
        EvalkitError: invalid suite or a failed download.
    """
    import mteb

    from evalkit.data import pull as pull_datasets

    resolved, only = resolve_suite(suite, tasks)
    wanted = [t for t in resolved.tasks if t.local is None and (not only or t.name in only)]
    datasets = []
    for spec in wanted:
        meta = mteb.get_task(spec.name).metadata
        datasets.append((spec.name, meta.dataset["path"], meta.dataset["revision"]))
    return pull_datasets(datasets, Path(data_dir), download=download)


def read_results(folder: Path, *, single_model: bool = False) -> pd.DataFrame:
    """Read a results folder into the Scores table (see `evalkit.scores`)."""
    from evalkit.scores import read_results as _read

    return _read(Path(folder), single_model=single_model)


def compare_card(
    results: Path, *, card: str | Path, tolerance: float = COMPARE_TOLERANCE, reports_dir: Path | None = Path("reports")
) -> CompareReport:
    """Compare a results folder with a model card's model-index; writes reports when `reports_dir`.

    Raises:
        EvalkitError: broken card or results folder.
    """
    from evalkit.card import read_card
    from evalkit.compare import compare, write_reports
    from evalkit.scores import read_results as _read
    from evalkit.settings import check_tolerance

    check_tolerance(tolerance)
    card_scores = read_card(card)
    ours = _read(Path(results), single_model=True)
    report = compare(card_scores.scores, ours, tolerance=tolerance, unmapped=card_scores.unmapped)
    if reports_dir is not None:
        report = replace(report, files=write_reports(report, Path(reports_dir)))
    return report


def export_card(
    source: str | Path,
    *,
    style: str = "card",
    model_name: str | None = None,
    into: Path | None = None,
    drop_missing: bool = False,
) -> str:
    """Export model-index YAML from a results folder or a card; with `into`, update that card in place.

    Returns:
        The YAML text (or the updated card's text when `into` is given).

    Raises:
        EvalkitError: unreadable source or target card.
    """
    from evalkit.card import export, read_card, update_card
    from evalkit.scores import read_results as _read

    src = Path(source)
    if src.is_dir():
        table = _read(src, single_model=True)
        name = model_name or (str(table["model"].iloc[0]).split("/")[-1] if not table.empty else "model")
    else:
        card = read_card(source)
        table = card.scores
        name = model_name or card.model_name
    if into is None:
        return export(table, style=style, model_name=name)  # type: ignore[arg-type]
    return update_card(Path(into), table, style=style, model_name=model_name, drop_missing=drop_missing)  # type: ignore[arg-type]


def regress(
    baseline: str | Path,
    candidate: Path,
    *,
    suite: str | Path | None = None,
    tolerance: float | None = None,
    alpha: float | None = None,
    require_significance: bool | None = None,
    candidate_model: str | None = None,
    data_dir: Path | None = None,
    output_dir: Path | None = None,
    reports_dir: Path | None = Path("reports"),
) -> RegressReport:
    """Gate a candidate's results against a baseline (results folder or model card).

    With `candidate_model` and `suite`, first runs the suite's tasks the candidate folder lacks.

    Raises:
        EvalkitError: missing folders, no common task, corrupt per-example files.
    """
    from evalkit.regress import gate, load_side, write_reports

    resolved_suite = resolve_suite(suite, None)[0] if suite is not None else None
    if candidate_model is not None:
        if resolved_suite is None:
            raise SuiteError("--candidate-model needs --suite to know which tasks to run")
        summary = run(resolved_suite, model=candidate_model, output_dir=Path(output_dir or candidate), data_dir=data_dir)
        candidate = summary.folder
    base = load_side(baseline, role="baseline")
    cand = load_side(candidate, role="candidate")
    report = gate(base, cand, suite=resolved_suite, tolerance=tolerance, alpha=alpha, require_significance=require_significance)
    if reports_dir is not None:
        report = replace(report, files=write_reports(report, Path(reports_dir)))
    return report


def merge(folders: list[Path], *, output_dir: Path) -> list[Path]:
    """Join results folders (e.g. of `--shard` runs) into one; returns the files written.

    Raises:
        DataError: a folder without results, or two folders with different results for one task.
    """
    from evalkit.merge import merge_folders

    return merge_folders([Path(f) for f in folders], Path(output_dir))
