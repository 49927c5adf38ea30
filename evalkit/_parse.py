"""Bounded reading of the YAML and JSON evalkit is handed: cards, suites, results, records, manifests.

Every file evalkit reads comes through here, so one set of limits holds everywhere:

- a file larger than `MAX_BYTES` (or a device, a FIFO, a folder) is refused before it is read;
- YAML is checked on its event stream before anything is built: at most `MAX_DEPTH` levels of
  nesting and `MAX_NODES` nodes once every alias is expanded (a 700-byte "billion laughs" fails in
  microseconds instead of taking gigabytes);
- JSON nested deeper than the interpreter allows is refused, not a `RecursionError`;
- a mapping that repeats a key is refused with the key named (YAML and JSON would keep the last);
- an integer of more than `MAX_INT_DIGITS` digits, or a decimal number too large for a float, is
  refused (NaN and infinities written as such are kept: the readers decide what they mean).

Every failure raises the caller's error class with one line: `<where>: <problem>; <fix>`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import DataError, EvalkitError

MAX_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 2_000_000
MAX_INT_DIGITS = 30
MAX_INCLUDES = 32
MAX_CARD_BYTES = 32 * 1024 * 1024

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_bytes(path: Path, where: str, *, error: type[EvalkitError] = DataError, limit: int = MAX_BYTES) -> bytes:
    """The bytes of the regular file `path` (symlinks followed), at most `limit` of them.

    Raises:
        error: missing, not a regular file (a folder, /dev/zero, a FIFO), unreadable, or too large.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise error(f"{where}: no such file; check the path") from None
    except IsADirectoryError:
        raise error(f"{where}: is a folder, not a file; pass the file inside it") from None
    except OSError as exc:
        raise error(f"{where}: cannot be read ({exc.strerror or exc}); check its permissions") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{where}: is a folder, not a file; pass the file inside it")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{where}: is not a regular file (a device, pipe or socket); pass a file")
        if info.st_size > limit:
            raise error(f"{where}: is {info.st_size:,} bytes, over the limit of {limit:,}; is this the right file?")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > limit:
                raise error(f"{where}: is over the limit of {limit:,} bytes; is this the right file?")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{where}: cannot be read ({exc.strerror or exc}); check the file") from None
    finally:
        os.close(fd)


def decode(data: bytes, where: str, *, error: type[EvalkitError] = DataError) -> str:
    """`data` as UTF-8 text (a leading byte-order mark kept for the caller)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{where}: is not UTF-8 text; save it as UTF-8") from None


def read_text(path: Path, where: str, *, error: type[EvalkitError] = DataError, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of the regular file `path`, refusing devices, folders and files over `limit` bytes."""
    return decode(read_bytes(path, where, error=error, limit=limit), where, error=error)


# --- YAML -----------------------------------------------------------------------------------------


class Loader(_Base):
    """A safe loader that refuses repeated keys and out-of-range numbers. Subclass it to add types."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key = key_node.value
                    if key in seen:
                        mark = key_node.start_mark
                        raise _Refused(f"the key `{_short(key)}` appears twice in one mapping (line {mark.line + 1}); keep one")
                    seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Refused(Exception):
    """A limit the YAML or JSON text broke; the message says which."""


def _short(text: Any, n: int = 60) -> str:
    s = str(text).encode("unicode_escape").decode("ascii")
    return s if len(s) <= n else s[:n] + "..."


def _construct_int(loader: Any, node: Any) -> int:
    digits = sum(c.isalnum() for c in str(node.value))
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"a number of {digits} digits at line {node.start_mark.line + 1} is out of range; write a plain value")
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)


def construct_float(loader: Any, node: Any) -> float:
    """YAML's float, refusing a decimal literal too large for a float (for loaders that wrap floats)."""
    value = yaml.constructor.SafeConstructor.construct_yaml_float(loader, node)
    check_float(value, str(node.value), f"line {node.start_mark.line + 1}")
    return value


def check_float(value: float, text: str, at: str) -> None:
    """Refuse a decimal literal that overflows to infinity (`.inf` and `Infinity` themselves pass)."""
    if value in (float("inf"), float("-inf")) and "inf" not in text.lower():
        raise _Refused(f"the number {_short(text, 20)} at {at} is out of range; write a plain value")
    if len(text) > 400:
        raise _Refused(f"a number of {len(text)} characters at {at} is out of range; write a plain value")


Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
Loader.add_constructor("tag:yaml.org,2002:float", construct_float)


