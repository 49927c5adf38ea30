"""The terminal of `evalkit run`: one tasks bar, every line and log record above it, never over it.

Lines and log records go through `tqdm.write`, which clears the bars, prints, and redraws them.
Warnings from libraries reach the log through `_notices.capture_warnings` (once each). While a task
sits in a long step without encoding (a classifier fit, clustering, retrieval scoring), the bar
shows the phase and its elapsed time, refreshed by a small ticker thread, so the screen never looks
hung.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from evalkit._notices import current_phase

_FORMAT = "%(levelname)s %(name)s: %(message)s"


class ShortFormatter(logging.Formatter):
    """`warning: ...` for evalkit's own records and captured warnings; the logger name otherwise."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.name.startswith("evalkit"):
            return f"{record.levelname.lower()}: {msg}"
        return f"{record.levelname.lower()} {record.name}: {msg}"


class Console:
    """The tasks bar and the lines above it (a context manager).

    Args:
        enabled: draw the bar (a terminal on stderr); otherwise plain lines.
        lines: print one line per finished task.
    """

    def __init__(self, *, enabled: bool, lines: bool) -> None:
        self.enabled, self.lines = enabled, lines
        self._bar: Any = None
        self._redirect: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._task = ""

    def __enter__(self) -> Console:
        if self.enabled:
            from tqdm.contrib.logging import logging_redirect_tqdm

            root = logging.getLogger()
            level = min((h.level for h in root.handlers), default=logging.WARNING) or logging.WARNING
            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()
            for handler in root.handlers:
                # tqdm's handler replaces the terminal's: same level (a run's INFO lines go to its log file only).
                handler.setLevel(level)
                handler.setFormatter(ShortFormatter())
            self._ticker = threading.Thread(target=self._tick, name="evalkit-console", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        if self._bar is not None:
            self._bar.close()
        if self._redirect is not None:
            self._redirect.__exit__(*exc)

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            bar, now = self._bar, current_phase()
            if bar is None:
                continue
            # Encoding has its own bar; the phase matters when nothing else moves.
            if now and now[0] != "encoding" and now[1] >= 2:
                bar.set_postfix_str(f"{now[0]} {now[1]:.0f}s", refresh=True)
            elif bar.postfix:
                bar.set_postfix_str("", refresh=True)

    def start(self, task: str, index: int, total: int) -> None:
        """A task starts (the runner's `on_start`)."""
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="task", file=sys.stderr, position=0, dynamic_ncols=True)
        self._task = task
        self._bar.set_postfix_str("", refresh=False)  # the last task's phase is over
        self._bar.set_description(f"task {task}")

    def done(self, outcome: Any) -> None:
        """A task finished (the runner's `on_task`): its line above the bar."""
        if self._bar is not None:
            self._bar.update(1)
        if not self.lines:
            return
        self.write(outcome_line(outcome))

    def write(self, line: str) -> None:
        """A line above the bar (or on stderr when there is none)."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)


def outcome_line(outcome: Any) -> str:
    """`   done  ATEC  test 0.1288  validation 0.1301  12.3s`: each split's main score."""
    scores = "  ".join(f"{split} {value:.4f}" for split, value in outcome.splits.items()) or "-"
    extra = f"  ({outcome.reason})" if outcome.status in ("failed", "locked", "skipped") else ""
    return f"{outcome.status:>7}  {outcome.task}  {scores}  {outcome.seconds:.1f}s{extra}"


def format_run_summary(summary: Any) -> str:
    """The end-of-run table as Markdown."""
    lines = [
        f"model {summary.model} @ {summary.revision}  ->  {summary.folder}",
        "",
        "| task | type | split | main score | status | seconds |",
        "|---|---|---|---:|---|---:|",
    ]
    for o in summary.outcomes:
        if o.splits:
            for split, value in o.splits.items():
                lines.append(f"| {o.task} | {o.task_type} | {split} | {value:.4f} | {o.status} | {o.seconds:.1f} |")
        else:
            lines.append(f"| {o.task} | {o.task_type} | - | - | {o.status}: {o.reason} | {o.seconds:.1f} |")
    handled = [f"{o.task}: {note}" for o in summary.outcomes if o.status == "done" for note in [handled_note(o)] if note]
    if handled:
        lines += ["", "Handled as mteb does: " + "; ".join(handled)]
    failed = summary.failed
    if failed:
        lines += ["", f"{len(failed)} task(s) failed: " + "; ".join(f"{o.task}: {o.reason}" for o in failed)]
    return "\n".join(lines)


def handled_note(outcome: Any) -> str:
    """What the encoder did about empty and over-long texts in a task, or ''."""
    parts = []
    if outcome.stats.empty:
        parts.append(f"{outcome.stats.empty} empty texts")
    if outcome.stats.truncated:
        parts.append(f"{outcome.stats.truncated} texts truncated at {outcome.max_seq_length} tokens")
    return ", ".join(parts)
