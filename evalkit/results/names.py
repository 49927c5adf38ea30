"""Two naming rules every stage shares: a task's mteb type, and whether two model names are one model."""

from __future__ import annotations

import re


def task_type_of(task: str) -> str:
    """Mteb's task type of a registered task (`STS`, `Retrieval`...); "" for a task mteb does not know.

    Example:
        >>> task_type_of("STSBenchmark"), task_type_of("NoSuchTask")
        ('STS', '')
    """
    from evalkit._compat.mteb import task_metadata

    meta = task_metadata(task)
    return str(meta.type) if meta is not None else ""


def _last_part(name: str) -> str:
    # `org/name` on the Hub and in cards, `org__name` as mteb and evalkit name result folders.
    return re.split(r"/|__", name.strip().rstrip("/"))[-1].lower()


def same_model(a: str, b: str) -> bool:
    """True when two model names name the same model: equal, or equal last path components.

    `sentence-transformers/all-MiniLM-L6-v2`, `all-MiniLM-L6-v2` and
    `sentence-transformers__all-MiniLM-L6-v2` are one model; case does not matter.
    """
    return a.strip().lower() == b.strip().lower() or _last_part(a) == _last_part(b)
