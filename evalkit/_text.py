"""Names that travel into files, terminals, Markdown, CSV and JUnit: checked where they enter, escaped where written.

A suite's task names are checked when the suite loads (`name_problem`); names read from results
folders and cards written by others are escaped by each writer: `md_cell` for Markdown table
cells, `csv_cell` for spreadsheet-safe CSV cells, `xml_text` for JUnit XML, `printable` for the
terminal.
"""

from __future__ import annotations

import re
import unicodedata

#: A name becomes `<name>.json`, `<name>.lock` and `.<name>.json.<host>-<pid>.tmp`: well under 255 bytes.
MAX_NAME_BYTES = 200

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _unprintable(ch: str) -> bool:
    # Cc control, Cf format (bidi overrides, zero-width), Cs surrogates, Co private use, Cn unassigned.
    return unicodedata.category(ch).startswith("C")


def name_problem(name: str) -> str | None:
    """What makes `name` unusable as a task name in files, terminals and reports, or None."""
    bad = next((ch for ch in name if _unprintable(ch)), None)
    if bad is not None:
        return f"holds the control or invisible character U+{ord(bad):04X}; use printable characters only"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return f"is {size} bytes long in UTF-8; use at most {MAX_NAME_BYTES}"
    if name != name.strip():
        return "starts or ends with a space; remove it"
    return None


def printable(text: object) -> str:
    """`text` with control and invisible characters shown as escapes (for the terminal and logs)."""
    s = str(text)
    if not any(_unprintable(ch) for ch in s):
        return s
    return "".join(ch.encode("unicode_escape").decode("ascii") if _unprintable(ch) else ch for ch in s)


def md_cell(text: object) -> str:
    """`text` safe inside a Markdown table cell: `|` escaped, line breaks and controls made visible."""
    return printable(str(text).replace("\r\n", " ").replace("\n", " ")).replace("|", "\\|")


def csv_cell(text: object) -> object:
    """A CSV cell a spreadsheet will not run as a formula: text starting with = + - @ tab or CR gets a `'`."""
    if isinstance(text, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(text)
            return text  # a negative number stays a number
        except ValueError:
            return "'" + text
    return text


def xml_text(text: object) -> str:
    """`text` with the characters XML 1.0 cannot hold replaced by visible escapes (escape &<> separately)."""
    return _XML_BAD.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
