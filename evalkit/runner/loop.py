"""Running a suite: every selected task through one loop, wherever the executor runs it.

The loop (`run`) owns what a run decides once for all tasks and writes: tasks built, model
resolved, the prompt table, each task's lock and plan (reuse or run), the results folder and the
manifest. The executor only decides where `evalkit.runner.task.run_task` runs: here, one task after
another (`LocalExecutor`), or as Ray tasks (`evalkit.runner.executors.RayExecutor`). The layout on
disk belongs to `evalkit.results.folder`. A failing task is recorded and the run goes on; a killed
run loses no finished task.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evalkit._io import check_writable
from evalkit._notices import WarningLog, capture_warnings
from evalkit._types import EncodeStats
from evalkit._util import RUN_PACKAGES, package_versions
from evalkit.errors import DataError, ModelError, SuiteError
from evalkit.model.prompts import prompt_rows, prompt_table_for
from evalkit.model.source import ResolvedModel, prepare_run_model
from evalkit.results.folder import ResultsFolder
from evalkit.runner.settings import RunConfig
from evalkit.runner.task import (
    EncoderSlot,
    ModelJob,
    TaskOutcome,
    TaskPlan,
    TaskReport,
    persist_task,
    plan_task,
    run_task,
    skipped_outcome,
)
from evalkit.runner.tasks import BuiltTask, build_task

logger = logging.getLogger(__name__)

#: Called with (plan, report, run info) as each task comes back; raises ModelError on a fatal report.
Done = Callable[[TaskPlan, TaskReport, dict[str, Any]], None]


class Executor(Protocol):
    """Where tasks run. It calls `run_task` (here or elsewhere) for each plan and `done` as each comes back."""

    def execute(self, plans: Iterable[TaskPlan], model: ModelJob, config: RunConfig, done: Done) -> None:
        """Run every plan (drawing them locks them), calling `done` for each; on any error, stop the rest."""
        ...


class LocalExecutor:
    """Each task in this process, in suite order, with one encoder for the run."""

    def execute(self, plans: Iterable[TaskPlan], model: ModelJob, config: RunConfig, done: Done) -> None:
        """Run each plan as it is drawn (one lock held at a time)."""
        slot = EncoderSlot()
        try:
            for plan in plans:
                report = run_task(plan.built, model, slot, show_progress=config.show_progress)
                done(plan, report, {"executor": "local", "device": report.device})
        finally:
            slot.close()


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
    model: ModelJob
    started: str
    notes: list[str]
    prompts: list[dict[str, Any]]  # per task and side: the prompt and where it came from
    stats: EncodeStats = field(default_factory=EncodeStats)  # this run's encoder counts, all tasks
    device: str = "not loaded"  # where the model ran (the last task's device)
    warnings: WarningLog = field(default_factory=WarningLog)  # library warnings, once each
    # `started` has one-second resolution: two runs in one process within a second (a script, a
    # notebook, regress --candidate-model) would otherwise share one entry in the manifest's `runs`.
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def run_entry(self, runs: list[dict[str, Any]], tasks: dict[str, Any]) -> dict[str, Any]:
        """This run in the manifest's `runs`: what it ran, from which data, and each task's status in it."""
        mine = next((r for r in runs if r.get("id") == self.run_id), {})
        config = self.config
        data = f"mirror {config.data_dir}" if config.data_dir else ("local files" if all(s.local for s in config.selected()) else "the Hub")
        return {
            "id": self.run_id,
            "started": self.started,
            "suite": config.suite.name,
            "data": data,
            "tasks": {**mine.get("tasks", {}), **{name: entry.get("status") for name, entry in tasks.items()}},
        }

    @property
    def run_id(self) -> str:
        """This run among the runs into the same folder (several may share it at once)."""
        return f"{self.started} {platform.node()} {os.getpid()} {self.token}"

    def update_manifest(self, tasks: dict[str, Any]) -> None:
        """Merge these task entries into the manifest, with the run's settings, versions and prompts."""
        config = self.config

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
                "hardware": _hardware(self.device),
                "started": previous.get("started", self.started),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "warnings": sorted(set(previous.get("warnings", [])) | set(self.notes) | set(self.warnings.lines())),
                "prompts": _merge_prompts(previous.get("prompts", []), self.prompts),
                "encoder_stats": self.stats.record() if self.stats.texts else previous.get("encoder_stats", {}),
                "tasks": {**previous.get("tasks", {}), **tasks},
                "runs": _merge_runs(previous.get("runs", []), self.run_entry(previous.get("runs", []), tasks)),
            }

        self.folder.update_manifest(update)


