"""The results-folder locks: try_lock never waits, locked waits; both hold across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from evalkit._io import locked, try_lock

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from evalkit._io import locked
    lock, ready, release = (Path(a) for a in sys.argv[1:4])
    with locked(lock):
        ready.write_text("held")
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    """
)


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"lock holder exited early ({proc.returncode})"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def test_try_lock_in_one_process(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / "task.lock"
    with try_lock(lock) as first:
        assert first is True
        with try_lock(lock) as second:
            assert second is False
    with try_lock(lock) as again:
        assert again is True  # released on leaving the block


def test_locks_hold_across_processes(tmp_path: Path) -> None:
    lock, ready, release = tmp_path / "m.lock", tmp_path / "ready", tmp_path / "release"
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock), str(ready), str(release)])
    try:
        _wait_for(ready, proc)
        with try_lock(lock) as got:
            assert got is False
        release.write_text("")
        start = time.monotonic()
        with locked(lock):  # waits for the holder to let go, then holds it
            assert proc.wait(timeout=60) == 0
            with try_lock(lock) as got:
                assert got is False
        assert time.monotonic() - start < 60
    finally:
        release.touch()
        proc.wait(timeout=60)


def test_no_posix_only_imports() -> None:
    # fcntl does not exist on Windows: a module importing it would make reading results fail to import there.
    import ast

    root = Path(__file__).resolve().parents[1] / "evalkit"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in {"fcntl", "termios", "pwd", "grp", "resource"}
            ]
    assert offenders == []
