"""Which prompt (or instruction) a model gets for each task and side, and where it came from.

This module is the one place that decides it; the encoder, the settings record, the plan and the
manifest all ask a `PromptTable`, and a Ray job carries the run's table to its workers.

mteb resolves a prompt from a model's prompt table by task and side, first key found:
`<task>-<side>`, `<task>`, `<type>-<side>`, `<type>`, `<side>` (side = query/document; tasks
without sides use the type and task keys only). evalkit resolves the same way, with mteb's own
function, over one table whose source is known (the command line, the suite, mteb's model
registry, or the checkpoint's own config). A suite task's `prompts` (`query`, `document`, or `""`
for both) override the table for that task. Instruct models build their instruction per task as
mteb's instruct wrapper for that registry entry would (`evalkit._compat.mteb_registry.shell_prompt`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from evalkit import _parse
from evalkit.errors import DataError

PromptSource = Literal["cli", "suite", "registry", "checkpoint", "none"]


@dataclass(frozen=True)
class ResolvedPrompt:
    """The prompt text for one (task, side), None for no prompt, and where it came from."""

    text: str | None
    source: PromptSource
    key: str | None = None  # the table key or instruction rule that matched


@dataclass(frozen=True)
class PromptRow:
    """The prompt (or instruction) one task gets on one side, and its source: a plan or manifest row."""

    task: str
    task_type: str
    side: str | None  # "query", "document" or None
    prompt: str | None
    source: str


def side_of(prompt_type: Any) -> str | None:
    """'query', 'document' or None for mteb's PromptType (or its value)."""
    if prompt_type is None:
        return None
    return str(getattr(prompt_type, "value", prompt_type))


@dataclass(frozen=True)
class PromptTable:
    """A run's prompts: a table resolved as mteb resolves `model_prompts`, or an instruct model's rule.

    Plain data (it is pickled into Ray jobs). Example::

        >>> table = PromptTable({"query": "为这个句子生成表示以用于检索相关文章："}, "registry")
        >>> table.resolve(mteb.get_task("T2Reranking").metadata, "query").text
        '为这个句子生成表示以用于检索相关文章：'
    """

    prompts: Mapping[str, str] = field(default_factory=dict)
    source: PromptSource = "none"
    # Instruct models: the registry entry whose instruct wrapper builds each task's instruction.
    instruct: str | None = None

    def resolve(self, task_metadata: Any, prompt_type: Any) -> ResolvedPrompt:
        """The table's prompt for this task and side (a suite task's own prompts not applied)."""
        if self.instruct is not None:
            text = _instruction(self.instruct, task_metadata, side_of(prompt_type))
            return ResolvedPrompt(text or None, self.source if text else "none", "instruct wrapper")
        if not self.prompts:
            return ResolvedPrompt(None, "none")
        from evalkit._compat.mteb import table_prompt

        key, text = table_prompt(dict(self.prompts), task_metadata, side_of(prompt_type))
        return ResolvedPrompt(text or None, self.source if text else "none", key)

    def for_task(self, task_prompts: Mapping[str, str], task_metadata: Any, prompt_type: Any) -> ResolvedPrompt:
        """The prompt a task gets on a side: the suite task's own prompts (`query`, `document`, `""`), else the table's."""
        if task_prompts:
            side = side_of(prompt_type)
            if side and side in task_prompts:
                return ResolvedPrompt(task_prompts[side] or None, "suite", f"task {side}")
            if "" in task_prompts:
                return ResolvedPrompt(task_prompts[""] or None, "suite", "task")
        return self.resolve(task_metadata, prompt_type)

    def instructions(self, task: Any) -> dict[str, str | None] | None:
        """An instruct model's instruction on each side of a task (for the settings record), else None."""
        if self.instruct is None:
            return None
        return {str(side): self.resolve(task.metadata, side).text for side in task_sides(task)}

    def record(self) -> dict[str, Any]:
        """JSON-ready: what identifies the table (part of an encoder's identity in a worker process)."""
        return {"prompts": dict(self.prompts), "source": self.source, "instruct": self.instruct}


