"""Running a suite: one task at a time through `mteb.evaluate`, with skip/resume and a manifest.

Output layout (mteb's own, so `mteb.ResultCache` and `TaskResult.from_disk` read it)::

    <output>/<org__name>/<revision>/<Task>.json          mteb TaskResult, full precision
    <output>/<org__name>/<revision>/model_meta.json      mteb ModelMeta
    <output>/<org__name>/<revision>/evalkit/manifest.json             the run manifest
    <output>/<org__name>/<revision>/evalkit/tasks/<Task>.json         settings, timing, status
    <output>/<org__name>/<revision>/evalkit/examples/<Task>.json      per-example scores

Every file is written atomically. A task whose results exist with the same settings is skipped;
with other settings it is rerun. A failing task is recorded and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from evalkit import examples as examples_mod
from evalkit._io import check_writable, locked, move_aside, remove_stale_temps, safe_part, try_lock, write_json
from evalkit.encoder import Encoder, EncoderSettings, ResolvedModel, load_resolved, own_prompts, prepare_model
from evalkit.errors import EvalkitError, SuiteError
from evalkit.suite import Suite, TaskSpec
from evalkit.tasks import BuiltTask, build_task, fast_text_columns

logger = logging.getLogger(__name__)

Status = Literal["done", "skipped", "failed", "locked"]


@dataclass(frozen=True)
class RunConfig:
    """The resolved settings of one run: suite, model settings, folders, selection."""

    suite: Suite
    encoder: EncoderSettings
    output_dir: Path = Path("results")
    data_dir: Path | None = None
    only_tasks: tuple[str, ...] | None = None
    overwrite: bool = False
    cache_dir: Path | None = None
    shard: tuple[int, int] | None = None
    show_progress: bool = True

    def selected(self) -> tuple[TaskSpec, ...]:
        """The suite's tasks narrowed by `only_tasks` and `shard`.

        Raises:
            SuiteError: when `only_tasks` names a task the suite lacks.
        """
        tasks = self.suite.tasks
        if self.only_tasks:
            names = {t.name for t in tasks}
            missing = [n for n in self.only_tasks if n not in names]
            if missing:
                raise SuiteError(f"--tasks {missing[0]}: not in suite {self.suite.name}; its tasks are {', '.join(sorted(names))}")
            tasks = tuple(t for t in tasks if t.name in self.only_tasks)
        if self.shard is not None:
            k, n = self.shard
            # Deterministic: sorted by name, every n-th task from k (1-based).
            ordered = sorted(tasks, key=lambda t: t.name)
            keep = {t.name for i, t in enumerate(ordered) if i % n == k - 1}
            tasks = tuple(t for t in tasks if t.name in keep)
        return tasks


@dataclass
class TaskOutcome:
    """What happened to one task in a run."""

    task: str
    task_type: str
    status: Status
    seconds: float = 0.0
    main_score: float | None = None
    splits: dict[str, float] = field(default_factory=dict)
    reason: str = ""


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


def model_folder(output_dir: Path, name: str, revision: str) -> Path:
    """Where a model's results go: `<output>/<org__name>/<revision>/`, never outside `output_dir`."""
    return output_dir / safe_part(name) / safe_part(revision)


