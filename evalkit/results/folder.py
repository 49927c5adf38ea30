"""One model's results on disk: the layout under `<output>/<org__name>/<revision>/`, in one place.

::

    <output>/<org__name>/<revision>/<Task>.json                  mteb TaskResult, full precision
    <output>/<org__name>/<revision>/model_meta.json              mteb ModelMeta
    <output>/<org__name>/<revision>/evalkit/manifest.json        the run manifest
    <output>/<org__name>/<revision>/evalkit/tasks/<Task>.json    task record: settings, timing, status, stats
    <output>/<org__name>/<revision>/evalkit/examples/<Task>.json per-example scores
    <output>/<org__name>/<revision>/evalkit/local/<Task>.json    TaskResult of an in-house task

mteb's own `ResultCache` reads `<model>/<revision>/*.json` and validates each task name against its
registry, so in-house tasks (read from local files, unknown to mteb) keep their results under
`evalkit/local/`; evalkit's readers see both. The layout matches mteb's, so a checkout of the
public mteb results repository reads the same way. Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evalkit import _parse
from evalkit._io import locked, move_aside, remove_stale_temps, safe_part, try_lock, write_atomic, write_json
from evalkit._types import EncodeStats, ForwardUse
from evalkit.errors import DataError

logger = logging.getLogger(__name__)

MODEL_META = "model_meta.json"


@dataclass
class TaskRecord:
    """evalkit's record of one task beside its results: what ran, how, and what happened."""

    task: str
    task_type: str
    main_metric: str
    status: str
    reason: str
    settings: dict[str, Any]
    settings_hash: str
    seconds: float
    data_source: str
    local: bool = False
    stats: EncodeStats = field(default_factory=EncodeStats)
    max_seq_length: int | None = None
    run: dict[str, Any] = field(default_factory=dict)  # where it ran (executor, node, device, waits)
    forward: ForwardUse = field(default_factory=ForwardUse)  # which code encoded its texts: evalkit's loop or model.encode, and why

    def to_json(self) -> dict[str, Any]:
        """The record as written to `evalkit/tasks/<Task>.json`."""
        out = asdict(self)
        out["encoder_stats"] = self.stats.record()
        del out["stats"]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskRecord:
        """Read a record (also those written before `local`, `max_seq_length`, `run` and `forward` existed).

        Raises:
            KeyError, TypeError: when required fields are missing.
        """
        return cls(
            task=data["task"],
            task_type=data.get("task_type", ""),
            main_metric=data.get("main_metric", ""),
            status=data["status"],
            reason=data.get("reason", ""),
            settings=data.get("settings", {}),
            settings_hash=data.get("settings_hash", ""),
            seconds=float(data.get("seconds", 0.0)),
            data_source=data.get("data_source", ""),
            local=bool(data.get("local", False)),
            stats=EncodeStats.from_dict(data.get("encoder_stats")),
            max_seq_length=data.get("max_seq_length"),
            run=data.get("run", {}),
            forward=ForwardUse.from_dict(data.get("forward")),
        )


