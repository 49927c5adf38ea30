"""What a run tells its user besides scores: library warnings (once each) and the phase it is in.

Libraries warn through two channels: `warnings.warn` (mteb's "superseded by ...v2", sklearn's
UndefinedMetricWarning) and `logging`. Printed raw, both write over a progress bar and repeat per
task or per fit. `capture_warnings` turns every distinct warning into one log record of the logger
`evalkit.warnings` (which a terminal handler prints above the bar and a file handler keeps) and
collects it for the run manifest.

`phase` marks what a long step is doing ("encoding", "scoring"), so a terminal can show a phase with
its elapsed time instead of a screen that looks hung during a classifier fit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from evalkit._util import first_line

logger = logging.getLogger("evalkit.warnings")

_PHASE_LOCK = threading.Lock()
_PHASE: list[tuple[str, float]] = []


@dataclass
class WarningLog:
    """The distinct warnings seen while capturing, in order, each with how often it came."""

    seen: dict[str, int] = field(default_factory=dict)

    def add(self, text: str) -> bool:
        """Count `text`; True the first time it is seen."""
        first = text not in self.seen
        self.seen[text] = self.seen.get(text, 0) + 1
        return first

    def lines(self) -> list[str]:
        """Each distinct warning once, with a count when it repeated."""
        return [text if n == 1 else f"{text} (x{n})" for text, n in self.seen.items()]


def warning_text(message: Warning | str, category: type[Warning]) -> str:
    """One line for a warning: its category and the first line of its message."""
    if isinstance(message, Warning):
        return f"{category.__name__}: {first_line(message)}"
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    return f"{category.__name__}: {lines[0].strip() if lines else ''}"


@contextlib.contextmanager
def capture_warnings(log: WarningLog | None = None) -> Iterator[WarningLog]:
    """Route `warnings.warn` through logging, once per distinct message, for the block.

    Args:
        log: where to collect (a new one when None); pass the same log to nest or resume.

    Yields:
        The collecting log: `log.lines()` goes into the run manifest.
    """
    log = log if log is not None else WarningLog()

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file=None, line=None) -> None:  # noqa: ANN001
        text = warning_text(message, category)
        if log.add(text):
            logger.warning("%s", text)

    with warnings.catch_warnings():
        # "always": every call reaches `show`, which does the de-duplication by message (Python's own
        # "default" action repeats a message raised from another line, e.g. once per task).
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            # Warnings about a library's own future are for its developers, not for evalkit's users.
            warnings.simplefilter("ignore", category)
        warnings.showwarning = show
        yield log


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Mark the block as phase `name` (nested phases stack: the innermost is current)."""
    with _PHASE_LOCK:
        _PHASE.append((name, time.monotonic()))
    try:
        yield
    finally:
        with _PHASE_LOCK:
            for i in range(len(_PHASE) - 1, -1, -1):
                if _PHASE[i][0] == name:
                    del _PHASE[i]
                    break


def current_phase() -> tuple[str, float] | None:
    """(name, seconds in it) of the innermost phase, or None outside any."""
    with _PHASE_LOCK:
        if not _PHASE:
            return None
        name, since = _PHASE[-1]
    return name, time.monotonic() - since


_BARS = [False]


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Within the block, evalkit's own encoding bar is drawn when `enabled` (mteb's bars never are)."""
    before = _BARS[0]
    _BARS[0] = enabled
    try:
        yield
    finally:
        _BARS[0] = before


def progress_bars_enabled() -> bool:
    """True inside `progress_bars(True)`."""
    return _BARS[0]
