"""One task, wherever it runs: plan it, open the model, evaluate it, write it.

A task goes through three steps, each its own function so that an executor can run the middle
one elsewhere (a Ray worker) and hand the result back:

1. `plan_task`: the task's settings record and hash, and whether a stored result can be reused;
2. `run_task`: open the encoder (`ModelJob`: the resolved model, its settings, the run's prompt
   table, the embedding cache) and evaluate the task with mteb; writes nothing. A local run and a
   Ray worker call this same function, so both apply the same prompts and file the same record;
3. `persist_task`: per-example scores, the task record, then the result file, each atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit._types import EncodeStats, ForwardUse
from evalkit._util import first_line
from evalkit.errors import EvalkitError, ModelError
from evalkit.model.prompts import PromptTable, check_table
from evalkit.results import per_example as examples_mod
from evalkit.results.folder import ResultsFolder, TaskRecord

if TYPE_CHECKING:
    from evalkit.model.caching import EncodeCall
    from evalkit.model.encoder import Encoder, ProtocolEncoder
    from evalkit.model.settings import ModelSettings
    from evalkit.model.source import ResolvedModel
    from evalkit.runner.tasks import BuiltTask

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
    main_score: float | None = None  # mteb's own `TaskResult.get_score()`: the mean over every split and subset


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
    forward: ForwardUse = field(default_factory=ForwardUse)  # which code encoded its texts, and why

    @classmethod
    def failed(cls, reason: str) -> Evaluated:
        """A task that did not run, and why."""
        return cls(task_result=None, error=reason, seconds=0.0, stats=EncodeStats(), examples=[])


@dataclass(frozen=True)
class ModelJob:
    """Everything that opens a run's encoder: plain data, pickled into Ray jobs."""

    resolved: ResolvedModel
    settings: ModelSettings
    prompts: PromptTable
    cache_dir: Path | None

    def __post_init__(self) -> None:
        check_table(self.prompts, "ModelJob")

    def key(self) -> str:
        """The encoder's identity: a worker process reuses a loaded encoder only for the same key."""
        record = {
            "model": [self.resolved.name, self.resolved.revision, str(self.resolved.path)],
            "settings": self.settings.record(),
            "prompts": self.prompts.record(),
            "cache": str(self.cache_dir),
        }
        return json.dumps(record, sort_keys=True, default=str)


class EncoderSlot:
    """Holds one loaded encoder and opens another only when the model job changes."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.encoder: Encoder | ProtocolEncoder | None = None
        # A resident encoder's two lanes (threads) may ask at once: the model loads once.
        self._lock = threading.Lock()

    def get(self, model: ModelJob) -> Encoder | ProtocolEncoder:
        """The encoder for this model job, loaded on first use.

        Raises:
            ModelError: weights that do not load, a checkpoint that cannot be read, a failing factory.
        """
        with self._lock:
            if self.encoder is None or self.key != model.key():
                from evalkit.model.encoder import load_resolved

                self._close()
                self.encoder = load_resolved(model.resolved, model.settings, model.prompts, cache_dir=model.cache_dir)
                self.key = model.key()
            return self.encoder

    def close(self) -> None:
        """Stop the encoder's worker pool, if it started one, and forget it."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self.encoder is not None:
            self.encoder.close()
        self.encoder, self.key = None, None


@dataclass
class TaskReport:
    """What evaluating one task gives back: the evaluation (or why there is none), and where and when it ran."""

    evaluated: Evaluated
    fatal: str = ""  # the checkpoint cannot load: the run stops
    model_meta: dict[str, Any] | None = None
    device: str = ""
    node: str = ""
    node_ip: str = ""
    node_id: str = ""
    pid: int = 0
    gpu_ids: list[str] = field(default_factory=list)
    started: float = 0.0  # the clock of the process that ran it
    finished: float = 0.0


def settings_record(built: BuiltTask, resolved: ResolvedModel, settings: ModelSettings, prompts: PromptTable) -> dict[str, Any]:
    """Everything that decides a task's scores: a stored result with the same record is reused.

    Raises:
        TypeError: `prompts` is not a `PromptTable`.
    """
    table = check_table(prompts, "settings_record")
    record = {
        "model": resolved.name,
        **resolved.identity(settings.model),  # the revision, and what a factory or mteb's loader loads
        "vectors": settings.vector_key(),
        "model_prompts": dict(table.prompts),
        "task_prompts": dict(built.spec.prompts),
        "splits": list(built.task.eval_splits),
        "subsets": list(built.task.hf_subsets),
        "dataset_revision": built.dataset_revision,
    }
    instructions = table.instructions(built.task)
    if instructions is not None:
        record["instructions"] = instructions  # instruct models: each side's instruction, as the model gets it
    if settings.similarity:
        record["similarity"] = settings.similarity
    return record


def _hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan_task(built: BuiltTask, folder: ResultsFolder, model: ModelJob, *, overwrite: bool, dry_run: bool = False) -> TaskPlan:
    """Decide whether a task runs: its settings hash against the stored record (a dry run changes no file)."""
    record = settings_record(built, model.resolved, model.settings, model.prompts)
    digest = _hash(record)
    if overwrite:
        return TaskPlan(built, record, digest, False, "--overwrite")
    reuse, reason = folder.reusable(built.name, local=built.spec.local is not None, settings_hash=digest, move_broken=not dry_run)
    return TaskPlan(built, record, digest, reuse, reason)


