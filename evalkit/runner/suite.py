"""Suites: YAML files that name tasks and model settings, validated when loaded.

A suite is plain data read with `yaml.safe_load` (bounded: `evalkit._parse`). It may `include` other suites (paths relative to
the including file, or the name of a suite shipped in `configs/`); the including file's keys win,
tasks are merged by name, and include cycles are refused. Every file is checked against the schema
(`evalkit.runner.schema`) and every task name against mteb's registry before any model loads.

Example::

    name: sts
    include: [cmteb.yaml]
    task_types: [STS]          # keep only these types of the included tasks
    model:
      max_seq_length: 512
      prompts: {Retrieval-query: "为这个句子生成表示以用于检索相关文章："}
    regress: {tolerance: 0.005}
    tasks:
      - {name: ATEC, splits: [test], tolerance: 0.01}
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from evalkit import _parse
from evalkit.errors import SuiteError
from evalkit.model.settings import SettingsLayer
from evalkit.runner.schema import LocalTaskSpec, RegressSettings, TaskSpec, model_layer, parse_file

__all__ = [
    "LocalTaskSpec",
    "Suite",
    "TaskSpec",
    "check_task_name",
    "check_task_names",
    "load_suite",
    "packaged_suites",
    "resolve_suite",
    "resolve_suite_path",
]


@dataclass(frozen=True)
class Suite:
    """A validated suite: tasks in order, its model settings (a layer under the CLI's) and regression settings."""

    name: str
    tasks: tuple[TaskSpec, ...]
    model: SettingsLayer = field(default_factory=lambda: SettingsLayer("suite", {}))
    regress: RegressSettings = field(default_factory=RegressSettings)
    description: str = ""
    path: Path | None = None

    def task(self, name: str) -> TaskSpec | None:
        """Return the spec of task `name`, or None when the suite has no such task."""
        return next((t for t in self.tasks if t.name == name), None)

    def select(self, only_tasks: tuple[str, ...] | None = None, shard: tuple[int, int] | None = None) -> tuple[TaskSpec, ...]:
        """The suite's tasks narrowed to `only_tasks` (names), then to shard (K, N).

        Raises:
            SuiteError: when `only_tasks` names a task the suite lacks.
        """
        tasks = self.tasks
        if only_tasks:
            names = {t.name for t in tasks}
            missing = [n for n in only_tasks if n not in names]
            if missing:
                raise SuiteError(f"--tasks {missing[0]}: not in suite {self.name}; its tasks are {', '.join(sorted(names))}")
            tasks = tuple(t for t in tasks if t.name in only_tasks)
        if shard is not None:
            k, n = shard
            # Deterministic: sorted by name, every n-th task from k (1-based).
            ordered = sorted(tasks, key=lambda t: t.name)
            keep = {t.name for i, t in enumerate(ordered) if i % n == k - 1}
            tasks = tuple(t for t in tasks if t.name in keep)
        return tasks


def packaged_suites() -> dict[str, Path]:
    """Suites shipped with evalkit (`configs/*.yaml`), by name."""
    root = resources.files("evalkit.configs")
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml") and not p.name.startswith("_")}


def resolve_suite_path(ref: str | Path, *, relative_to: Path | None = None) -> Path:
    """Find a suite file: a path (relative to `relative_to` if given) or a packaged suite name.

    Raises:
        SuiteError: when neither a file nor a packaged suite of that name exists.
    """
    candidate = Path(ref)
    if relative_to is not None and not candidate.is_absolute():
        candidate = relative_to / candidate
    if candidate.is_file():
        return candidate.resolve()
    shipped = packaged_suites()
    if str(ref) in shipped:
        return shipped[str(ref)]
    if candidate.exists():
        kind = "a folder" if candidate.is_dir() else "not a regular file (a device, pipe or socket)"
        raise SuiteError(f"suite {ref}: is {kind}, not a YAML file; pass the .yaml file")
    names = ", ".join(sorted(shipped))
    raise SuiteError(f"suite {ref}: no such file; give a path to a .yaml suite or one of: {names}")


def load_suite(ref: str | Path, *, check_registry: bool = True) -> Suite:
    """Read, merge and validate a suite.

    Args:
        ref: a path to a YAML file, or the name of a packaged suite (`smoke`, `cmteb`, `sts`, ...).
        check_registry: check mteb task names against mteb's registry (imports mteb).

    Returns:
        The validated `Suite`.

    Raises:
        SuiteError: on a missing file, broken YAML, unknown key or value, include cycle, or
            unknown task name (with the closest names).
    """
    path = resolve_suite_path(ref)
    raw = _load_merged(path, stack=())
    suite = _build(raw, path)
    if check_registry:
        check_task_names(suite)
    return suite


def _read_yaml(path: Path) -> dict[str, Any]:
    data = _parse.read_yaml(path, f"suite {path}", error=SuiteError)
    if data is None:
        raise SuiteError(f"suite {path}: is empty; add a `tasks:` list")
    if not isinstance(data, dict):
        raise SuiteError(f"suite {path}: must be a mapping with a `tasks:` list, not a {type(data).__name__}")
    return data


def _load_merged(path: Path, stack: tuple[Path, ...]) -> dict[str, Any]:
    if len(stack) >= _parse.MAX_INCLUDES:
        raise SuiteError(f"suite {path}: includes nested more than {_parse.MAX_INCLUDES} deep; include the suites from one file")
    if path in stack:
        chain = " -> ".join(p.name for p in (*stack, path))
        raise SuiteError(f"suite {path}: include cycle ({chain}); remove one of the includes")
    data = _read_yaml(path)
    if isinstance(data.get("tasks"), list):
        # `- ATEC` is `- {name: ATEC}`, so includes merge it by name like any entry.
        data["tasks"] = [{"name": t} if isinstance(t, str) else t for t in data["tasks"]]
        for task in data["tasks"]:
            # Local tasks need their own file's folder to resolve relative paths (LocalTaskSpec reads `_base`).
            if isinstance(task, dict) and isinstance(task.get("local"), dict):
                task["local"].setdefault("_base", str(path.parent))
    checked = parse_file(data, f"suite {path}")  # each file alone first, so an error names the file it is in
    merged: dict[str, Any] = {}
    for inc in checked.include or ():
        try:
            inc_path = resolve_suite_path(inc, relative_to=path.parent)
        except SuiteError as exc:
            raise SuiteError(f"suite {path}: include {inc!r} not found ({exc})") from None
        merged = _merge(merged, _load_merged(inc_path, (*stack, path)))
    return _merge(merged, {k: v for k, v in data.items() if k != "include"})


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if key == "tasks" and isinstance(value, list) and isinstance(base.get("tasks"), list):
            by_name = {t.get("name"): t for t in base["tasks"] if isinstance(t, dict)}
            order = [t.get("name") for t in base["tasks"] if isinstance(t, dict)]
            for task in value:
                name = task.get("name") if isinstance(task, dict) else None
                if name in by_name:
                    by_name[name] = {**by_name[name], **task}
                else:
                    order.append(name)
                    by_name[name] = task
            out["tasks"] = [by_name[n] for n in order]
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = {**base[key], **value}
        else:
            out[key] = value
    return out


def _build(raw: dict[str, Any], path: Path) -> Suite:
    where = f"suite {path}"
    checked = parse_file(raw, where)
    if not checked.tasks:
        raise SuiteError(f"{where}: has no tasks; add a `tasks:` list")
    names = [t.name for t in checked.tasks]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise SuiteError(f"{where}: task {dup} is listed twice; keep one entry")
    tasks = checked.tasks
    if checked.task_types is not None:
        tasks = tuple(t for t in tasks if _task_type(t) in checked.task_types)
        if not tasks:
            raise SuiteError(f"{where}: no task has a type in {list(checked.task_types)}; check `task_types`")
    return Suite(
        name=checked.name or path.stem,
        description=checked.description or "",
        tasks=tasks,
        model=model_layer(checked.model or {}, f"{where}, model"),
        regress=checked.regress or RegressSettings(),
        path=path,
    )


def _task_type(spec: TaskSpec) -> str:
    if spec.local is not None:
        return spec.local.type
    from evalkit.results.names import task_type_of

    return task_type_of(spec.name)


def check_task_names(suite: Suite) -> None:
    """Check every mteb task name of `suite` against mteb's registry.

    Raises:
        SuiteError: naming the unknown task and the closest registered names.
    """
    # Without a suite file (`evalkit run --tasks A,B`) the names came from --tasks.
    where = f"suite {suite.path}" if suite.path is not None else "--tasks"
    for spec in suite.tasks:
        if spec.local is None:
            check_task_name(spec.name, where=where)


def check_task_name(name: str, *, where: str = "task") -> None:
    """Raise `SuiteError` with the closest names when `name` is not an mteb task."""
    from evalkit._compat.mteb import has_task, task_names

    if has_task(name):
        return
    names = task_names()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:
        close = [lowered[name.lower()], *[c for c in close if c != lowered[name.lower()]]]
    hint = f"did you mean {', '.join(close)}?" if close else "see `mteb.get_tasks()` for the names"
    raise SuiteError(f"{where}: unknown task {name!r}; {hint}")


def _adhoc_suite(tasks: tuple[str, ...]) -> Suite:
    """A suite of task names alone (`evalkit run --tasks A,B`)."""
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
    if isinstance(suite, Suite):
        return suite, tasks
    if suite is None:
        if not tasks:
            raise SuiteError("nothing to run: give a SUITE (e.g. configs/smoke.yaml) or --tasks T1,T2")
        return _adhoc_suite(tasks), None
    return load_suite(suite), tasks
