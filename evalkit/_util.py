"""Small owners used by every stage: installed package versions, the one-line form of an error."""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, version

from evalkit.errors import ModelError

NOT_INSTALLED = "not installed"

# The packages a run records in its manifest and a Ray driver compares with its workers.
RUN_PACKAGES = ("evalkit", "mteb", "torch", "transformers", "sentence-transformers", "datasets", "numpy")

# The oldest sentence-transformers whose modules and `processor_kwargs` evalkit loads models with.
# pyproject.toml declares the same lower bound (tests/test_versions.py keeps the two equal).
SENTENCE_TRANSFORMERS_MIN = "5.4"


def package_version(name: str) -> str:
    """The installed version of distribution `name`, or "not installed"."""
    try:
        return version(name)
    except PackageNotFoundError:
        return NOT_INSTALLED


def package_versions(*names: str, python: bool = False) -> dict[str, str]:
    """`{name: version}` for each distribution (see `package_version`); `python=True` adds the interpreter first."""
    out = {"python": sys.version.split()[0]} if python else {}
    out.update({name: package_version(name) for name in names})
    return out


def _release(text: str) -> tuple[int, ...]:
    """The leading numbers of a version: "5.4.0rc1" -> (5, 4, 0)."""
    match = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(p) for p in match.group(0).split(".")) if match else ()


def at_least(installed: str, minimum: str) -> bool:
    """Whether version `installed` is `minimum` or newer, comparing release numbers ("5.4" == "5.4.0")."""
    have, need = _release(installed), _release(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def require_sentence_transformers() -> None:
    """Refuse, in one line, a sentence-transformers older than evalkit loads models with.

    `pip install mteb[jina]` (and other extras) can pull an older release; without this check the
    load would end in a traceback deep inside sentence-transformers.

    Raises:
        ModelError: naming the installed version and the install command that fixes it.
    """
    installed = package_version("sentence-transformers")
    if installed == NOT_INSTALLED or not at_least(installed, SENTENCE_TRANSFORMERS_MIN):
        raise ModelError(
            f"sentence-transformers {installed} is not supported (evalkit needs >= {SENTENCE_TRANSFORMERS_MIN}); "
            f'run: pip install "sentence-transformers>={SENTENCE_TRANSFORMERS_MIN}"'
        )


def first_line(exc: BaseException, limit: int = 300, *, with_type: bool = False) -> str:
    """The first non-empty line of an exception's message, cut to `limit` characters.

    An exception with no message gives its type name. `with_type=True` puts the type name in front
    ("ValueError: bad value"), for messages that would not say what failed otherwise.
    """
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    name = type(exc).__name__
    if not lines:
        return name
    text = lines[0].strip()[:limit]
    return f"{name}: {text}" if with_type else text
