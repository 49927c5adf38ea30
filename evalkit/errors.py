"""The errors evalkit reports to users, and the exit code of each.

Every user-facing failure raises one of these; the CLI catches `EvalkitError` alone, prints its
message as a single line and exits with the class's `exit_code`. Anything else is a bug and keeps
its traceback.

    EvalkitError (exit 2)          bad input in general
    ├── SuiteError (exit 2)        a suite file that is missing, malformed or names unknown things
    ├── DataError (exit 2)         a dataset, mirror, results folder or card that is missing or broken
    ├── ModelError (exit 2)        a model that cannot be found, loaded or trusted
    ├── EncodingError (exit 1)     a model that produced unusable embeddings (NaN, inf)
    └── OutputError (exit 2)       an output location that cannot be written

Exit codes of the commands themselves: 0 success; 1 a verdict against the user's numbers (a task
failed, a score is off, a regression); 2 bad input (any other `EvalkitError`). `EncodingError` is
raised inside a task: that task is recorded as failed with the message, the others go on, and the
run exits 1 like any failed task.
"""

from __future__ import annotations


class EvalkitError(Exception):
    """Bad input: the message names the problem and the fix, on one line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line, always: the CLI prints exactly this.
        super().__init__(" ".join(str(message).split()))


class SuiteError(EvalkitError):
    """A suite file is missing, malformed, or names an unknown key or task."""


class DataError(EvalkitError):
    """A dataset, mirror, results folder, per-example file or card is missing or broken."""


class ModelError(EvalkitError):
    """A model cannot be found, loaded, or trusted as loaded."""


class EncodingError(EvalkitError):
    """A model produced embeddings that cannot be scored (NaN or infinite values): a failed task."""

    exit_code = 1


class OutputError(EvalkitError):
    """An output folder or file cannot be written."""