def check_table(prompts: object, where: str) -> PromptTable:
    """The table itself; anything else (a plain dict of prompts loses instructions and sources) is refused.

    Raises:
        TypeError: naming the caller and the fix.
    """
    if not isinstance(prompts, PromptTable):
        raise TypeError(
            f"{where}: prompts must be a PromptTable, not {type(prompts).__name__}; "
            "build it with evalkit.model.prompts.prompt_table_for (or PromptTable(dict, source))"
        )
    return prompts


def _instruction(name: str, task_metadata: Any, side: str | None) -> str | None:
    import warnings

    from evalkit._compat.mteb_registry import registry_shell, shell_prompt

    with warnings.catch_warnings():
        # mteb warns when a task has no prompt for a side; that side then gets none, as in mteb.
        warnings.simplefilter("ignore", UserWarning)
        return shell_prompt(registry_shell(name), task_metadata, side)


def task_sides(task: Any) -> list[str | None]:
    """The sides mteb encodes a task's texts with.

    Query and document for retrieval and reranking, the pair's prompt types for STS and pair
    classification (none for C-MTEB tasks), else none.
    """
    if task.metadata.type in ("Retrieval", "Reranking"):
        return ["query", "document"]
    sides = [side_of(getattr(task, "input1_prompt_type", None)), side_of(getattr(task, "input2_prompt_type", None))]
    return list(dict.fromkeys(sides))


def own_prompts(resolved: Any) -> dict[str, str]:
    """The prompts a sentence-transformers checkpoint declares in config_sentence_transformers.json."""
    path = resolved.path / "config_sentence_transformers.json"
    try:
        return dict(_parse.read_json(path).get("prompts") or {})
    except (DataError, ValueError, TypeError, AttributeError):
        return {}


def default_prompts(resolved: Any, settings: Any, source: PromptSource = "suite") -> PromptTable:
    """The prompt table without a registry preset: the settings' prompts, else the checkpoint's own."""
    if settings.prompts:
        return PromptTable(dict(settings.prompts), source)
    own = own_prompts(resolved)
    return PromptTable(own, "checkpoint") if own else PromptTable()


def prompt_table_for(resolved: Any, settings: Any, sources: Mapping[str, str]) -> PromptTable:
    """The prompt table of a run, by source.

    The command line's or suite's prompts, else the registry's (or its instruct wrapper's
    instructions), else the checkpoint's own, else none.
    """
    from evalkit.model.presets import find_preset

    if resolved.kind == "mteb":
        # mteb's wrapper applies its own prompts; shown (not applied) as mteb resolves them.
        preset = find_preset(settings.model)
        return PromptTable(dict(preset.model_prompts), "registry") if preset is not None else PromptTable()
    if resolved.kind != "sentence-transformers":
        return PromptTable()  # a Python factory's object applies its own prompts
    source = sources.get("prompts", "default")
    if source in ("cli", "suite"):
        return default_prompts(resolved, settings, source)  # type: ignore[arg-type]
    preset = find_preset(settings.model)
    if preset is not None and preset.kind == "instruct":
        return PromptTable({}, "registry", instruct=preset.name)
    return default_prompts(resolved, settings, "registry")  # the registry's table, else the checkpoint's


def prompt_rows(built: Iterable[Any], table: PromptTable, *, own_prompts: bool = False) -> list[PromptRow]:
    """One row per task and side: the prompt that task gets there and where it came from.

    `own_prompts`: the model is a Python object that applies its own prompts, invisible to evalkit.
    """
    rows = []
    for b in built:
        for side in task_sides(b.task):
            if own_prompts:
                rows.append(PromptRow(b.name, b.task_type, side_of(side), None, "model's own"))
                continue
            resolved = table.for_task(b.spec.prompts, b.task.metadata, side)
            rows.append(PromptRow(b.name, b.task_type, side_of(side), resolved.text, resolved.source))
    return rows
