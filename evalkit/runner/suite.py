"""Suites: YAML files that name tasks and model settings, validated when loaded.

A suite is plain data read with `yaml.safe_load`. It may `include` other suites (paths relative to
the including file, or the name of a suite shipped in `configs/`); the including file's keys win,
tasks are merged by name, and include cycles are refused. Every key is checked against the schema
below and every task name against mteb's registry before any model loads.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from evalkit._types import TASK_TYPES, TaskType
from evalkit.errors import SuiteError
from evalkit.runner.settings import Invalid, RegressSettings, SettingsLayer, check_alpha, check_tolerance, check_value

_SUITE_KEYS = {"name", "description", "include", "task_types", "model", "tasks", "regress"}
_MODEL_KEYS = {
    "name",
    "revision",
    "pooling",
    "normalize",
    "max_seq_length",
    "batch_size",
    "dtype",
    "device",
    "trust_remote_code",
    "allow_pickle",
    "unchecked_weights",
    "prompts",
    "loader",
    "similarity",
    "tokenizer_kwargs",
    "include_prompt",
    "truncate_dim",
}
_TASK_KEYS = {"name", "splits", "subsets", "prompts", "tolerance", "local"}
_LOCAL_KEYS = {
    "type",
    "files",
    "corpus",
    "queries",
    "qrels",
    "split",
    "columns",
    "min_score",
    "max_score",
    "languages",
}
_REGRESS_KEYS = {"tolerance", "alpha", "require_significance", "bootstrap_samples"}


@dataclass(frozen=True)
class LocalTaskSpec:
    """An in-house task read from local files (jsonl, csv, tsv or parquet).

    `files` maps split names to files for STS, PairClassification, Classification and
    Clustering; Retrieval and Reranking use the BEIR layout `corpus`, `queries`, `qrels` for one
    `split`. Paths are resolved against the suite file's folder.
    """

    type: TaskType
    files: Mapping[str, Path] = field(default_factory=dict)
    corpus: Path | None = None
    queries: Path | None = None
    qrels: Path | None = None
    split: str = "test"
    columns: Mapping[str, str] = field(default_factory=dict)
    min_score: float = 0.0
    max_score: float = 5.0
    languages: tuple[str, ...] = ("cmn-Hans",)


@dataclass(frozen=True)
class TaskSpec:
    """One task of a suite: an mteb task name, or an in-house task when `local` is set."""

    name: str
    splits: tuple[str, ...] | None = None
    subsets: tuple[str, ...] | None = None
    prompts: Mapping[str, str] = field(default_factory=dict)
    tolerance: float | None = None
    local: LocalTaskSpec | None = None


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
        raise SuiteError(f"suite {ref}: is a folder, not a YAML file; pass the .yaml file")
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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SuiteError(f"suite {path}: is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise SuiteError(f"suite {path}: cannot be read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SuiteError(f"suite {path}: broken YAML{where} ({problem}); fix the syntax") from None
    if data is None:
        raise SuiteError(f"suite {path}: is empty; add a `tasks:` list")
    if not isinstance(data, dict):
        raise SuiteError(f"suite {path}: must be a mapping with a `tasks:` list, not a {type(data).__name__}")
    return data


def _load_merged(path: Path, stack: tuple[Path, ...]) -> dict[str, Any]:
    if path in stack:
        chain = " -> ".join(p.name for p in (*stack, path))
        raise SuiteError(f"suite {path}: include cycle ({chain}); remove one of the includes")
    data = _read_yaml(path)
    _check_keys(data, _SUITE_KEYS, f"suite {path}")
    includes = data.get("include") or []
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise SuiteError(f"suite {path}: `include` must be a file name or a list of file names")
    merged: dict[str, Any] = {}
    for inc in includes:
        try:
            inc_path = resolve_suite_path(inc, relative_to=path.parent)
        except SuiteError as exc:
            raise SuiteError(f"suite {path}: include {inc!r} not found ({exc})") from None
        merged = _merge(merged, _load_merged(inc_path, (*stack, path)))
    local = {k: v for k, v in data.items() if k != "include"}
    # Local tasks need their own folder to resolve relative file paths.
    for task in local.get("tasks") or []:
        if isinstance(task, dict) and isinstance(task.get("local"), dict):
            task["local"].setdefault("_base", str(path.parent))
    return _merge(merged, local)


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


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in data:
        if key.startswith("_") and key == "_base":
            continue
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"allowed: {', '.join(sorted(allowed))}"
            raise SuiteError(f"{where}: unknown key `{key}`; {hint}")


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise SuiteError(f"{where}: `{what}` must be a number, not {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SuiteError(f"{where}: `{what}` must be a {names}, not {value!r}")
    return value


def _choice(value: Any, allowed: tuple[str, ...], where: str, what: str) -> Any:
    if value not in allowed:
        raise SuiteError(f"{where}: `{what}` is {value!r}; use one of: {', '.join(allowed)}")
    return value


def _str_list(value: Any, where: str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SuiteError(f"{where}: `{what}` must be a non-empty list of names")
    return tuple(value)


def _prompts(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SuiteError(f"{where}: `prompts` must map keys (query, document, a task type or name) to text")
    return dict(value)


def _build(raw: dict[str, Any], path: Path) -> Suite:
    where = f"suite {path}"
    tasks_raw = raw.get("tasks")
    if not tasks_raw:
        raise SuiteError(f"{where}: has no tasks; add a `tasks:` list")
    if not isinstance(tasks_raw, list):
        raise SuiteError(f"{where}: `tasks` must be a list of task entries")
    tasks = [_build_task(t, f"{where}, task {i + 1}") for i, t in enumerate(tasks_raw)]
    names = [t.name for t in tasks]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise SuiteError(f"{where}: task {dup} is listed twice; keep one entry")
    types = raw.get("task_types")
    if types is not None:
        types = _str_list(types, where, "task_types")
        for t in types:
            _choice(t, TASK_TYPES, where, "task_types")
        tasks = [t for t in tasks if _task_type(t) in types]
        if not tasks:
            raise SuiteError(f"{where}: no task has a type in {list(types)}; check `task_types`")
    return Suite(
        name=str(raw.get("name") or path.stem),
        description=str(raw.get("description") or ""),
        tasks=tuple(tasks),
        model=_build_model(raw.get("model") or {}, f"{where}, model"),
        regress=_build_regress(raw.get("regress") or {}, f"{where}, regress"),
        path=path,
    )


def _task_type(spec: TaskSpec) -> str:
    if spec.local is not None:
        return spec.local.type
    from evalkit.results.names import task_type_of

    return task_type_of(spec.name)


def _build_model(raw: Any, where: str) -> SettingsLayer:
    _expect(raw, dict, where, "model")
    _check_keys(raw, _MODEL_KEYS, where)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            # The suite spells the model reference `name`; the settings record calls it `model`.
            values["model" if key == "name" else key] = check_value("model" if key == "name" else key, value)
        except Invalid as exc:
            raise SuiteError(f"{where}: `{key}` {exc}") from None
    for key in ("trust_remote_code", "allow_pickle", "unchecked_weights"):
        if values.get(key) and not values.get("model"):
            raise SuiteError(f"{where}: `{key}: true` must name the model it trusts; add `name: <model>` in the same section")
    return SettingsLayer("suite", values)


def _build_regress(raw: Any, where: str) -> RegressSettings:
    _expect(raw, dict, where, "regress")
    _check_keys(raw, _REGRESS_KEYS, where)
    kw: dict[str, Any] = {}
    if "tolerance" in raw:
        kw["tolerance"] = _tolerance(raw["tolerance"], where)
    if "alpha" in raw:
        kw["alpha"] = check_alpha(raw["alpha"], f"{where}: `alpha`")
    if "require_significance" in raw:
        kw["require_significance"] = _expect(raw["require_significance"], bool, where, "require_significance")
    if "bootstrap_samples" in raw:
        n = _expect(raw["bootstrap_samples"], int, where, "bootstrap_samples")
        if n < 100:
            raise SuiteError(f"{where}: `bootstrap_samples` must be at least 100, not {n}")
        kw["bootstrap_samples"] = n
    return RegressSettings(**kw)


def _tolerance(value: Any, where: str) -> float:
    return check_tolerance(value, f"{where}: `tolerance`")


def _build_task(raw: Any, where: str) -> TaskSpec:
    if isinstance(raw, str):
        raw = {"name": raw}
    _expect(raw, dict, where, "task entry")
    _check_keys(raw, _TASK_KEYS, where)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SuiteError(f"{where}: every task needs a `name`")
    where = f"{where.rsplit(', task', 1)[0]}, task {name}"
    _check_name_safe(name, where)
    return TaskSpec(
        name=name,
        splits=_str_list(raw["splits"], where, "splits") if "splits" in raw else None,
        subsets=_str_list(raw["subsets"], where, "subsets") if "subsets" in raw else None,
        prompts=_prompts(raw.get("prompts"), where),
        tolerance=_tolerance(raw["tolerance"], where) if "tolerance" in raw else None,
        local=_build_local(raw["local"], where) if "local" in raw else None,
    )


def _check_name_safe(name: str, where: str) -> None:
    # Task names become file names under the output folder: nothing that could leave it.
    if "/" in name or "\\" in name or name.startswith(".") or "\x00" in name or len(name) > 120:
        raise SuiteError(f"{where}: task name {name!r} cannot be used as a file name; use letters, digits, '-', '_' and '.'")


def _build_local(raw: Any, where: str) -> LocalTaskSpec:
    _expect(raw, dict, where, "local")
    _check_keys(raw, _LOCAL_KEYS, f"{where}, local")
    base = Path(raw.get("_base", "."))
    ttype = _choice(raw.get("type"), TASK_TYPES, where, "local.type")

    def _path(value: Any, what: str) -> Path:
        _expect(value, str, where, what)
        p = Path(value)
        return p if p.is_absolute() else (base / p)

    kw: dict[str, Any] = {"type": ttype}
    if ttype in ("Retrieval", "Reranking"):
        for key in ("corpus", "queries", "qrels"):
            if key not in raw:
                raise SuiteError(f"{where}: a local {ttype} task needs `{key}` (BEIR layout: corpus, queries, qrels)")
            kw[key] = _path(raw[key], f"local.{key}")
        if "files" in raw:
            raise SuiteError(f"{where}: a local {ttype} task takes corpus/queries/qrels, not `files`")
        if "split" in raw:
            kw["split"] = str(_expect(raw["split"], str, where, "local.split"))
    else:
        files = raw.get("files")
        if not isinstance(files, dict) or not files:
            raise SuiteError(f"{where}: a local {ttype} task needs `files`, a mapping of split to file")
        kw["files"] = {str(s): _path(f, f"local.files.{s}") for s in files for f in [files[s]]}
        if ttype == "Classification" and "train" not in kw["files"]:
            raise SuiteError(f"{where}: a local Classification task needs a `train` file as well as the evaluation split")
    if "columns" in raw:
        cols = raw["columns"]
        if not isinstance(cols, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in cols.items()):
            raise SuiteError(f"{where}: `local.columns` maps evalkit's column names to the file's")
        kw["columns"] = dict(cols)
    for key in ("min_score", "max_score"):
        if key in raw:
            kw[key] = float(_expect(raw[key], (int, float), where, f"local.{key}"))
    if "languages" in raw:
        kw["languages"] = _str_list(raw["languages"], where, "local.languages")
    return LocalTaskSpec(**kw)


def check_task_names(suite: Suite) -> None:
    """Check every mteb task name of `suite` against mteb's registry.

    Raises:
        SuiteError: naming the unknown task and the closest registered names.
    """
    for spec in suite.tasks:
        if spec.local is None:
            check_task_name(spec.name, where=f"suite {suite.path}")


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
