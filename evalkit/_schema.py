"""Pydantic habits shared by the schemas of settings and suites, and pydantic's errors in evalkit's words.

The schemas themselves live with their owners (`evalkit.model.settings`, `evalkit.runner.schema`);
this module only holds the field types they share and turns one pydantic error into the short
phrase a one-line `SuiteError` is made of ("is 'fp8'; use one of: fp32, fp16, bf16").
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import ConfigDict, Field, Strict
from pydantic_core import ErrorDetails, PydanticCustomError

#: Every schema forbids unknown keys: a typo must fail, not be ignored.
FORBID = ConfigDict(extra="forbid")

# Strict where YAML could silently coerce: `yes` is not a bool, `true` is not a batch size.
Text = Annotated[str, Strict(), Field(pattern=r"\S")]  # non-empty, not only blanks
Positive = Annotated[int, Strict(), Field(gt=0)]
Flag = Annotated[bool, Strict()]
Number = Annotated[float, Strict()]  # ints are numbers too; bools are not


def problem(message: str) -> PydanticCustomError:
    """A validator's own error, kept word for word by `describe`."""
    return PydanticCustomError("evalkit", message)


def literal_args(annotation: Any) -> tuple[str, ...]:
    """The values of a `Literal` (also inside `Optional` or `Annotated`), in order; () if none."""
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        found = literal_args(arg)
        if found:
            return found
    return ()


def unknown_key(key: object, allowed: Iterable[str]) -> str:
    """`unknown key `taks`; did you mean `tasks`?` (or the allowed keys when nothing is close)."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"did you mean `{close[0]}`?" if close else f"allowed: {', '.join(allowed)}"
    return f"unknown key `{key}`; {hint}"


def is_unknown_key(error: ErrorDetails) -> bool:
    """Pydantic's two spellings of a key no field takes (models and dataclasses)."""
    return error["type"] in ("extra_forbidden", "unexpected_keyword_argument")


def describe(error: ErrorDetails) -> str:
    """What is wrong with the value of one pydantic error, without where: "must be positive, not 0"."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "evalkit":
        return error["msg"]
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"is {value!r}; use one of: {', '.join(allowed)}"
    if kind == "greater_than" and ctx.get("gt") == 0:
        return f"must be positive, not {value!r}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": "more than", "greater_than_equal": "at least", "less_than": "less than", "less_than_equal": "at most"}
        limit = next(iter(ctx.values()), "")
        return f"must be {bound[kind]} {limit}, not {value!r}"
    if kind == "bool_type":
        return f"must be true or false, not {value!r}"
    if kind.startswith("int_"):
        return f"must be a whole number, not {value!r}"
    if kind.startswith("float_"):
        return f"must be a number, not {value!r}"
    if kind in ("string_type", "string_pattern_mismatch", "string_too_short"):
        return f"must be a non-empty text, not {value!r}"
    if kind in ("dict_type", "mapping_type", "dataclass_type", "model_type", "dataclass_args_type"):
        return f"must be a mapping of keys to values, not {value!r}"
    if kind in ("list_type", "tuple_type", "iterable_type"):
        return f"must be a list, not {value!r}"
    if kind == "too_short":
        return "must not be empty"
    if kind == "path_type":
        return f"must be a file path, not {value!r}"
    if kind == "missing":
        return "is missing"
    return str(error["msg"])


def pydantic_fields(cls: type) -> dict[str, Any]:
    """The pydantic fields of a pydantic dataclass or model (`__pydantic_fields__`, which type checkers do not see)."""
    fields: dict[str, Any] = getattr(cls, "__pydantic_fields__", None) or getattr(cls, "model_fields", {})
    return dict(fields)
