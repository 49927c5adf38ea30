"""The suite file's schema: pydantic models with unknown keys refused, and their errors as one line.

`SuiteFile` is one YAML file as written (every key optional, so an included file may hold only
tasks); `TaskSpec`, `LocalTaskSpec` and `RegressSettings` are both the schema of their sections
and the records the runner uses. The suite's `model:` section is checked against
`evalkit.model.settings.ModelSettings`, the same schema the command line is checked against.
`suite_error` words pydantic's first error as evalkit's one line: file, section, key, fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, Strict, StrictStr, TypeAdapter, ValidationError, model_validator
from pydantic.dataclasses import dataclass as schema
from pydantic_core import ErrorDetails

from evalkit._schema import FORBID, Flag, Number, Text, describe, is_unknown_key, problem, pydantic_fields, unknown_key
from evalkit._text import name_problem
from evalkit._types import TaskType
from evalkit.errors import SuiteError
from evalkit.model.settings import OPT_INS, SUITE_KEYS, SettingsLayer, check_values

#: Defaults of a suite's `regress:` section (and of `evalkit regress` without a suite).
REGRESS_TOLERANCE = 0.005  # regress: allowed drop on the 0-1 scale
REGRESS_ALPHA = 0.05
BOOTSTRAP_SAMPLES = 1000


def _on_score_scale(value: float) -> float:
    if not 0 <= value < 1:
        raise problem(f"is on the 0-1 scale of scores; use e.g. {REGRESS_TOLERANCE}")
    return value


def _between_0_and_1(value: float) -> float:
    if not 0 < value < 1:
        raise problem(f"must be between 0 and 1, e.g. {REGRESS_ALPHA}")
    return value


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value  # `splits: test` is `splits: [test]`


def _file_safe(name: str) -> str:
    # Task names become file names, terminal lines, Markdown/CSV cells and JUnit names.
    if found := name_problem(name):
        raise problem(f"the task name {found}")
    # As file names under the output folder: nothing that could leave it.
    if "/" in name or "\\" in name or name.startswith(".") or "\x00" in name or len(name) > 120:
        raise problem(f"{name!r} cannot be used as a file name; use letters, digits, '-', '_' and '.'")
    return name


Tolerance = Annotated[Number, AfterValidator(_on_score_scale)]
Alpha = Annotated[Number, AfterValidator(_between_0_and_1)]
Names = Annotated[tuple[Text, ...], BeforeValidator(_listed), Field(min_length=1)]
TaskName = Annotated[Text, AfterValidator(_file_safe)]


def check_tolerance(value: float, flag: str = "--tolerance") -> float:
    """A tolerance on the 0-1 scale of scores (the rule of the suite's `tolerance` keys).

    Raises:
        SuiteError: outside [0, 1).
    """
    return _check(Tolerance, value, flag)


def check_alpha(value: float, flag: str = "--alpha") -> float:
    """A significance level strictly between 0 and 1.

    Raises:
        SuiteError: outside (0, 1).
    """
    return _check(Alpha, value, flag)


def _check(kind: Any, value: float, flag: str) -> float:
    try:
        return float(TypeAdapter(kind).validate_python(value))
    except ValidationError as exc:
        raise SuiteError(f"{flag} {value}: {describe(exc.errors()[0])}") from None


@schema(frozen=True, config=FORBID)
class RegressSettings:
    """How `evalkit regress` judges a drop: tolerance, significance level, bootstrap size."""

    tolerance: Tolerance = REGRESS_TOLERANCE
    alpha: Alpha = REGRESS_ALPHA
    require_significance: Flag = True
    bootstrap_samples: Annotated[int, Strict(), Field(ge=100)] = BOOTSTRAP_SAMPLES


@schema(frozen=True, config=FORBID)
class LocalTaskSpec:
    """An in-house task read from local files (jsonl, csv, tsv or parquet).

    `files` maps split names to files for STS, PairClassification, Classification and
    Clustering; Retrieval and Reranking use the BEIR layout `corpus`, `queries`, `qrels` for one
    `split`. In a suite, paths are relative to the folder of the file that names them.
    """

    type: TaskType
    files: Mapping[str, Path] = field(default_factory=dict)
    corpus: Path | None = None
    queries: Path | None = None
    qrels: Path | None = None
    split: Text = "test"
    columns: Mapping[str, Text] = field(default_factory=dict)  # evalkit's column names to the file's
    min_score: Number = 0.0
    max_score: Number = 5.0
    languages: Names = ("cmn-Hans",)

    @model_validator(mode="before")
    @classmethod
    def _anchor(cls, data: Any) -> Any:
        # The suite loader marks each local entry with its file's folder (`_base`); includes are merged after.
        if not isinstance(data, dict) or "_base" not in data:
            return data
        data = dict(data)
        base = Path(data.pop("_base"))

        def under(value: Any) -> Any:
            return str(base / value) if isinstance(value, str) and not Path(value).is_absolute() else value

        for key in ("corpus", "queries", "qrels"):
            data[key] = under(data.get(key))
        if isinstance(data.get("files"), dict):
            data["files"] = {split: under(f) for split, f in data["files"].items()}
        return data

    @model_validator(mode="after")
    def _layout(self) -> LocalTaskSpec:
        if self.type in ("Retrieval", "Reranking"):
            for key in ("corpus", "queries", "qrels"):
                if getattr(self, key) is None:
                    raise problem(f"a local {self.type} task needs `{key}` (BEIR layout: corpus, queries, qrels)")
            if self.files:
                raise problem(f"a local {self.type} task takes corpus/queries/qrels, not `files`")
        elif not self.files:
            raise problem(f"a local {self.type} task needs `files`, a mapping of split to file")
        elif self.type == "Classification" and "train" not in self.files:
            raise problem("a local Classification task needs a `train` file as well as the evaluation split")
        return self


@schema(frozen=True, config=FORBID)
class TaskSpec:
    """One task of a suite: an mteb task name, or an in-house task when `local` is set."""

    name: TaskName
    splits: Names | None = None
    subsets: Names | None = None
    prompts: Mapping[str, StrictStr] = field(default_factory=dict)  # "" is no prompt
    tolerance: Tolerance | None = None
    local: LocalTaskSpec | None = None


TaskEntry = Annotated[TaskSpec, BeforeValidator(lambda v: {"name": v} if isinstance(v, str) else v)]  # `- ATEC` is `- {name: ATEC}`


class SuiteFile(BaseModel):
    """One suite file as written; `model` is checked by `model_layer` against the model settings' schema."""

    model_config = FORBID

    name: Text | None = None
    description: str | None = None
    include: Annotated[tuple[Text, ...], BeforeValidator(_listed)] | None = None
    task_types: Annotated[tuple[TaskType, ...], BeforeValidator(_listed), Field(min_length=1)] | None = None
    model: dict[str, Any] | None = None
    regress: RegressSettings | None = None
    tasks: tuple[TaskEntry, ...] | None = None


def parse_file(data: Mapping[str, Any], where: str) -> SuiteFile:
    """Validate one suite file's (or the merged suite's) data.

    Raises:
        SuiteError: one line, e.g. "suite s.yaml, task ATEC: unknown key `split`; did you mean `splits`?".
    """
    try:
        return SuiteFile.model_validate(data)
    except ValidationError as exc:
        raise suite_error(exc.errors()[0], data, where) from None


def suite_error(error: ErrorDetails, data: Mapping[str, Any], where: str) -> SuiteError:
    """Pydantic's error in a suite as one line naming the file, the section and task, the key, the fix."""
    loc, scope = list(error["loc"]), pydantic_fields(SuiteFile)
    if loc[:1] == ["tasks"] and len(loc) > 1 and isinstance(loc[1], int):
        entry = (data.get("tasks") or [None])[loc[1]]
        name = entry.get("name") if isinstance(entry, dict) else entry
        where += f", task {name}" if isinstance(name, str) and name.strip() else f", task {loc[1] + 1}"
        loc, scope = loc[2:], pydantic_fields(TaskSpec)
        if loc[:1] == ["local"]:
            where, loc, scope = f"{where}, local", loc[1:], pydantic_fields(LocalTaskSpec)
    elif loc[:1] == ["regress"]:
        where, loc, scope = f"{where}, regress", loc[1:], pydantic_fields(RegressSettings)
    key = ".".join(str(part) for part in loc if not isinstance(part, int))
    if is_unknown_key(error):
        return SuiteError(f"{where}: {unknown_key(key, scope)}")
    if error["type"] == "missing":
        return SuiteError(f"{where}: needs `{key}`")
    return SuiteError(f"{where}: `{key}` {describe(error)}" if key else f"{where}: {describe(error)}")


def model_layer(raw: Mapping[str, Any], where: str) -> SettingsLayer:
    """The suite's `model:` section as the settings layer under the command line's.

    Raises:
        SuiteError: an unknown key, a value the settings' schema refuses, or an opt-in without `name`.
    """
    for key in raw:
        if key not in SUITE_KEYS:
            raise SuiteError(f"{where}: {unknown_key(key, SUITE_KEYS)}")
    # The suite spells the model reference `name`; the settings record calls it `model`.
    values = {"model" if key == "name" else key: value for key, value in raw.items()}
    try:
        values = check_values(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise SuiteError(f"{where}: `{'name' if key == 'model' else key}` {describe(error)}") from None
    for key in OPT_INS:
        if values.get(key) and not values.get("model"):
            raise SuiteError(f"{where}: `{key}: true` must name the model it trusts; add `name: <model>` in the same section")
    return SettingsLayer("suite", values)
