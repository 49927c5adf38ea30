"""The one seam to sentence-transformers' internals: module classes by path, and the tokenizer lock.

- `modules()`: the Transformer, Pooling and Normalize classes a plain transformers checkpoint is
  assembled from. sentence-transformers moved them between releases (`models` until 5.x,
  `sentence_transformer.modules` since); the first path that has all three is used.
- `tokenizer_lock(model)`: CPU encoding runs batches on several threads, but a fast tokenizer is
  not safe to call from two threads at once ("Already borrowed"), so the model's `preprocess`
  step is put under a lock for the block. That patches an instance attribute sentence-transformers
  does not document; where it no longer fits, encoding runs on one thread (same vectors, slower).

`self_check` says at start which piece no longer fits (or is switched off with
`EVALKIT_DISABLE_HOOKS=tokenizer-lock`), and `self_check_notes` what that costs.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import threading
from collections.abc import Iterator
from typing import Any

from evalkit._compat import OFF_BY_HAND, cost_notes, switched_off

_MODULE_PATHS = ("sentence_transformers.sentence_transformer.modules", "sentence_transformers.models")
_MODULES = ("Transformer", "Pooling", "Normalize")


def modules() -> tuple[Any, Any, Any] | None:
    """(Transformer, Pooling, Normalize) from the first module path that has them, or None."""
    for path in _MODULE_PATHS:
        try:
            module = importlib.import_module(path)
        except ImportError:
            continue
        found = [getattr(module, name, None) for name in _MODULES]
        if all(found):
            return found[0], found[1], found[2]
    return None


def _switched_off() -> bool:
    return switched_off("tokenizer-lock")


def lock_fits(model: Any) -> bool:
    """True when `model` has the `preprocess` step the lock wraps (and the lock is not switched off)."""
    if _switched_off():
        return False
    preprocess = getattr(model, "preprocess", None)
    if not callable(preprocess):
        return False
    try:
        return "prompt" in inspect.signature(preprocess).parameters
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def tokenizer_lock(model: Any) -> Iterator[None]:
    """Within the block, the model's tokenizing step (`preprocess`) runs under one lock.

    Set on the instance and removed afterwards, so the model stays picklable for a process pool.
    Call only when `lock_fits(model)`.
    """
    lock = threading.Lock()
    preprocess = model.preprocess

    def locked_preprocess(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return preprocess(*args, **kwargs)

    model.preprocess = locked_preprocess
    try:
        yield
    finally:
        del model.preprocess


@functools.cache
def self_check() -> dict[str, str]:
    """Which pieces do not fit this sentence-transformers: {piece: problem}. Empty when all fit."""
    problems: dict[str, str] = {}
    if modules() is None:
        problems["module-paths"] = f"none of {', '.join(_MODULE_PATHS)} has {', '.join(_MODULES)}"
    if _switched_off():
        problems["tokenizer-lock"] = OFF_BY_HAND
    else:
        try:
            from sentence_transformers import SentenceTransformer

            fits = (
                callable(getattr(SentenceTransformer, "preprocess", None))
                and "prompt" in inspect.signature(SentenceTransformer.preprocess).parameters
            )
        except (ImportError, TypeError, ValueError):
            fits = False
        if not fits:
            problems["tokenizer-lock"] = "SentenceTransformer.preprocess(inputs, prompt) no longer exists"
    return problems


def self_check_notes() -> list[str]:
    """One line per piece that does not fit, saying what that costs; empty when all fit."""
    costs = {
        "module-paths": "checkpoints without modules.json cannot be loaded; sentence-transformers checkpoints still load",
        "tokenizer-lock": "CPU encoding runs on one thread; vectors are unaffected",
    }
    return cost_notes("sentence-transformers", self_check(), costs)
