"""The terminal of `evalkit run` as a person sees it: run under a pseudo terminal, read what it drew."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from .conftest import MIRROR

pytestmark = pytest.mark.slow

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(args: list[str], cwd: Path, timeout: float = 600) -> tuple[int, str]:
    """Run `evalkit ARGS` with stdout and stderr on a pseudo terminal; returns (exit code, everything drawn)."""
    main, child = pty.openpty()
    # A real terminal has a size; a new pseudo terminal has 0 columns, where tqdm draws nothing.
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "evalkit.cli", *args], stdin=child, stdout=child, stderr=child, cwd=cwd, env=env)
    os.close(child)
    out = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out.extend(chunk)
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(main)
    return code, out.decode("utf-8", "replace")


def screen_segments(raw: str) -> list[str]:
    """What each redraw left on a line: the text between carriage returns and newlines, escapes removed."""
    return [s.strip() for s in re.split(r"[\r\n]", _ANSI.sub("", raw)) if s.strip()]


def check_terminal(raw: str) -> list[str]:
    segments = screen_segments(raw)
    bars = [s for s in segments if re.search(r"\d+%\|", s)]
    assert bars, "a terminal run draws the tasks bar"
    for s in segments:
        if re.search(r"\d+%\|", s):
            # A bar segment holds the bar alone: a line written over it would share its segment.
            assert not re.search(r"\b(done|failed|warning|Warning)\b", s.split("|", 1)[0] + s.rsplit("]", 1)[-1]), s
    warnings = [s for s in segments if s.startswith("warning")]
    assert len(warnings) == len(set(warnings)), f"a warning was printed twice: {warnings}"
    # mteb's own bars stay off inside evalkit's.
    assert not any("Searching corpus chunks" in s or "Reranking queries" in s for s in segments)
    assert "warnings.warn(" not in raw and "Traceback" not in raw
    return segments


def test_the_smoke_run_draws_one_bar_with_lines_above_it(tmp_path: Path):
    repo = Path(__file__).resolve().parents[1]
    code, raw = run_in_pty(["run", "configs/smoke.yaml", "--output", str(tmp_path / "results"), "--no-cache"], repo)
    assert code == 0, raw[-2000:]
    segments = check_terminal(raw)
    done = [s for s in segments if s.startswith("done")]
    assert sorted(s.split()[1] for s in done) == sorted(
        ["SmokeSTS", "SmokePairClassification", "SmokeClassification", "SmokeClustering", "SmokeRetrieval", "SmokeReranking"]
    )
    log = next((tmp_path / "results").rglob("evalkit/run.log")).read_text()
    assert "run started" in log


@pytest.mark.skipif(not MIRROR.is_dir(), reason="needs ../shared/mirror (the offline mirror of real tasks)")
def test_a_mirror_run_shows_library_warnings_once_and_keeps_them(tmp_path: Path):
    repo = Path(__file__).resolve().parents[1]
    args = ["run", "--tasks", "STSBenchmark,Ocnli", "--data-dir", str(MIRROR), "--output", str(tmp_path / "results"), "--no-cache"]
    code, raw = run_in_pty(args, repo)
    assert code == 0, raw[-2000:]
    segments = check_terminal(raw)
    import json

    manifest = json.loads(next((tmp_path / "results").rglob("evalkit/manifest.json")).read_text())
    shown = {s.split(": ", 1)[1] for s in segments if s.startswith("warning:")}
    # Every warning shown on the terminal is kept in the manifest (each once, with a count when repeated).
    kept = {re.sub(r" \(x\d+\)$", "", w) for w in manifest["warnings"]}
    assert shown <= kept
