"""Running a suite: one task at a time through `mteb.evaluate`, with skip/resume and a manifest.

A task goes through three steps, each its own function so that another executor (a Ray worker,
say) can run the middle one elsewhere and hand the result back:

1. `plan_task`: the task's settings record and hash, and whether a stored result can be reused;
2. `evaluate_task`: mteb's evaluation in this process, with evalkit's hooks; writes nothing;
3. `persist_task`: per-example scores, the task record, then the result file, each atomically.

The layout on disk belongs to `evalkit.results.folder`. A failing task is recorded and the run
goes on; a killed run loses no finished task.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit.results import per_example as examples_mod
from evalkit._io import check_writable
from evalkit._types import EncodeStats
from evalkit._util import RUN_PACKAGES, first_line, package_versions
from evalkit.errors import EvalkitError, SuiteError
from evalkit.model.source import ResolvedModel, prepare_model
from evalkit.model.presets import prompt_table_for
from evalkit.model.prompts import PromptTable, task_sides
from evalkit.results.folder import ResultsFolder, TaskRecord
from evalkit.runner.settings import ModelSettings, RunConfig
from evalkit.runner.tasks import BuiltTask, build_task

if TYPE_CHECKING:
    from evalkit.model.encoder import Encoder, ProtocolEncoder

logger = logging.getLogger(__name__)

Status = Literal["done", "skipped", "failed", "locked"]


@dataclass
class TaskOutcome:
    """What happened to one task in a run: status, time, main score per split, encoder counts."""

    task: str
    task_type: str
    status: Status
    seconds: float = 0.0
    splits: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    stats: EncodeStats = field(default_factory=EncodeStats)
    max_seq_length: int | None = None

    @property
    def main_score(self) -> float | None:
        """The mean of the per-split main scores (as mteb's `get_score`), or None."""
        return sum(self.splits.values()) / len(self.splits) if self.splits else None


@dataclass
class RunSummary:
    """The outcome of `run`: where results went and what happened per task."""

    model: str
    revision: str
    folder: Path
    outcomes: list[TaskOutcome]
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[TaskOutcome]:
        """The tasks that failed."""
        return [o for o in self.outcomes if o.status == "failed"]


@dataclass(frozen=True)
class TaskPlan:
    """What a run will do with one task: its settings record and hash, and why it runs or not."""

    built: BuiltTask
    settings: dict[str, Any]
    settings_hash: str
    reuse: bool
    reason: str

    @property
    def local(self) -> bool:
        """True for an in-house task read from local files."""
        return self.built.spec.local is not None


@dataclass
class Evaluated:
    """The result of evaluating one task, before anything is written."""

    task_result: Any | None  # mteb TaskResult, None when the task failed
    error: str
    seconds: float
    stats: EncodeStats
    examples: list[examples_mod.ExampleScores]
    max_seq_length: int | None = None


def settings_record(
    built: BuiltTask, resolved: ResolvedModel, settings: ModelSettings, prompts: PromptTable | dict[str, str]
) -> dict[str, Any]:
    """Everything that decides a task's scores: a stored result with the same record is reused."""
    table = prompts if isinstance(prompts, PromptTable) else PromptTable(dict(prompts), "suite")
    record = {
        "model": resolved.name,
        "revision": resolved.revision,
        "vectors": settings.vector_key(),
        "model_prompts": dict(table.prompts),
        "task_prompts": dict(built.spec.prompts),
        "splits": list(built.task.eval_splits),
        "subsets": list(built.task.hf_subsets),
        "dataset_revision": built.dataset_revision,
    }
    if table.instruction is not None:
        # Instruct models: the instruction of each side of this task, as the model will get it.
        record["instructions"] = {str(side): table.resolve(built.task.metadata, side).text for side in task_sides(built.task)}
    if settings.similarity:
        record["similarity"] = settings.similarity
    return record


def _hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan_task(
    built: BuiltTask,
    folder: ResultsFolder,
    resolved: ResolvedModel,
    settings: ModelSettings,
    prompts: PromptTable,
    *,
    overwrite: bool,
) -> TaskPlan:
    """Decide whether a task runs: its settings hash against the stored record."""
    record = settings_record(built, resolved, settings, prompts)
    digest = _hash(record)
    local = built.spec.local is not None
    if overwrite:
        return TaskPlan(built, record, digest, False, "--overwrite")
    reuse, reason = folder.reusable(built.name, local=local, settings_hash=digest)
    return TaskPlan(built, record, digest, reuse, reason)


def evaluate_task(built: BuiltTask, encoder: Encoder | ProtocolEncoder, *, show_progress: bool = False) -> Evaluated:
    """Evaluate one task with mteb in this process, with evalkit's hooks; nothing is written.

    A failure of the task itself (bad data, a model error) is returned, not raised, so the run goes
    on; interrupts are not caught.
    """
    import mteb

    from evalkit._compat.mteb import task_hooks

    spec = built.spec
    start = time.monotonic()
    task_result, error, entries = None, "", []
    with task_hooks(built.task) as capture, encoder.for_task(spec.name, spec.prompts):
        try:
            res = mteb.evaluate(
                encoder,
                built.task,
                cache=None,
                overwrite_strategy="always",
                encode_kwargs={"batch_size": encoder.settings.batch_size, "show_progress_bar": show_progress},
                show_progress_bar=False,
                raise_error=True,
            )
            task_result = res.task_results[0]
            entries = list(capture.entries)
        except EvalkitError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - isolate per task; recorded and reported, never swallowed
            error = first_line(exc, with_type=True)
            logger.debug("task %s failed", spec.name, exc_info=True)
    return Evaluated(
        task_result=task_result,
        error=error,
        seconds=time.monotonic() - start,
        stats=encoder.task_stats,
        examples=entries,
        max_seq_length=getattr(encoder.model, "max_seq_length", None),
    )


def main_scores_of(task_result: Any) -> dict[str, float]:
    """Each split's main score (the mean over its subsets), as mteb reports it."""
    out = {}
    for split, rows in task_result.scores.items():
        values = [r["main_score"] for r in rows if "main_score" in r]
        if values:
            out[split] = float(sum(values) / len(values))
    return out


def persist_task(folder: ResultsFolder, plan: TaskPlan, evaluated: Evaluated, *, run_info: dict[str, Any] | None = None) -> TaskOutcome:
    """Write a task's per-example scores, its record, then its result file; return its outcome.

    The results file goes last: once it exists, its record and per-example scores do too, so a
    kill at any moment leaves either a reusable task or one that is simply rerun.
    """
    built = plan.built
    status: Status = "done" if evaluated.task_result is not None else "failed"
    outcome = TaskOutcome(
        task=built.name,
        task_type=built.task_type,
        status=status,
        seconds=evaluated.seconds,
        reason=plan.reason if status == "done" else evaluated.error,
        stats=evaluated.stats,
        max_seq_length=evaluated.max_seq_length,
    )
    if status == "done":
        outcome.splits = main_scores_of(evaluated.task_result)
        if evaluated.examples:
            examples_mod.save(
                folder.examples_path(built.name), built.name, built.task_type, built.task.metadata.main_score, evaluated.examples
            )
    folder.write_record(
        TaskRecord(
            task=built.name,
            task_type=built.task_type,
            main_metric=built.task.metadata.main_score,
            status=status,
            reason=outcome.reason,
            settings=plan.settings,
            settings_hash=plan.settings_hash,
            seconds=evaluated.seconds,
            data_source=built.data_source,
            local=plan.local,
            stats=evaluated.stats,
            max_seq_length=evaluated.max_seq_length,
            run=run_info or {},
        )
    )
    if status == "done":
        folder.write_result(evaluated.task_result, local=plan.local)
    return outcome


def skipped_outcome(folder: ResultsFolder, plan: TaskPlan) -> TaskOutcome:
    """The outcome of a task whose stored result is reused."""
    result = folder.read_result(plan.built.name, local=plan.local)
    record = folder.read_record(plan.built.name)
    return TaskOutcome(
        task=plan.built.name,
        task_type=plan.built.task_type,
        status="skipped",
        reason=plan.reason,
        splits=main_scores_of(result),
        max_seq_length=record.max_seq_length if record else None,
    )


class LazyEncoder:
    """Loads the model only when a task actually has to run: a fully cached rerun never loads it."""

    def __init__(
        self, resolved: ResolvedModel, settings: ModelSettings, cache_dir: Path | None, folder: ResultsFolder, prompts: PromptTable
    ) -> None:
        self.resolved, self.settings, self.cache_dir, self.folder, self.prompts = resolved, settings, cache_dir, folder, prompts
        self.model_prompts = dict(prompts.prompts)
        self._encoder: Encoder | ProtocolEncoder | None = None

    def get(self) -> Encoder | ProtocolEncoder:
        """The loaded encoder (loaded on first use; writes model_meta.json then)."""
        if self._encoder is None:
            from evalkit.model.encoder import load_resolved

            self._encoder = load_resolved(self.resolved, self.settings, cache_dir=self.cache_dir, prompts=self.prompts)
            self.folder.write_model_meta(self._encoder.mteb_model_meta.to_dict())
        return self._encoder

    def close(self) -> None:
        """Stop the encoder's worker pool, if it started one."""
        if self._encoder is not None:
            self._encoder.close()

    @property
    def stats(self) -> EncodeStats:
        """The whole run's encoder counts (zeros when the model never loaded)."""
        return self._encoder.stats if self._encoder else EncodeStats()

    @property
    def device(self) -> str:
        """The device the model runs on, or "not loaded"."""
        return str(getattr(self._encoder.model, "device", "n/a")) if self._encoder else "not loaded"


def _hardware(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "device": device}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - hardware info is best effort and never fails a run
        pass
    return info


def manifest_entry(outcome: TaskOutcome, plan: TaskPlan) -> dict[str, Any]:
    """A task's entry in the run manifest."""
    return {
        "status": outcome.status,
        "seconds": round(outcome.seconds, 3),
        "reason": outcome.reason,
        "main_score": outcome.main_score,
        "splits": outcome.splits,
        "settings_hash": plan.settings_hash,
        "data_source": plan.built.data_source,
        "encoder_stats": outcome.stats.record(),
    }


@dataclass
class RunState:
    """The state one run shares between its tasks."""

    config: RunConfig
    resolved: ResolvedModel
    folder: ResultsFolder
    encoder: LazyEncoder
    started: str
    notes: list[str]
    prompts: list[dict[str, Any]]  # per task and side: the prompt and where it came from

    def update_manifest(self, tasks: dict[str, Any]) -> None:
        """Merge these task entries into the manifest, with the run's settings, versions and prompts."""
        config, encoder = self.config, self.encoder

        def update(previous: dict[str, Any]) -> dict[str, Any]:
            return {
                "evalkit_manifest": 2,
                "model": {
                    "name": self.resolved.name,
                    "revision": self.resolved.revision,
                    "source": self.resolved.source,
                    "path": str(self.resolved.path),
                },
                "settings": config.model.record(),
                "config": config.record(),
                "suite": {
                    "name": config.suite.name,
                    "path": str(config.suite.path) if config.suite.path else None,
                    "tasks": [t.name for t in config.suite.tasks],
                },
                "data_dir": str(config.data_dir) if config.data_dir else None,
                "versions": package_versions(*RUN_PACKAGES, python=True),
                "hardware": _hardware(encoder.device),
                "started": previous.get("started", self.started),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "warnings": sorted(set(previous.get("warnings", [])) | set(self.notes)),
                "prompts": _merge_prompts(previous.get("prompts", []), self.prompts),
                "encoder_stats": encoder.stats.record() if encoder.stats.texts else previous.get("encoder_stats", {}),
                "tasks": {**previous.get("tasks", {}), **tasks},
            }

        self.folder.update_manifest(update)


def _merge_prompts(previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tasks = {row["task"] for row in current}
    return [row for row in previous if row.get("task") not in tasks] + current


def prepare_run(config: RunConfig) -> tuple[RunState, list[BuiltTask]]:
    """Everything checked before any task runs: tasks built, model resolved, folder writable.

    Raises:
        EvalkitError: unknown task, missing mirror data, unwritable output, missing or untrusted model.
    """
    from evalkit._compat.mteb import self_check_notes
    from evalkit.runner.plan import prompt_rows

    specs = config.selected()
    if not specs:
        raise SuiteError(f"suite {config.suite.name}: no task selected; check --tasks and --shard")
    built = [build_task(s, data_dir=config.data_dir) for s in specs]
    check_writable(config.output_dir)
    resolved = prepare_model(config.model)
    folder = ResultsFolder.for_model(config.output_dir, resolved.name, resolved.revision)
    check_writable(folder.path)
    if stale := folder.remove_stale_temps():
        logger.info("removed %d temporary files left by killed runs in %s", stale, folder.path)
    notes = list(config.notes) + [w for b in built for w in b.warnings] + self_check_notes()
    for note in notes:
        logger.warning(note)
    table = prompt_table_for(resolved, config.model, config.sources)
    encoder = LazyEncoder(resolved, config.model, config.cache_dir, folder, table)
    prompts = [asdict(r) for r in prompt_rows(built, table, own_prompts=resolved.kind == "python")]
    state = RunState(config, resolved, folder, encoder, time.strftime("%Y-%m-%dT%H:%M:%S%z"), notes, prompts)
    return state, built


def run(
    config: RunConfig,
    *,
    on_task: Callable[[TaskOutcome], None] | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
) -> RunSummary:
    """Run the suite's selected tasks in this process and write results, records and the manifest.

    Args:
        config: the resolved run configuration.
        on_task: optional callback after each task (the CLI prints its line).
        on_start: optional callback `(task, index, total)` before each task (the CLI's progress bar).

    Returns:
        The summary; `summary.failed` lists failed tasks.

    Raises:
        EvalkitError: bad input found before any task runs (unknown task, missing mirror data,
            unwritable output, missing or untrusted model).
    """
    state, built = prepare_run(config)
    folder, encoder = state.folder, state.encoder
    outcomes: list[TaskOutcome] = []
    try:
        for index, b in enumerate(built):
            if on_start is not None:
                on_start(b.name, index, len(built))
            with folder.task_lock(b.name) as got:
                if not got:
                    outcome = TaskOutcome(
                        b.name, b.task_type, "locked", reason="another evalkit run is working on it; rerun later to pick up its result"
                    )
                    outcomes.append(outcome)
                    if on_task is not None:
                        on_task(outcome)
                    continue
                plan = plan_task(b, folder, state.resolved, config.model, encoder.prompts, overwrite=config.overwrite)
                if plan.reuse:
                    outcome = skipped_outcome(folder, plan)
                else:
                    evaluated = evaluate_task(b, encoder.get(), show_progress=config.show_progress)
                    outcome = persist_task(folder, plan, evaluated, run_info={"executor": "local", "device": encoder.device})
            outcomes.append(outcome)
            state.update_manifest({b.name: manifest_entry(outcome, plan)})
            if on_task is not None:
                on_task(outcome)
    finally:
        encoder.close()
    return RunSummary(state.resolved.name, state.resolved.revision, folder.path, outcomes, state.notes)
