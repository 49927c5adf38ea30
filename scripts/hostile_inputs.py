"""Hand evalkit's CLI hostile inputs and count the outcomes: clean one-line error, traceback, damage.

    python scripts/hostile_inputs.py [--only SUBSTRING] [--slow]

The cases are the table in tests/hostile_cases.py (tests/test_faults.py asserts the same table
in-process). Each builds its input in a fresh folder under a scratch root and returns the command
line, the exit code it expects (2: a one-line `evalkit: error:` holding the case's phrase; 0: evalkit
copes, without a traceback) and an optional check that returns a description of any damage (a file
outside the folders named, a temp file left, a link replaced, a partial merge, a silently wrong "done").
Every case runs in a forked child with a memory cap (12 GB of address space) and a time limit, so a YAML bomb or a
hang counts as a traceback instead of taking the machine. Cases that run a model are `--slow`.

Prints one line per case and the totals: tried / clean / traceback / damaged.

Measured with --slow (2 shared cores): on main at bd93e08 (dda914c plus the schema merge), 47 tried / 7 clean / 19 traceback /
16 damaged / 5 unclear (a one-line error about something else, or a silent wrong result); on
branch hostile, 47 / 47 / 0 / 0 / 0. With the table moved to tests/ (branch hostile2): the same 47 / 47 with
--slow; 40 / 40 without, as the four cases refused before the model loads (bad STS scores, --reports
not writable) are no longer `--slow` (they were 36 / 36).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: the table lives in tests/

from tests.hostile_cases import CASES, Case, Unavailable, damage, outside  # noqa: E402 - after the path it needs


def _child(argv: list[str], timeout: int = 300, log: Path | None = None) -> int:
    """Run `evalkit.cli.main(argv)` in a forked, memory-capped child; 99 = traceback, 98 = killed."""
    from evalkit.cli import main

    pid = os.fork()
    if pid == 0:
        resource.setrlimit(resource.RLIMIT_AS, (12 << 30, 12 << 30))
        signal.alarm(timeout)
        err = io.StringIO()
        code = 99
        try:
            with redirect_stderr(err), redirect_stdout(io.StringIO()):
                code = main(argv)
        except BaseException:  # noqa: BLE001 - the point: anything escaping is a traceback
            err.write(traceback.format_exc())
            code = 99
        if log is not None:
            log.write_text(err.getvalue())
        os._exit(code if isinstance(code, int) else 0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 98


def run_case(case: Case, root: Path) -> tuple[str, str]:
    t = root / case.name.replace(" ", "_").replace("/", "_")[:60]
    t.mkdir(parents=True)
    try:
        if case.prime is not None and _child(case.prime(t)) != 0:
            return "skipped", "setup failed: the first run failed"
        argv = case.build(t)
    except Unavailable as exc:
        return "skipped", str(exc)
    except Exception as exc:  # noqa: BLE001 - a case that cannot be set up is skipped and said, not counted
        return "skipped", f"setup failed: {exc}"
    kept = outside(t)
    log = t / "stderr.txt"
    code = _child(argv, log=log)
    err = log.read_text() if log.exists() else ""
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("WARNING", "warning"))]
    errors = [ln for ln in err.splitlines() if ln.startswith("evalkit: error:")]
    harm = damage(case, t, kept)
    if code in (98, 99) or "Traceback" in err:
        tail = (lines[-1] if lines else f"killed (exit {code})")[:150]
        return ("damaged" if harm else "traceback"), tail + (f" | {harm}" if harm else "")
    if harm:
        return "damaged", harm
    if case.code != 0:
        if code != case.code or len(errors) != 1:
            return "damaged" if code == 0 else "unclear", f"exit {code}: {(errors or lines or [''])[-1][:150]}"
        if case.phrase not in errors[0]:
            return "unclear", f"exit {code}, not about {case.phrase!r}: {errors[0][:150]}"
        return "clean", errors[0][:150]
    if code != 0 or errors or case.phrase not in err:
        return "unclear", f"exit {code}: {(errors or lines or [''])[-1][:150]}"
    return "clean", f"exit {code}"


def main() -> int:
    import mteb  # noqa: F401
    import pandas  # noqa: F401

    import evalkit.cli  # noqa: F401 - imported once here, inherited by every forked case

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="")
    parser.add_argument("--slow", action="store_true", help="also the cases that run a model")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = Path(tempfile.mkdtemp(prefix="hostile-"))
    counts: dict[str, int] = {}
    try:
        for case in CASES:
            if args.only not in case.name or (case.slow and not args.slow):
                continue
            t0 = time.time()
            verdict, detail = run_case(case, root)
            counts[verdict] = counts.get(verdict, 0) + 1
            print(f"{verdict:9s} {time.time() - t0:5.1f}s  {case.name}: {detail}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    tried = sum(v for k, v in counts.items() if k != "skipped")
    print(
        f"tried {tried} / clean {counts.get('clean', 0)} / traceback {counts.get('traceback', 0)} / damaged {counts.get('damaged', 0)}"
        f" / unclear {counts.get('unclear', 0)} / skipped {counts.get('skipped', 0)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