def run_task(built: BuiltTask, model: ModelJob, slot: EncoderSlot, *, show_progress: bool = False) -> TaskReport:
    """Open the encoder (once per slot) and evaluate one task in this process; writes nothing.

    A checkpoint that cannot load comes back as a fatal report (the run stops); a failure of the
    task itself as a failed evaluation (the run goes on).
    """
    started = time.time()
    try:
        encoder = slot.get(model)
    except ModelError as exc:
        return TaskReport(Evaluated.failed(str(exc)), fatal=str(exc), started=started, finished=time.time())
    evaluated = evaluate_task(built, encoder, show_progress=show_progress)
    return TaskReport(
        evaluated,
        model_meta=encoder.mteb_model_meta.to_dict(),
        device=str(getattr(encoder.model, "device", "n/a")),
        started=started,
        finished=time.time(),
    )


def evaluate_task(built: BuiltTask, encoder: Encoder | ProtocolEncoder, *, show_progress: bool = False) -> Evaluated:
    """Evaluate one task with mteb in this process, with evalkit's hooks; nothing is written.

    A failure of the task itself (bad data, a model error) is returned, not raised, so the run goes
    on; interrupts are not caught.
    """
    import mteb

    from evalkit._compat.mteb_capture import task_hooks
    from evalkit._hub import network_reason
    from evalkit._notices import phase, progress_bars

    spec = built.spec
    start = time.monotonic()
    task_result, error, entries = None, "", []
    with task_hooks(built.task) as capture, encoder.for_task(spec.name, spec.prompts), progress_bars(show_progress), phase("scoring"):
        try:
            res = mteb.evaluate(
                encoder,
                built.task,
                cache=None,
                overwrite_strategy="always",
                # mteb's own bars (corpus chunks, reranking queries) stay off: evalkit's bar and phase line say it.
                encode_kwargs={"batch_size": encoder.settings.batch_size, "show_progress_bar": False},
                show_progress_bar=False,
                raise_error=True,
            )
            task_result = res.task_results[0]
            entries = [examples_mod.ExampleScores(**e) for e in capture.entries]
        except EvalkitError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - isolate per task; recorded and reported, never swallowed
            dataset = built.task.metadata.dataset.get("path", spec.name) if spec.local is None else spec.name
            error = network_reason(exc, f"dataset {dataset}") or first_line(exc, with_type=True)
            logger.debug("task %s failed", spec.name, exc_info=True)
    return Evaluated(
        task_result=task_result,
        error=error,
        seconds=time.monotonic() - start,
        stats=encoder.task_stats,
        examples=entries,
        max_seq_length=getattr(encoder.model, "max_seq_length", None),
        forward=encoder.task_forward,
    )


def record_task(built: BuiltTask, encoder: Encoder | ProtocolEncoder) -> tuple[list[EncodeCall], str]:
    """What evaluating this task asks the encoder for: one call per cache key, its distinct texts.

    The task is evaluated as `run_task` evaluates it (`evaluate_task`, same hooks and prompts) with
    the encoder recording instead of encoding, so the texts and keys are exactly those of the real
    run; its scores are discarded. Returns (calls, error): a task that fails on its own gives no
    calls and the reason (it then runs, and fails, as usual).
    """
    recorder = encoder.recorder()  # its own per-task state: another task may run on `encoder` meanwhile
    with recorder.recording() as calls:
        evaluated = evaluate_task(built, recorder)
    merged: dict[str, tuple[EncodeCall, dict[str, None]]] = {}
    for call in calls:
        first, texts = merged.setdefault(call.key, (call, {}))
        texts.update(dict.fromkeys(call.texts))
    return [first.part(list(texts)) for first, texts in merged.values()], evaluated.error


def main_scores_of(task_result: Any) -> dict[str, float]:
    """Each split's main score (the mean over its subsets), as mteb reports it."""
    out = {}
    for split, rows in task_result.scores.items():
        values = [r["main_score"] for r in rows if "main_score" in r]
        if values:
            out[split] = float(sum(values) / len(values))
    return out


def task_score(task_result: Any) -> float | None:
    """The task's one main score as mteb computes it (`TaskResult.get_score`: a flat mean over splits and subsets)."""
    try:
        return float(task_result.get_score())
    except Exception:  # noqa: BLE001 - a record for the manifest; the result file itself is what is read
        return None


def degenerate_scores(task_result: Any) -> str | None:
    """Why a task's scores cannot be reported as done (an empty split, a NaN or infinite main score), or None."""
    if not task_result.scores:
        return "no split was scored (empty data); check the task's files"
    for split, rows in task_result.scores.items():
        values = [r.get("main_score") for r in rows]
        if not values:
            return f"split {split} has no scores (empty data); check the task's files"
        bad = next((v for v in values if not isinstance(v, int | float) or v != v or v in (float("inf"), float("-inf"))), "ok")
        if bad != "ok":
            return f"split {split}: the main score is {bad}, not a finite number (constant or degenerate data or embeddings)"
    return None


def persist_task(folder: ResultsFolder, plan: TaskPlan, evaluated: Evaluated, *, run_info: dict[str, Any] | None = None) -> TaskOutcome:
    """Write a task's per-example scores, its record, then its result file; return its outcome.

    The results file goes last: once it exists, its record and per-example scores do too, so a
    kill at any moment leaves either a reusable task or one that is simply rerun.
    """
    built = plan.built
    if evaluated.task_result is not None and (degenerate := degenerate_scores(evaluated.task_result)):
        evaluated = Evaluated(None, degenerate, evaluated.seconds, evaluated.stats, [], evaluated.max_seq_length, evaluated.forward)
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
        outcome.splits, outcome.main_score = main_scores_of(evaluated.task_result), task_score(evaluated.task_result)
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
            forward=evaluated.forward,
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
        main_score=task_score(result),
    )
