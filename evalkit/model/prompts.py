"""Which prompt (or instruction) a model gets for each task and side, and where it came from.

mteb resolves a prompt from a model's prompt table by task and side, first key found:
`<task>-<side>`, `<task>`, `<type>-<side>`, `<type>`, `<side>` (side = query/document; tasks
without sides use the type and task keys only). evalkit resolves the same way, with mteb's own
function, over one table whose source is known (the command line, the suite, mteb's model
registry, or the checkpoint's own config). A suite task's `prompts` (`query`, `document`, or `""`
for both) override the table for that task. Instruct models build their instruction per task;
`evalkit.model.presets` supplies those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PromptSource = Literal["cli", "suite", "registry", "checkpoint", "none"]


@dataclass(frozen=True)
class ResolvedPrompt:
    """The prompt text for one (task, side), None for no prompt, and where it came from."""

    text: str | None
    source: PromptSource
    key: str | None = None  # the table key or instruction rule that matched


def side_of(prompt_type: Any) -> str | None:
    """'query', 'document' or None for mteb's PromptType (or its value)."""
    if prompt_type is None:
        return None
    return str(getattr(prompt_type, "value", prompt_type))


@dataclass(frozen=True)
class PromptTable:
    """A prompt table resolved as mteb resolves `model_prompts`.

    Example::

        >>> table = PromptTable({"query": "为这个句子生成表示以用于检索相关文章："}, "registry")
        >>> table.resolve(mteb.get_task("T2Reranking").metadata, "query").text
        '为这个句子生成表示以用于检索相关文章：'
    """

    prompts: Mapping[str, str] = field(default_factory=dict)
    source: PromptSource = "none"
    # Instruct models: a function (task metadata, side) -> (instruction or None, rule) from presets.
    instruction: Callable[[Any, str | None], tuple[str | None, str]] | None = None

    def resolve(self, task_metadata: Any, prompt_type: Any) -> ResolvedPrompt:
        """The prompt for this task and side."""
        if self.instruction is not None:
            text, rule = self.instruction(task_metadata, side_of(prompt_type))
            return ResolvedPrompt(text or None, self.source if text else "none", rule)
        if not self.prompts:
            return ResolvedPrompt(None, "none")
        from mteb.models.abs_encoder import get_prompt, get_prompt_name
        from mteb.types import PromptType

        side = side_of(prompt_type)
        pt = PromptType(side) if side else None
        key = get_prompt_name(dict(self.prompts), task_metadata, pt)
        text = get_prompt(dict(self.prompts), task_metadata, pt)
        return ResolvedPrompt(text or None, self.source if text else "none", key)


def with_task_prompts(table: PromptTable, task_prompts: Mapping[str, str], task_metadata: Any, prompt_type: Any) -> ResolvedPrompt:
    """A suite task's own prompts (`query`, `document`, or `""` for both sides) over the table."""
    if task_prompts:
        side = side_of(prompt_type)
        if side and side in task_prompts:
            return ResolvedPrompt(task_prompts[side] or None, "suite", f"task {side}")
        if "" in task_prompts:
            return ResolvedPrompt(task_prompts[""] or None, "suite", "task")
    return table.resolve(task_metadata, prompt_type)


def task_sides(task: Any) -> list[str | None]:
    """The sides mteb encodes a task's texts with.

    Query and document for retrieval and reranking, the pair's prompt types for STS and pair
    classification (none for C-MTEB tasks), else none.
    """
    if task.metadata.type in ("Retrieval", "Reranking"):
        return ["query", "document"]
    sides = [side_of(getattr(task, "input1_prompt_type", None)), side_of(getattr(task, "input2_prompt_type", None))]
    return list(dict.fromkeys(sides))


def default_prompts(resolved: Any, settings: Any, source: PromptSource = "suite") -> PromptTable:
    """The prompt table without a registry preset: the settings' prompts, else the checkpoint's own."""
    from evalkit.model.source import own_prompts

    if settings.prompts:
        return PromptTable(dict(settings.prompts), source)
    own = own_prompts(resolved)
    return PromptTable(own, "checkpoint") if own else PromptTable()
