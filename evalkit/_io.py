"""Small file helpers: atomic writes, safe path parts, locks, moving broken files aside."""

from __future__ import annotations

import contextlib
import errno
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


def temp_path(final: Path) -> Path:
    """The temporary file a writer on this host and process writes before renaming it to `final`."""
    return final.with_name(f".{final.name}.{_writer()}.tmp")


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
    payload = data if isinstance(data, bytes) else data.encode("utf-8")
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.is_dir():
            kind = "a symbolic link" if path.is_symlink() else "a folder"
            raise OutputError(f"cannot write {path}: it is {kind}, which evalkit does not replace; remove it or choose another folder")
        with open_exclusive(tmp) as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_error(path, exc, len(payload)) from None
    except BaseException:  # Ctrl-C mid-write: no temporary file left behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def open_exclusive(tmp: Path) -> Any:
    """Open a new temporary file for writing: never an existing file, never through a symbolic link.

    A leftover of this very writer (same host and pid, a crash of a forked parent) or a planted link
    under its name is removed first (the link itself, not what it points at).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileExistsError:
        tmp.unlink()
        fd = os.open(tmp, flags, 0o644)
    return os.fdopen(fd, "wb")


def write_error(path: Path, exc: OSError, size: int | None = None) -> OutputError:
    """The one-line error for a failed write: a full disk says how much room was needed and left."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        free = _free_bytes(path.parent)
        need = f"{size:,} bytes needed, " if size is not None else ""
        return OutputError(
            f"cannot write {path}: the disk is full ({need}{free:,} bytes free there); free some space or choose another folder"
        )
    if exc.errno == errno.EROFS:
        return OutputError(f"cannot write {path}: the file system is read-only; choose a writable folder")
    return OutputError(f"cannot write {path} ({exc.strerror or exc}); choose a writable folder")


def _free_bytes(folder: Path) -> int:
    for candidate in (folder, *folder.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize
    return 0


def remove_stale_temps(folder: Path, *, recursive: bool = True, older_than: float | None = None) -> int:
    """Delete the temporary files that writers left when they were killed mid-write.

    A temporary file is named after its writer (host and pid): one whose process on this host is
    gone will never be renamed into place. Other hosts' files are left alone (a shared folder may
    have live writers elsewhere), unless `older_than` (seconds) is given and they are older: no
    writer of evalkit's takes hours over one file. Returns how many were removed.
    """
    removed, now = 0, time.time()
    for tmp in (folder.rglob if recursive else folder.glob)(".*.tmp"):
        pid = tmp.name[: -len(".tmp")].rsplit("-", 1)[-1]
        mine = pid.isdigit() and tmp.name.endswith(f".{_HOST}-{pid}.tmp")
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            dead = mine and int(pid) != os.getpid() and not _alive(int(pid))
            if dead or (older_than is not None and now - tmp.lstat().st_mtime > older_than):
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


def check_writable(folder: Path, flag: str = "--output", *, create: bool = True) -> None:
    """Create `folder` and prove it is writable (before a run starts, not after it).

    With `create=False` nothing is left behind: the probe goes into the nearest folder that exists.

    Raises:
        OutputError: naming the folder, what is wrong (a file, a read-only or full disk) and `flag`.
    """
    what = "output folder" if flag == "--output" else f"{flag} folder"
    for part in (folder, *folder.parents):
        if part.exists() or part.is_symlink():
            if not part.is_dir():
                where = "it is a file" if part == folder else f"{part} is a file"
                raise OutputError(f"{what} {folder}: not writable, {where}, not a folder; pass {flag} with a folder")
            break
    base = folder if create else next((p for p in (folder, *folder.parents) if p.is_dir()), folder)
    probe = base / f".evalkit-write-probe-{_writer()}.tmp"
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        with open_exclusive(probe) as f:
            f.write(b"probe")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutputError(
                f"{what} {folder}: the disk is full ({_free_bytes(folder):,} bytes free); free some space or pass {flag} elsewhere"
            ) from None
        raise OutputError(f"{what} {folder}: not writable ({exc.strerror or exc}); pass {flag} with a writable folder") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def check_lock_path(path: Path) -> None:
    """Create the lock's folder and refuse a lock file that is a symbolic link or a name too long.

    Call it before taking any lock (fcntl or filelock): a planted link would make the lock create or
    truncate a file outside the folder.

    Raises:
        OutputError: naming the lock file.
    """
    if len(path.name.encode("utf-8", "surrogatepass")) > 255:
        raise OutputError(f"cannot lock {path.parent}/{path.name[:40]}...: the name is over 255 bytes; use a shorter task name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path.parent, exc) from None
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise OutputError(f"lock file {path}: is a symbolic link or not a file; evalkit does not follow it, remove it and rerun")


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive, non-blocking lock on `path` for the block; yields False if another holds it."""
    check_lock_path(path)  # refuses a planted symlink before filelock opens the file
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
    check_lock_path(path)  # refuses a planted symlink before filelock opens the file
    with FileLock(str(path), timeout=-1):
        yield
