"""The one seam to mteb's and transformers' internals.

Every use of a name that mteb or transformers do not document as public lives here, so a new
release breaks one module, and the start-up self-check (`self_check`) says which piece no longer
fits. Public API (`mteb.get_task`, `mteb.get_model_meta`, `TaskResult`) is used directly elsewhere.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from evalkit._compat import OFF_BY_HAND, switched_off


@functools.cache
def _registry() -> dict[str, Any]:  # task classes, each with a `metadata` attribute
    # mteb.get_task() builds a task object (and warns for superseded tasks); name lookups for
    # validation, card parsing and table building only need the class and its metadata.
    from mteb.get_tasks import _TASKS_REGISTRY

    return dict(_TASKS_REGISTRY)


def task_metadata(name: str) -> Any | None:
    """The `TaskMetadata` of a registered mteb task, or None when `name` is not one."""
    cls = _registry().get(name)
    return cls.metadata if cls is not None else None


def has_task(name: str) -> bool:
    """True when `name` is a task in mteb's registry."""
    return name in _registry()


def task_names() -> list[str]:
    """Every task name in mteb's registry."""
    return list(_registry())


def renamed_tasks() -> dict[str, str]:
    """Old task names that mteb renamed (as mteb itself maps them when loading old results)."""
    from mteb.results.task_result import renamed_tasks as renamed

    return dict(renamed)


# ---------------------------------------------------------------------------------------------
# Hooks into mteb's task classes: speed-ups and per-example capture.
#
# Each hook wraps one method of one task *instance* (or, for the text dataloader, one module
# function) for the duration of one evaluation, binds the call by parameter name, and is always
# undone. `self_check` verifies at start-up that every hooked name still exists with the parameters
# the wrapper reads; a hook that no longer fits is switched off (the run says which and what that
# costs) and mteb's own code runs unchanged, so scores stay correct.


@dataclass(frozen=True)
class Hook:
    """One wrapped mteb function: what it is for, where it lives, which parameters it reads."""

    name: str
    purpose: Literal["speed", "per-example scores"]
    owner: str  # "module:Class" or "module"
    attr: str
    params: tuple[str, ...]


HOOKS: tuple[Hook, ...] = (
    Hook("classification-undersample", "speed", "mteb.abstasks.classification:AbsTaskClassification", "_undersample_data", ("dataset",)),
    Hook(
        "classification-experiment",
        "speed",
        "mteb.abstasks.classification:AbsTaskClassification",
        "_run_experiment",
        ("train_split", "eval_split"),
    ),
    Hook("clustering-labels", "speed", "mteb.abstasks.clustering_legacy:AbsTaskClusteringLegacy", "_compute_metrics", ("labels",)),
    Hook("text-dataloader", "speed", "mteb._create_dataloaders", "_create_dataloader_from_texts", ("text",)),
    Hook("subset", "per-example scores", "mteb.abstasks.abstask:AbsTask", "_evaluate_subset", ("data_split", "hf_split", "hf_subset")),
    Hook("sts-scores", "per-example scores", "mteb.abstasks.sts:AbsTaskSTS", "_calculate_scores", ("scores", "normalized_scores")),
    Hook(
        "pair-scores",
        "per-example scores",
        "mteb.abstasks.pair_classification:AbsTaskPairClassification",
        "_compute_metrics",
        ("similarity_scores", "labels"),
    ),
    Hook(
        "classification-scores",
        "per-example scores",
        "mteb.abstasks.classification:AbsTaskClassification",
        "_calculate_scores",
        ("y_test", "y_pred"),
    ),
    Hook(
        "retrieval-scores",
        "per-example scores",
        "mteb.abstasks.retrieval:AbsTaskRetrieval",
        "task_specific_scores",
        ("scores", "qrels", "results", "hf_split", "hf_subset"),
    ),
)
HOOKS_BY_NAME = {h.name: h for h in HOOKS}


def resolve_owner(owner: str) -> Any:
    module_name, _, cls_name = owner.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, cls_name) if cls_name else module


def params_problem(func: Any, params: tuple[str, ...]) -> str | None:
    try:
        names = set(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return "has no readable signature"
    absent = [p for p in params if p not in names]
    return f"lost parameter(s) {', '.join(absent)}" if absent else None


@functools.cache
def self_check() -> dict[str, str]:
    """Which hooks do not fit this mteb: {hook name: problem}. Empty when all fit.

    `EVALKIT_DISABLE_HOOKS` (comma-separated hook names, or `all`) switches hooks off by hand.
    """
    problems: dict[str, str] = {}
    for hook in HOOKS:
        if switched_off(hook.name):
            problems[hook.name] = OFF_BY_HAND
            continue
        try:
            func = getattr(resolve_owner(hook.owner), hook.attr)
        except (ImportError, AttributeError):
            problems[hook.name] = f"{hook.owner.replace(':', '.')}.{hook.attr} no longer exists"
            continue
        problem = params_problem(func, hook.params)
        if problem:
            problems[hook.name] = f"{hook.owner.replace(':', '.')}.{hook.attr} {problem}"
    return problems


def self_check_notes() -> list[str]:
    """One line per hook that is off, saying what that costs; empty when every hook fits."""
    return prompt_lookup_notes() + [
        f"mteb hook {name} is off ({problem}): "
        + (
            "that speed-up is skipped; scores are unaffected"
            if HOOKS_BY_NAME[name].purpose == "speed"
            else "no per-example scores for it; regress falls back to tolerance alone"
        )
        for name, problem in self_check().items()
    ]


# ---------------------------------------------------------------------------------------------
# mteb's prompt lookup (`mteb.models.abs_encoder.get_prompt_name`, not exported): the model
# prompt table's key for a task and side. When it no longer fits, evalkit's copy of mteb 2.26's
# documented order is used instead, and the run says so.


def _mteb_prompt_name() -> Callable[..., str | None] | None:
    if switched_off("prompt-lookup"):
        return None
    try:
        from mteb.models.abs_encoder import get_prompt_name
    except ImportError:
        return None
    if params_problem(get_prompt_name, ("model_prompts", "task_metadata", "prompt_type")):
        return None
    return get_prompt_name


def _own_prompt_name(prompts: dict[str, str], task_metadata: Any, side: str | None) -> str | None:
    # mteb 2.26's order: <task>-<side>, <task>, <type>-<side>, <type>, <side>.
    task, kind = task_metadata.name, task_metadata.type
    candidates = [f"{task}-{side}" if side else None, task, f"{kind}-{side}" if side and kind else None, kind, side]
    return next((c for c in candidates if c and c in prompts), None)


def table_prompt(prompts: dict[str, str], task_metadata: Any, side: str | None) -> tuple[str | None, str | None]:
    """(key, prompt) a model prompt table gives a task on a side, as mteb picks it; (None, None) when none."""
    if not prompts:
        return None, None
    lookup = _mteb_prompt_name()
    if lookup is None:
        key = _own_prompt_name(prompts, task_metadata, side)
    else:
        from mteb.types import PromptType

        key = lookup(prompts, task_metadata, PromptType(side) if side else None)
    return key, (prompts.get(key) if key else None)


def prompt_lookup_notes() -> list[str]:
    """One line when mteb's prompt lookup is not used, else none."""
    if _mteb_prompt_name() is not None:
        return []
    return [
        "mteb's prompt lookup (mteb.models.abs_encoder.get_prompt_name) is off or no longer fits: "
        "evalkit resolves prompts with its own copy of mteb 2.26's order (task-side, task, type-side, type, side)"
    ]
