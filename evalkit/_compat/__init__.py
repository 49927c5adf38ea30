"""Every touch of a library's private names (mteb, sentence-transformers, transformers, Ray), self-checked.

Each module here offers `self_check()` ({piece: problem}, empty when all fit) and `self_check_notes()`
(one line per piece that is off, saying what that costs). `EVALKIT_DISABLE_HOOKS` (comma-separated
piece names, or `all`) switches pieces off by hand; `switched_off` is its one reader.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

OFF_BY_HAND = "switched off by EVALKIT_DISABLE_HOOKS"


def switched_off(piece: str) -> bool:
    """True when `EVALKIT_DISABLE_HOOKS` names this piece (or `all`)."""
    off = {s.strip() for s in os.environ.get("EVALKIT_DISABLE_HOOKS", "").split(",")}
    return "all" in off or piece in off


def cost_notes(library: str, problems: Mapping[str, str], costs: Mapping[str, str]) -> list[str]:
    """One line per piece that is off: `<library> <piece> is off (<problem>): <what that costs>`."""
    return [f"{library} {name} is off ({problem}): {costs[name]}" for name, problem in problems.items()]
