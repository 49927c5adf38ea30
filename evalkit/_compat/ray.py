"""The one seam to Ray's internals: where `--ray auto` points before connecting.

`ray.init(address="auto")` finds the cluster last started on this machine, but when none answers it
retries for minutes. evalkit asks Ray's own lookup first
(`ray._private.services.canonicalize_bootstrap_address_or_die`, private) so that a missing cluster is
one line in seconds. `self_check` says when that name no longer fits (or
`EVALKIT_DISABLE_HOOKS=ray-auto` switches it off); then the early check is skipped and `ray.init`
reports instead, slower, with the same result.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable


def _lookup() -> Callable[..., str] | None:
    off = {s.strip() for s in os.environ.get("EVALKIT_DISABLE_HOOKS", "").split(",")}
    if "all" in off or "ray-auto" in off:
        return None
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die
    except (ImportError, AttributeError):
        return None
    try:
        if "addr" not in inspect.signature(canonicalize_bootstrap_address_or_die).parameters:
            return None
    except (TypeError, ValueError):
        return None
    return canonicalize_bootstrap_address_or_die


def auto_address() -> str | None:
    """HOST:PORT of the cluster `auto` means, or None when Ray's lookup is not available here.

    Raises:
        ConnectionError: no cluster was started on this machine.
    """
    lookup = _lookup()
    return None if lookup is None else str(lookup("auto"))


@functools.cache
def self_check() -> dict[str, str]:
    """{piece: problem} for the Ray internals evalkit uses; empty when they fit (or Ray is absent)."""
    try:
        import ray  # noqa: F401 - only whether it is installed
    except ImportError:
        return {}
    return {} if _lookup() is not None else {"ray-auto": "ray._private.services.canonicalize_bootstrap_address_or_die no longer fits"}


def self_check_notes() -> list[str]:
    """One line per piece that does not fit, saying what that costs."""
    return [
        f"ray {name} is off ({problem}): --ray auto without a cluster fails after Ray's retries instead of at once"
        for name, problem in self_check().items()
    ]
