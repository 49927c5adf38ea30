"""Print pip constraints that pin every dependency of pyproject.toml to its declared lower bound.

Usage: python scripts/min_constraints.py [EXTRA ...] > constraints-min.txt

CI installs evalkit with these constraints in a second environment and runs the fast layer, so the
lower bounds in pyproject.toml are versions that were installed and tested, not guesses. Every
dependency (and every dependency of the named extras) must declare a lower bound (`>=X` or `==X`);
one without is an error, so a new dependency cannot slip in untested.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def lower_bounds(pyproject: Path, extras: list[str]) -> dict[str, str]:
    """Map each requirement's name to its declared lower bound."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    pins: dict[str, str] = {}
    for req in reqs:
        match = _REQ.match(req.split(";")[0])
        if not match:
            raise SystemExit(f"cannot read requirement {req!r}")
        name, spec = match.group(1).lower().replace("_", "-"), match.group(3)
        low = re.search(r"(?:>=|==)\s*([0-9][^,\s]*)", spec)
        if not low:
            raise SystemExit(f"requirement {req!r} has no lower bound (>=X): declare the oldest tested version")
        pins[name] = low.group(1)
    return pins


def main() -> None:
    """Print one `name==version` line per requirement, sorted."""
    root = Path(__file__).resolve().parents[1]
    for name, version in sorted(lower_bounds(root / "pyproject.toml", sys.argv[1:]).items()):
        print(f"{name}=={version}")


if __name__ == "__main__":
    main()
