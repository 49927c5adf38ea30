"""Small file helpers: atomic writes, safe path parts, locks, moving broken files aside."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout  # an OS lock: flock, or msvcrt on Windows, where fcntl does not exist

from evalkit.errors import OutputError

_SAFE = re.compile(r"[^A-Za-z0-9._+=-]")
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"


def _writer() -> str:
    # Per call, not per import: a forked child has its own pid and must not share temp names.
    return f"{_HOST}-{os.getpid()}"


def safe_part(name: str) -> str:
    """Make `name` one safe path component: no separators, no leading dots, no odd characters.

    Model names use mteb's convention, `org/name` -> `org__name`.
    """
    part = _SAFE.sub("_", name.replace("/", "__")).lstrip(".")
    return part[:150] or "_"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` via a temporary file and a rename: readers never see half a file.

    Raises:
        OutputError: when the folder cannot be created or written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{_writer()}.tmp")
        with tmp.open("wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path} ({exc.strerror or exc}); choose a writable folder") from None


def remove_stale_temps(folder: Path) -> int:
    """Delete the temporary files that writers on this host left when they were killed mid-write.

    A temporary file is named after its writer (host and pid): one whose process on this host is
    gone will never be renamed into place. Other hosts' files are left alone (a shared folder may
    have live writers elsewhere). Returns how many were removed.
    """
    removed = 0
    for tmp in folder.rglob(f".*.{_HOST}-*.tmp"):
        pid = tmp.name[: -len(".tmp")].rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    if os.name == "nt":
        return True  # os.kill(pid, 0) would end the process on Windows: keep the file rather than guess
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def move_aside(path: Path, reason: str = "corrupt") -> Path:
    """Rename a broken file to `<name>.<reason>-<timestamp>` next to it (never delete)."""
    target = path.with_name(f"{path.name}.{reason}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(path, target)
    return target


def check_writable(folder: Path) -> None:
    """Create `folder` and prove it is writable.

    Raises:
        OutputError: naming the folder.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".evalkit-write-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"output folder {folder}: not writable ({exc.strerror or exc}); pass --output with a writable folder") from None


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive, non-blocking lock on `path` for the block; yields False if another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block, waiting for it if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), timeout=-1):
        yield