def _merge_runs(previous: list[dict[str, Any]], current: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in previous if r.get("id") != current["id"]] + [current]


def _merge_prompts(previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tasks = {row["task"] for row in current}
    return [row for row in previous if row.get("task") not in tasks] + current


def prepare_run(config: RunConfig) -> tuple[RunState, list[BuiltTask]]:
    """Everything checked before any task runs: tasks built, model resolved, folder writable.

    Raises:
        EvalkitError: unknown task, missing mirror data, unwritable output, missing or untrusted model.
    """
    from evalkit._compat import mteb as mteb_compat

    specs = config.selected()
    if not specs:
        raise SuiteError(f"suite {config.suite.name}: no task selected; check --tasks and --shard")
    built = [build_task(s, data_dir=config.data_dir) for s in specs]
    # Proved writable without creating anything: a run that cannot start leaves no folder behind.
    check_writable(config.output_dir, create=False)
    resolved = prepare_run_model(config.model)
    if config.data_dir is None:
        _check_datasets_reachable(built)  # after the model's own checks (flags to fix come first), before any load
    folder = ResultsFolder.for_model(config.output_dir, resolved.name, resolved.revision)
    check_writable(folder.path, create=False)
    if stale := folder.remove_stale_temps():
        logger.info("removed %d temporary files left by killed runs in %s", stale, folder.path)
    notes = list(config.notes) + [w for b in built for w in b.warnings] + mteb_compat.self_check_notes()
    for note in notes:
        logger.warning(note)
    table = prompt_table_for(resolved, config.model, config.sources)
    model = ModelJob(resolved, config.model, table, config.cache_dir)
    prompts = [asdict(r) for r in prompt_rows(built, table, own_prompts=resolved.kind == "python")]
    state = RunState(config, resolved, folder, model, time.strftime("%Y-%m-%dT%H:%M:%S%z"), notes, prompts)
    return state, built


def _check_datasets_reachable(built: list[BuiltTask]) -> None:
    """Offline with no task of the run loadable (every one a Hub dataset not cached): say so now, before a model loads."""
    from evalkit import _hub

    hub = [(b.task.metadata.dataset["path"], b.task.metadata.dataset.get("revision")) for b in built if b.spec.local is None]
    missing = _hub.missing_datasets(hub) if hub else []
    if hub and len(missing) == len(built):  # nothing at all could run; with some, the rest fail one by one
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(_hub.network_reason(ConnectionError("Couldn't reach"), f"dataset {missing[0]}{more}") or "")


def run(
    config: RunConfig,
    *,
    executor: Executor | None = None,
    on_task: Callable[[TaskOutcome], None] | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
) -> RunSummary:
    """Run the suite's selected tasks and write results, records and the manifest.

    Args:
        config: the resolved run configuration.
        executor: where tasks run; None runs them in this process (`LocalExecutor`).
        on_task: optional callback after each task, in the order they finish (the CLI prints its line).
        on_start: optional callback `(task, index, total)` as each task is planned (the CLI's progress bar).

    Returns:
        The summary, tasks in suite order; `summary.failed` lists failed tasks.

    Raises:
        EvalkitError: bad input found before any task runs (unknown task, missing mirror data,
            unwritable output, missing or untrusted model), or a checkpoint that does not load.
    """
    state, built = prepare_run(config)
    return run_prepared(state, built, executor or LocalExecutor(), on_task=on_task, on_start=on_start)


def run_prepared(
    state: RunState,
    built: list[BuiltTask],
    executor: Executor,
    *,
    on_task: Callable[[TaskOutcome], None] | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
) -> RunSummary:
    """The task loop of a prepared run: lock, plan, hand the rest to the executor, persist what comes back."""
    folder, config = state.folder, state.config
    outcomes: dict[str, TaskOutcome] = {}
    locks: dict[str, contextlib.ExitStack] = {}
    meta_written = False

    def finish(outcome: TaskOutcome, entry: dict[str, Any] | None) -> None:
        outcomes[outcome.task] = outcome
        if entry is not None:
            state.update_manifest({outcome.task: entry})
        if on_task is not None:
            on_task(outcome)

    checked_st = False

    def to_run() -> Iterator[TaskPlan]:
        nonlocal checked_st
        # Lazily, so a local run holds one task's lock at a time and a Ray run all it submitted.
        for index, b in enumerate(built):
            if on_start is not None:
                on_start(b.name, index, len(built))
            stack = contextlib.ExitStack()
            if not stack.enter_context(folder.task_lock(b.name)):
                stack.close()
                reason = "another evalkit run is working on it; rerun later to pick up its result"
                finish(TaskOutcome(b.name, b.task_type, "locked", reason=reason), None)
                continue
            plan = plan_task(b, folder, state.model, overwrite=config.overwrite)
            if plan.reuse:
                outcome = skipped_outcome(folder, plan)
                stack.close()
                finish(outcome, manifest_entry(outcome, plan))
                continue
            locks[b.name] = stack
            if not checked_st:
                # Only when a task will run: the check imports sentence-transformers (~5 s), which a
                # run whose tasks are all done never needs.
                from evalkit._compat import sentence_transformers as st_compat

                for note in st_compat.self_check_notes():
                    logger.warning(note)
                    state.notes.append(note)
                checked_st = True
            yield plan

    def done(plan: TaskPlan, report: TaskReport, run_info: dict[str, Any]) -> None:
        nonlocal meta_written
        if report.fatal:
            raise ModelError(report.fatal)
        if report.model_meta and not meta_written:
            folder.write_model_meta(report.model_meta)
            meta_written = True
        if report.device:
            state.device = report.device
        state.stats.add(report.evaluated.stats)
        outcome = persist_task(folder, plan, report.evaluated, run_info=run_info)
        locks.pop(plan.built.name).close()
        entry = manifest_entry(outcome, plan)
        if run_info.get("executor") != "local":
            entry["run"] = run_info  # a remote task's entry says where it ran, as its record does
        finish(outcome, entry)

    created = [p for p in (folder.path, *folder.path.parents) if not p.exists()]
    with _run_log(folder), capture_warnings(state.warnings):
        try:
            executor.execute(to_run(), state.model, config, done)
        except BaseException:
            if not any(o.status in ("done", "failed") for o in outcomes.values()):
                _remove_created(created)
            raise
        finally:
            for stack in locks.values():
                stack.close()
            if state.warnings.seen:
                state.update_manifest({})  # the warnings of tasks that came after the last entry
    ordered = [outcomes[b.name] for b in built if b.name in outcomes]
    return RunSummary(state.resolved.name, state.resolved.revision, folder.path, ordered, state.notes + state.warnings.lines())


def _remove_created(created: list[Path]) -> None:
    """Undo a run that could not start (its model failed to load): remove the folders it created.

    Only folders that did not exist before the run, and only when they hold no result or record:
    locks, the run log and empty folders are all a failed start leaves.
    """
    import shutil

    for folder in created:
        if folder.is_dir() and not any(p.suffix == ".json" for p in folder.rglob("*") if p.is_file()):
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _run_log(folder: ResultsFolder) -> Iterator[None]:
    """Append evalkit's log records (library warnings included) to the folder's run log for the block."""
    folder.evalkit_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder.log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("evalkit")
    level = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)  # the file keeps INFO; the terminal's handler keeps its own level
    try:
        logging.getLogger("evalkit").info("run started")
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