class _LazyEncoder:
    """Loads the model only when a task actually has to run: a fully cached rerun never loads it."""

    def __init__(self, resolved: ResolvedModel, settings: EncoderSettings, cache_dir: Path | None, folder: Path) -> None:
        self.resolved, self.settings, self.cache_dir, self.folder = resolved, settings, cache_dir, folder
        self.model_prompts = dict(settings.prompts) or own_prompts(resolved)
        self._encoder: Encoder | None = None

    def get(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_resolved(self.resolved, self.settings, cache_dir=self.cache_dir)
            write_json(self.folder / "model_meta.json", self._encoder.mteb_model_meta.to_dict())
        return self._encoder

    def close(self) -> None:
        if self._encoder is not None:
            self._encoder.close()

    @property
    def stats(self) -> dict[str, float]:
        return _rounded(self._encoder.stats) if self._encoder else {}

    @property
    def task_stats(self) -> dict[str, float]:
        return _rounded(self._encoder.task_stats) if self._encoder else {}

    @property
    def device(self) -> str:
        return str(self._encoder.model.device) if self._encoder else "not loaded"


def _rounded(stats: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in stats.items()}


def _settings_record(spec: TaskSpec, built: BuiltTask, encoder: _LazyEncoder) -> dict[str, Any]:
    return {
        "model": encoder.resolved.name,
        "revision": encoder.resolved.revision,
        "vectors": encoder.settings.vector_key(),
        "model_prompts": dict(encoder.model_prompts),
        "task_prompts": dict(spec.prompts),
        "splits": list(built.task.eval_splits),
        "subsets": list(built.task.hf_subsets),
        "dataset_revision": built.dataset_revision,
    }


def _hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("evalkit", "mteb", "torch", "transformers", "sentence-transformers", "datasets", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


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


def _existing_ok(result_path: Path, record_path: Path, settings_hash: str) -> tuple[bool, str, list[str]]:
    """Can the stored result be reused? Returns (reuse, reason, notes). Broken files are moved aside."""
    notes: list[str] = []
    if not result_path.exists():
        return False, "new", notes
    from mteb.results import TaskResult

    try:
        TaskResult.from_disk(result_path)
    except Exception:  # noqa: BLE001 - any parse failure means the file is unusable
        moved = move_aside(result_path)
        notes.append(f"{result_path}: unreadable results file moved to {moved.name}; recomputing")
        return False, "corrupt result moved aside", notes
    if not record_path.exists():
        return False, "no evalkit record of its settings", notes
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except ValueError:
        moved = move_aside(record_path)
        notes.append(f"{record_path}: unreadable task record moved to {moved.name}; recomputing")
        return False, "corrupt task record moved aside", notes
    if record.get("settings_hash") != settings_hash or record.get("status") != "done":
        return False, "settings changed", notes
    return True, "same settings", notes


def _write_result(result: Any, path: Path) -> None:
    # mteb's TaskResult.to_disk rounds to 6 decimals; keep full precision, same structure.
    obj = result.model_dump()
    obj["date"] = result.date.timestamp() if result.date else None
    write_json(path, obj)


def _main_scores(result: Any) -> dict[str, float]:
    out = {}
    for split, rows in result.scores.items():
        values = [r["main_score"] for r in rows if "main_score" in r]
        if values:
            out[split] = float(sum(values) / len(values))
    return out


def _run_one(built: BuiltTask, lazy: _LazyEncoder, config: RunConfig, folder: Path, manifest_tasks: dict[str, Any]) -> TaskOutcome:
    import mteb

    spec = built.spec
    result_path = folder / f"{spec.name}.json"
    record_path = folder / "evalkit" / "tasks" / f"{spec.name}.json"
    examples_path = folder / "evalkit" / "examples" / f"{spec.name}.json"
    settings = _settings_record(spec, built, lazy)
    settings_hash = _hash(settings)
    outcome = TaskOutcome(task=spec.name, task_type=built.task_type, status="done")
    with try_lock(folder / "evalkit" / "locks" / f"{spec.name}.lock") as got:
        if not got:
            outcome.status, outcome.reason = "locked", "another evalkit run is working on it; rerun later to pick up its result"
            return outcome
        reuse, reason, notes = (False, "--overwrite", []) if config.overwrite else _existing_ok(result_path, record_path, settings_hash)
        for note in notes:
            logger.warning(note)
        if reuse:
            from mteb.results import TaskResult

            outcome.status, outcome.reason = "skipped", reason
            outcome.splits = _main_scores(TaskResult.from_disk(result_path))
            outcome.main_score = _mean(outcome.splits)
            return outcome
        outcome.reason = reason
        start = time.monotonic()
        encoder = lazy.get()
        recorder = examples_mod.Recorder(built.task)
        try:
            with encoder.for_task(spec.name, spec.prompts), fast_text_columns(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = mteb.evaluate(
                    encoder,
                    built.task,
                    cache=None,
                    overwrite_strategy="always",
                    encode_kwargs={"batch_size": encoder.settings.batch_size, "show_progress_bar": config.show_progress},
                    show_progress_bar=False,
                    raise_error=True,
                )
            task_result = res.task_results[0]
        except EvalkitError as exc:
            outcome.status, outcome.reason = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - isolate per task; recorded and reported, never swallowed
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            outcome.status, outcome.reason = "failed", f"{type(exc).__name__}: {first}"
            logger.debug("task %s failed", spec.name, exc_info=True)
        finally:
            recorder.detach()
            outcome.seconds = time.monotonic() - start
        if outcome.status == "done":
            stats = lazy.task_stats
            notes = [
                f"{stats[k]} {label}"
                for k, label in (("empty", "empty texts"), ("truncated", f"texts truncated at {encoder.model.max_seq_length} tokens"))
                if stats.get(k)
            ]
            outcome.reason = "; ".join([outcome.reason, *notes]) if notes else outcome.reason
            if recorder.entries:
                examples_mod.save(examples_path, spec.name, built.task_type, built.task.metadata.main_score, recorder.entries)
            outcome.splits = _main_scores(task_result)
            outcome.main_score = _mean(outcome.splits)
        write_json(
            record_path,
            {
                "task": spec.name,
                "task_type": built.task_type,
                "main_metric": built.task.metadata.main_score,
                "status": outcome.status,
                "reason": outcome.reason,
                "settings": settings,
                "settings_hash": settings_hash,
                "seconds": outcome.seconds,
                "data_source": built.data_source,
                "encoder_stats": lazy.task_stats,
            },
        )
        if outcome.status == "done":
            # The results file goes last: once it exists, its record and per-example scores do too,
            # so a kill at any moment leaves either a reusable task or one that is simply rerun.
            _write_result(task_result, result_path)
        manifest_tasks[spec.name] = {
            "status": outcome.status,
            "seconds": round(outcome.seconds, 3),
            "reason": outcome.reason,
            "main_score": outcome.main_score,
            "settings_hash": settings_hash,
            "data_source": built.data_source,
            "encoder_stats": lazy.task_stats,
        }
        return outcome


def _mean(values: dict[str, float]) -> float | None:
    return sum(values.values()) / len(values) if values else None


def run(config: RunConfig, *, on_task: Any = None) -> RunSummary:
    """Run the suite's selected tasks and write results, records and the manifest.

    Args:
        config: the resolved run configuration.
        on_task: optional callback `(TaskOutcome) -> None` after each task (the CLI prints progress).

    Returns:
        The summary; `summary.failed` lists failed tasks.

    Raises:
        EvalkitError: bad input found before any task runs (unknown task, missing mirror data,
            unwritable output, missing or untrusted model).
    """
    specs = config.selected()
    if not specs:
        raise SuiteError(f"suite {config.suite.name}: no task selected; check --tasks and --shard")
    built = [build_task(s, data_dir=config.data_dir) for s in specs]
    check_writable(config.output_dir)
    resolved = prepare_model(config.encoder)
    folder = model_folder(config.output_dir, resolved.name, resolved.revision)
    check_writable(folder)
    if folder.is_dir() and (stale := remove_stale_temps(folder)):
        logger.info("removed %d temporary files left by killed runs in %s", stale, folder)
    encoder = _LazyEncoder(resolved, config.encoder, config.cache_dir, folder)
    notes = [w for b in built for w in b.warnings]
    for note in notes:
        logger.warning(note)
    manifest_path = folder / "evalkit" / "manifest.json"
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    outcomes: list[TaskOutcome] = []
    iterator: Any = built
    if config.show_progress:
        from tqdm.auto import tqdm

        iterator = tqdm(built, desc="tasks", unit="task", file=sys.stderr)
    for b in iterator:
        if config.show_progress:
            iterator.set_description(f"task {b.name}")
        tasks_state: dict[str, Any] = {}
        outcome = _run_one(b, encoder, config, folder, tasks_state)
        outcomes.append(outcome)
        _update_manifest(manifest_path, config, encoder, started, tasks_state, notes)
        if on_task is not None:
            on_task(outcome)
    encoder.close()
    return RunSummary(resolved.name, resolved.revision, folder, outcomes, notes)


def _update_manifest(path: Path, config: RunConfig, encoder: _LazyEncoder, started: str, tasks: dict[str, Any], notes: list[str]) -> None:
    # Several runs may share a folder: merge under a lock so none loses the other's entries.
    with locked(path.with_name("manifest.lock")):
        previous: dict[str, Any] = {}
        if path.exists():
            try:
                previous = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                moved = move_aside(path)
                logger.warning("%s: unreadable manifest moved to %s; starting a new one", path, moved.name)
        merged_tasks = {**previous.get("tasks", {}), **tasks}
        manifest = {
            "evalkit_manifest": 1,
            "model": {
                "name": encoder.resolved.name,
                "revision": encoder.resolved.revision,
                "source": encoder.resolved.source,
                "path": str(encoder.resolved.path),
            },
            "settings": {k: (dict(v) if k == "prompts" else v) for k, v in asdict(config.encoder).items()},
            "suite": {
                "name": config.suite.name,
                "path": str(config.suite.path) if config.suite.path else None,
                "tasks": [t.name for t in config.suite.tasks],
            },
            "data_dir": str(config.data_dir) if config.data_dir else None,
            "versions": _versions(),
            "hardware": _hardware(encoder.device),
            "started": previous.get("started", started),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "warnings": sorted(set(previous.get("warnings", [])) | set(notes)),
            "encoder_stats": encoder.stats or previous.get("encoder_stats", {}),
            "tasks": merged_tasks,
        }
        write_json(path, manifest)