def check_yaml_events(text: str, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Walk the event stream (no recursion, nothing built) and refuse deep nesting or alias bombs.

    Raises:
        _Refused: nesting deeper than `max_depth`, or more than `max_nodes` nodes with aliases expanded.
        yaml.YAMLError: broken YAML.
    """
    sizes: dict[str, int] = {}  # anchor -> expanded node count
    stack: list[list[Any]] = [[None, 0]]  # [anchor, count] per open collection
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.AliasEvent):
            add = sizes.get(event.anchor, 1)
            stack[-1][1] += add
        elif isinstance(event, yaml.ScalarEvent):
            stack[-1][1] += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([event.anchor, 1])
            if len(stack) - 1 > max_depth:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise _Refused(f"nested more than {max_depth} levels deep (line {line}); flatten it")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, count = stack.pop()
            if anchor:
                sizes[anchor] = count
            stack[-1][1] += count
        else:
            continue
        if stack[-1][1] > max_nodes or sum(c for _, c in stack[-4:]) > max_nodes:
            raise _Refused(f"expands to more than {max_nodes:,} values (aliases repeated inside aliases); write the data out")
    if sum(c for _, c in stack) > max_nodes:
        raise _Refused(f"expands to more than {max_nodes:,} values (aliases repeated inside aliases); write the data out")


def load_yaml(
    text: str, where: str, *, error: type[EvalkitError] = DataError, loader: type[Loader] = Loader, label: str = "YAML", first_line: int = 1
) -> Any:
    """Parse `text` (one YAML document) within the limits, with `loader` (a `Loader` subclass).

    `label` names the text in "broken <label>" messages; `first_line` is the file line `text` starts on.

    Raises:
        error: one line naming `where`, the problem (line, key, limit) and the fix.
    """
    text = "\n" * (first_line - 1) + text  # marks count the file's lines

    def parse() -> Any:
        check_yaml_events(text)
        return yaml.load(text, Loader=loader)  # noqa: S506 - `loader` is a SafeLoader subclass

    return _guard(parse, where, error, label)


def compose_yaml(text: str, where: str, *, error: type[EvalkitError] = DataError) -> Any:
    """The YAML node tree of `text`, within the same limits (for edits that keep the text's layout)."""
    def compose() -> Any:
        check_yaml_events(text)
        return yaml.compose(text, Loader=Loader)

    return _guard(compose, where, error, "YAML")


def _guard(parse: Any, where: str, error: type[EvalkitError], kind: str) -> Any:
    try:
        return parse()
    except _Refused as exc:
        raise error(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise error(f"{where}: broken {kind}{at} ({problem}); fix the syntax") from None
    except json.JSONDecodeError as exc:
        raise error(f"{where}: truncated or invalid JSON at line {exc.lineno} ({exc.msg}); restore or delete the file") from None
    except RecursionError:
        raise error(f"{where}: nested too deeply for {kind}; flatten it") from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise error(f"{where}: cannot be read as {kind} ({_short(exc, 120)}); fix the file") from None


# --- JSON -----------------------------------------------------------------------------------------


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"the key `{_short(key)}` appears twice in one object; keep one")
        out[key] = value
    return out


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"a number of {len(text.lstrip('-'))} digits is out of range; write a plain value")
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    check_float(value, text, "one value")
    return value


def loads_json(text: str | bytes, where: str, *, error: type[EvalkitError] = DataError) -> Any:
    """Parse JSON within the limits: repeated keys, huge numbers and runaway nesting refused.

    Raises:
        error: one line naming `where`, the problem and the fix.
    """
    return _guard(lambda: json.loads(text, object_pairs_hook=_pairs, parse_int=_json_int, parse_float=_json_float), where, error, "JSON")


def read_json(path: Path, where: str | None = None, *, error: type[EvalkitError] = DataError, limit: int = MAX_BYTES) -> Any:
    """Read and parse the JSON file `path` within the limits (see `loads_json`)."""
    where = where or str(path)
    return loads_json(read_text(path, where, error=error, limit=limit), where, error=error)


def read_yaml(path: Path, where: str | None = None, *, error: type[EvalkitError] = DataError, limit: int = 16 * 1024 * 1024) -> Any:
    """Read and parse the YAML file `path` within the limits (see `load_yaml`)."""
    where = where or str(path)
    return load_yaml(read_text(path, where, error=error, limit=limit), where, error=error)