@dataclass(frozen=True)
class ResultsFolder:
    """The results of one model at one revision, at `path` (`<output>/<org__name>/<revision>`)."""

    path: Path

    @classmethod
    def for_model(cls, output_dir: Path, name: str, revision: str) -> ResultsFolder:
        """Where a model's results go: never outside `output_dir`, whatever the name holds.

        Raises:
            DataError: a revision named `evalkit` (the name of evalkit's own record folder).
        """
        if safe_part(revision) == "evalkit":
            raise DataError(f"revision {revision!r}: is reserved for evalkit's record folder; pass another --revision")
        folder = cls(Path(output_dir) / safe_part(name) / safe_part(revision))
        inside = (folder.path.parent, folder.path, *(folder.path / "evalkit" / p for p in ("", "tasks", "locks", "examples", "local")))
        if link := next((p for p in inside if p.is_symlink()), None):
            raise DataError(f"results folder {link}: is a symbolic link; evalkit writes into real folders only, remove the link")
        return folder

    @classmethod
    def of_file(cls, path: Path) -> ResultsFolder:
        """The folder a result file belongs to (an in-house task's sits two levels deeper)."""
        path = Path(path)
        return cls(path.parents[2] if path.parent.name == "local" and path.parent.parent.name == "evalkit" else path.parent)

    @classmethod
    def anywhere_under(cls, root: Path) -> list[ResultsFolder]:
        """Every folder at any depth under `root` holding task results or per-example scores, sorted.

        Hidden folders (`.old/`, `.git/`: copies and history, not runs) and evalkit's own record
        folders are passed over. The leaderboard reads its sources with this, as `find` serves the
        commands that take one run's layout.
        """
        root = Path(root)
        owners = {p.parent for p in root.rglob("*.json") if "evalkit" not in p.relative_to(root).parts[:-1]}
        owners |= {p.parents[2] for p in root.rglob("evalkit/local/*.json")}
        owners |= {p.parents[1] for p in root.rglob("evalkit/examples") if p.is_dir()}
        shown = (o for o in owners if not any(part.startswith(".") for part in o.relative_to(root).parts))
        return [cls(o) for o in sorted(shown)]

    @classmethod
    def find(cls, path: Path) -> list[ResultsFolder]:
        """The results folders under a results root, a model folder, or a revision folder.

        Raises:
            DataError: when `path` does not exist or holds no results.
        """
        path = Path(path)
        if not path.exists():
            raise DataError(f"results folder {path}: does not exist; pass the --output folder of `evalkit run`")
        for pattern in ("", "*", "*/*", "results/*/*"):
            candidates = sorted(path.glob(pattern)) if pattern else [path]
            # evalkit/ (records, manifest) is never a results folder, even when every task failed.
            found = [cls(d) for d in candidates if d.is_dir() and d.name != "evalkit" and cls(d).has_results()]
            if found:
                return found
        raise DataError(
            f"results folder {path}: holds no results (<model>/<revision>/<Task>.json); run `evalkit run` first or check the path"
        )

    @classmethod
    def with_manifest(cls, path: Path) -> list[ResultsFolder]:
        """The run folders at or under `path` that hold a manifest (every task may have failed)."""
        path = Path(path)
        if (path / "evalkit" / "manifest.json").is_file():
            return [cls(path)]
        return [cls(p.parents[1]) for p in sorted(path.glob("*/*/evalkit/manifest.json"))]

    @classmethod
    def one_model(cls, path: Path) -> ResultsFolder:
        """The one model's revision folder at or under `path`, found by its results or, where every task failed, its manifest.

        Raises:
            DataError: `path` holds several models, or none.
        """
        path = Path(path)
        if (here := cls(path)).manifest_path.is_file() or here.has_results():
            return here
        found = cls.with_manifest(path) or cls.find(path)
        if len(found) > 1:
            raise DataError(f"results folder {path}: holds several models; pass one model's folder (<output>/<org__name>/<revision>/)")
        return found[0]

    def has_results(self) -> bool:
        """True when this folder holds at least one task result (mteb's or an in-house one)."""
        return bool(self.result_files())

    # -- paths ------------------------------------------------------------------------------------

    @property
    def evalkit_dir(self) -> Path:
        """Evalkit's own files beside mteb's."""
        return self.path / "evalkit"

    @property
    def manifest_path(self) -> Path:
        """The run manifest."""
        return self.evalkit_dir / "manifest.json"

    @property
    def log_path(self) -> Path:
        """The runs' log: evalkit's messages and library warnings, appended run after run."""
        return self.evalkit_dir / "run.log"

    def result_path(self, task: str, *, local: bool = False) -> Path:
        """Where a task's TaskResult lives (in-house tasks under `evalkit/local/`)."""
        return (self.evalkit_dir / "local" if local else self.path) / f"{task}.json"

    def record_path(self, task: str) -> Path:
        """Where a task's evalkit record lives."""
        return self.evalkit_dir / "tasks" / f"{task}.json"

    def examples_path(self, task: str) -> Path:
        """Where a task's per-example scores live."""
        return self.evalkit_dir / "examples" / f"{task}.json"

    def lock_path(self, task: str) -> Path:
        """The lock a run holds while it works on a task."""
        return self.evalkit_dir / "locks" / f"{task}.lock"

    def result_files(self) -> list[Path]:
        """Every TaskResult file: mteb tasks first, then in-house ones, each sorted by name."""
        if not self.path.is_dir():
            return []
        top = sorted(p for p in self.path.glob("*.json") if p.name != MODEL_META and not p.name.startswith("."))
        local = sorted(p for p in (self.evalkit_dir / "local").glob("*.json") if not p.name.startswith("."))
        return top + local

    def record_files(self) -> list[Path]:
        """Every task record, sorted by task."""
        return sorted(p for p in (self.evalkit_dir / "tasks").glob("*.json") if not p.name.startswith("."))

    def example_files(self) -> list[Path]:
        """Every per-example file, sorted by task."""
        return sorted(p for p in (self.evalkit_dir / "examples").glob("*.json") if not p.name.startswith("."))

    # -- identity ---------------------------------------------------------------------------------

    def identity(self) -> tuple[str, str]:
        """(model name, revision) from model_meta.json, else from the folder names."""
        meta_path = self.path / MODEL_META
        if meta_path.is_file():
            try:
                meta = _parse.read_json(meta_path)
                return str(meta.get("name") or self.path.parent.name.replace("__", "/")), str(meta.get("revision") or self.path.name)
            except (DataError, AttributeError):
                pass
        return self.path.parent.name.replace("__", "/"), self.path.name

    def write_model_meta(self, meta: dict[str, Any]) -> None:
        """Write mteb's ModelMeta (as a dict) for this folder."""
        write_json(self.path / MODEL_META, meta)

    # -- task files -------------------------------------------------------------------------------

    def read_result(self, task: str, *, local: bool = False) -> Any:
        """The task's mteb TaskResult.

        Raises:
            DataError: missing or unreadable file, naming it.
        """
        return read_task_result(self.result_path(task, local=local))

    def write_result(self, task_result: Any, *, local: bool = False) -> Path:
        """Write a TaskResult at full precision (mteb's `to_disk` rounds to 6 decimals), same structure."""
        obj = task_result.model_dump()
        obj["date"] = task_result.date.timestamp() if task_result.date else None
        path = self.result_path(task_result.task_name, local=local)
        write_json(path, obj)
        return path

    def read_record(self, task: str, *, move_broken: bool = True) -> TaskRecord | None:
        """The task's record, or None when there is none; an unreadable one is moved aside (unless `move_broken=False`)."""
        path = self.record_path(task)
        if not path.exists():
            return None
        try:
            return TaskRecord.from_json(_parse.read_json(path))
        except (DataError, ValueError, KeyError, TypeError, AttributeError):
            if not move_broken:
                return None
            moved = move_aside(path)
            logger.warning("%s: unreadable task record moved to %s; recomputing", path, moved.name)
            return None

    def write_record(self, record: TaskRecord) -> None:
        """Write a task's record, atomically."""
        write_json(self.record_path(record.task), record.to_json())

    def task_info(self, task: str) -> tuple[str | None, str]:
        """(main metric, task type) of a task from its record; (None, '') when unknown."""
        path = self.record_path(task)
        try:
            data = _parse.read_json(path)
            return data.get("main_metric"), data.get("task_type", "")
        except (DataError, AttributeError):
            return None, ""

    def reusable(self, task: str, *, local: bool, settings_hash: str, move_broken: bool = True) -> tuple[bool, str]:
        """Can the stored result of `task` be reused for a run with these settings? (reuse, reason).

        Broken files are moved aside (never deleted) and the task is recomputed; with
        `move_broken=False` (a dry run, which changes nothing) they are only reported.
        """
        result_path = self.result_path(task, local=local)
        if not result_path.exists():
            return False, "new"
        try:
            read_task_result(result_path)
        except DataError:
            if not move_broken:
                return False, "corrupt result (a run moves it aside)"
            moved = move_aside(result_path)
            logger.warning("%s: unreadable results file moved to %s; recomputing", result_path, moved.name)
            return False, "corrupt result moved aside"
        if not self.record_path(task).exists():
            return False, "no evalkit record of its settings"
        record = self.read_record(task, move_broken=move_broken)
        if record is None:
            return False, "corrupt task record moved aside" if move_broken else "corrupt task record (a run moves it aside)"
        if record.settings_hash != settings_hash or record.status != "done":
            return False, "settings changed"
        return True, "same settings"

    @contextlib.contextmanager
    def task_lock(self, task: str) -> Iterator[bool]:
        """Hold the task's lock for the block; yields False when another run holds it."""
        with try_lock(self.lock_path(task)) as got:
            yield got

    # -- the manifest -----------------------------------------------------------------------------

    @staticmethod
    def latest_run(manifest: dict[str, Any]) -> dict[str, Any] | None:
        """The latest run into the folder, from the manifest's `runs` (None for manifests before them)."""
        runs = manifest.get("runs")
        return runs[-1] if isinstance(runs, list) and runs and isinstance(runs[-1], dict) else None

    def read_manifest(self) -> dict[str, Any]:
        """The manifest ({} when there is none)."""
        try:
            manifest = _parse.read_json(self.manifest_path)
            return manifest if isinstance(manifest, dict) else {}
        except DataError:
            return {}

    def update_manifest(self, update: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Read, update and write the manifest under its lock: several runs may share a folder."""
        path = self.manifest_path
        with locked(path.with_name("manifest.lock")):
            previous: dict[str, Any] = {}
            if path.exists():
                try:
                    previous = _parse.read_json(path)
                    if not isinstance(previous, dict):
                        raise DataError("not a JSON object")
                except DataError:
                    moved = move_aside(path)
                    logger.warning("%s: unreadable manifest moved to %s; starting a new one", path, moved.name)
            write_json(path, update(previous))

    def remove_stale_temps(self) -> int:
        """Remove temporary files that killed writers on this host left; returns how many."""
        return remove_stale_temps(self.path) if self.path.is_dir() else 0

    def write_bytes(self, relative: Path, data: bytes) -> Path:
        """Write a file at `relative` inside the folder, atomically (used by merge)."""
        target = self.path / relative
        write_atomic(target, data)
        return target


def read_task_result(path: Path) -> Any:
    """Read one mteb TaskResult file.

    Raises:
        DataError: missing, truncated or invalid, naming the file and the fix.
    """
    from mteb.results import TaskResult

    _parse.read_json(path, f"results file {path}")  # bounded: huge, deep or duplicated JSON is refused first
    try:
        with warnings.catch_warnings():
            # mteb warns when a pre-1.11 file lacks mteb 2's main key (a reranking `map`); evalkit
            # reads that file's old name itself (results.main_score), so the warning misleads.
            warnings.filterwarnings("ignore", message="Main score .* not found in scores")
            return TaskResult.from_disk(path)
    except Exception as exc:  # noqa: BLE001 - any failure to parse names the file
        kind = "truncated or invalid JSON" if isinstance(exc, ValueError) else type(exc).__name__
        raise DataError(f"results file {path}: cannot be read ({kind}); rerun that task or remove the file") from None
