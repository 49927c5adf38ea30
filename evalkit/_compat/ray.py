"""The one seam to Ray's internals: where `--ray auto` points before connecting, and process titles.

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
from collections.abc import Callable

from evalkit._compat import cost_notes, switched_off


def _lookup() -> Callable[..., str] | None:
    if switched_off("ray-auto"):
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


def _title_setter() -> Callable[[str], None] | None:
    if switched_off("ray-title"):
        return None
    try:
        from ray._raylet import setproctitle  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return None
    return setproctitle if callable(setproctitle) else None


def set_title(title: str) -> None:
    """Name this Ray worker process `ray::<title>` (as `ps` and `ray list` show it): which task or shard a resident encoder is on.

    Ray's own setter (`ray._raylet.setproctitle`, private), which Ray uses for `ray::Class.method`;
    where it no longer fits (or `EVALKIT_DISABLE_HOOKS=ray-title`) the process keeps Ray's title.
    """
    setter = _title_setter()
    if setter is not None:
        try:
            setter(f"ray::{title}")
        except Exception:  # noqa: BLE001 - a process title, never a reason to fail a task
            return


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
    problems = {}
    if _lookup() is None:
        problems["ray-auto"] = "ray._private.services.canonicalize_bootstrap_address_or_die no longer fits"
    if _title_setter() is None:
        problems["ray-title"] = "ray._raylet.setproctitle no longer fits"
    return problems


def self_check_notes() -> list[str]:
    """One line per piece that does not fit, saying what that costs."""
    costs = {
        "ray-auto": "--ray auto without a cluster fails after Ray's retries instead of at once",
        "ray-title": "resident encoders keep Ray's process title (ray::ResidentEncoder.run), not the task they run",
    }
    return cost_notes("ray", self_check(), costs)
