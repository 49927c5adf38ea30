"""Is the Hub reachable, and what to tell a user when it is not.

Without a network, huggingface_hub retries every request five times with back-off (about 25 s a
file) and logs each try; a run then fails task by task with `ConnectionError`. evalkit asks once,
in under a few seconds, before any library is imported: when the Hub cannot be reached it switches
huggingface_hub and datasets to offline mode (what is in the local cache still works, at once), and
failures that need the network become one line naming what could not be reached and the way forward.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

PROBE_TIMEOUT = 3.0  # seconds: a reachable Hub answers a HEAD well within this

DATA_FIX = "pass --data-dir MIRROR (made with `evalkit data pull SUITE --data-dir DIR` on a machine that reaches the Hub)"
MODEL_FIX = "pass a local checkpoint folder as --model, or fetch the model where the Hub is reachable and copy its HF_HOME cache"


def endpoint() -> str:
    """The Hub endpoint huggingface_hub would use ($HF_ENDPOINT or huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def is_offline() -> bool:
    """True when the user (or evalkit) switched huggingface_hub to offline mode."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def reachable(url: str | None = None, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when the Hub answers at all (any HTTP status counts; proxies from the environment apply)."""
    request = urllib.request.Request(url or endpoint(), method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except (urllib.error.URLError, OSError, ValueError):
        return False


_SWITCHED: list[str] = []  # the note, once evalkit switched this process to offline mode


def switched() -> str | None:
    """The note of `offline_unless_reachable` when it switched this process to offline mode, else None."""
    return _SWITCHED[0] if _SWITCHED else None


def offline_unless_reachable() -> str | None:
    """Switch to offline mode when the Hub cannot be reached; returns a note saying so, or None.

    Must run before huggingface_hub or datasets are imported: both read the switch at import.
    Asked again in the same process, it returns the same note without probing.
    """
    if _SWITCHED:
        return _SWITCHED[0]
    if is_offline() or reachable():
        return None
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    _SWITCHED.append(f"the Hub ({endpoint()}) cannot be reached: running offline from the local cache")
    return _SWITCHED[0]


_NETWORK_ERRORS = ("LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError", "ConnectTimeout", "MaxRetryError")


def _where() -> str:
    if switched() or not is_offline():
        return f"the Hub ({endpoint()}) cannot be reached"
    return "HF_HUB_OFFLINE is set"


def network_reason(exc: BaseException, what: str, fix: str = DATA_FIX) -> str | None:
    """One line for a failure that needed the network (None when `exc` is something else).

    Args:
        exc: the exception a load raised (its chain is searched too).
        what: what was being fetched, e.g. "dataset C-MTEB/AFQMC".
        fix: the way forward (datasets: a mirror; models: a local folder).
    """
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in _NETWORK_ERRORS or "Couldn't reach" in str(seen):
            return f"{what}: not in the local cache and {_where()}; {fix}"
        seen = seen.__cause__ or seen.__context__
    return None


def dataset_cached(path: str, revision: str | None) -> bool:
    """True when the Hub dataset `path` at `revision` is in the local Hub cache (asks no network)."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(path, repo_type="dataset", revision=revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means "not there"
        return False
    return True


def missing_datasets(datasets: list[tuple[str, str | None]]) -> list[str]:
    """The Hub datasets of a run that offline mode cannot load (none when online: they download)."""
    if not is_offline():
        return []
    return [path for path, revision in datasets if not dataset_cached(path, revision)]
