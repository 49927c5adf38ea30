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

FIX = (
    "set HF_HUB_OFFLINE=1 to use only the local cache, pass --data-dir MIRROR for datasets "
    "(made with `evalkit data pull SUITE --data-dir DIR` on a machine that reaches the Hub), "
    "or a local model folder for --model"
)


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


def offline_unless_reachable() -> str | None:
    """Switch to offline mode when the Hub cannot be reached; returns a note saying so, or None.

    Must run before huggingface_hub or datasets are imported: both read the switch at import.
    """
    if is_offline():
        return None
    if reachable():
        return None
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    return f"the Hub ({endpoint()}) cannot be reached: running offline from the local cache"


_NETWORK_ERRORS = ("LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError", "ConnectTimeout", "MaxRetryError")


def network_reason(exc: BaseException, what: str) -> str | None:
    """One line for a failure that needed the network (None when `exc` is something else).

    Args:
        exc: the exception a load raised (its chain is searched too).
        what: what was being fetched, e.g. "dataset C-MTEB/AFQMC".
    """
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in _NETWORK_ERRORS or "Couldn't reach" in str(seen):
            where = "offline mode is on" if is_offline() else f"the Hub ({endpoint()}) cannot be reached"
            return f"{what}: not in the local cache and {where}; {FIX}"
        seen = seen.__cause__ or seen.__context__
    return None
