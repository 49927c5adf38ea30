"""The one seam to mteb's and transformers' internals.

Every use of a name that mteb or transformers do not document as public lives here, so a new
release breaks one module, and the start-up self-check (`self_check`) says which piece no longer
fits. Public API (`mteb.get_task`, `mteb.get_model_meta`, `TaskResult`) is used directly elsewhere.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _registry() -> dict[str, type]:
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
