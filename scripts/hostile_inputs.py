"""Hand evalkit's CLI hostile inputs and count the outcomes: clean one-line error, traceback, damage.

    python scripts/hostile_inputs.py [--only SUBSTRING] [--slow]

Each case builds its input in a fresh folder under a scratch root and returns the command line, what
it expects (`error`: a one-line `evalkit: error:` and a non-zero exit; `ok`: exit 0 or 1 without a
traceback) and an optional check that returns a description of any damage (a file outside the
folders named, a temp file left, a link replaced, a partial merge, a silently wrong "done").
Every case runs in a forked child with a memory cap (12 GB of address space) and a time limit, so a YAML bomb or a
hang counts as a traceback instead of taking the machine. Cases that run a model are `--slow`.

Prints one line per case and the totals: tried / clean / traceback / damaged.

Measured with --slow (2 shared cores): on main at bd93e08 (dda914c plus the schema merge), 47 tried / 7 clean / 19 traceback /
16 damaged / 5 unclear (a one-line error about something else, or a silent wrong result); on
branch hostile, 47 / 47 / 0 / 0 / 0.
"""

# ruff: noqa: D103 - the case builders are named by the CASES table

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CARD = HERE / "tests" / "data" / "jina-embeddings-v2-base-zh.md"

Check = Callable[[Path], "str | None"]
Case = tuple[str, Callable[[Path], tuple[list[str], str, "Check | None"]], bool]

_LAYERS = "abcdefghi"
BOMB = (
    "a: &a ["
    + ", ".join(["lol"] * 9)
    + "]\n"
    + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip(_LAYERS, _LAYERS[1:], strict=False))
)


def _w(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)  # type: ignore[operator]
    return path


def results(t: Path, name: str = "org/model-a", task: str = "STSBenchmark", value: float = 0.8, raw: str | None = None) -> Path:
    rev = t / "res" / name.replace("/", "__") / "rev1"
    _w(rev / "model_meta.json", json.dumps({"name": name, "revision": "rev1"}))
    result = {
        "dataset_revision": "b0fddb56ed78048fa8b90373c8a3cfc37b684831",
        "task_name": task,
        "mteb_version": "2.26.24",
        "scores": {"test": [{"cosine_spearman": value, "main_score": value, "hf_subset": "default", "languages": ["eng-Latn"]}]},
        "evaluation_time": 1.0,
        "kg_co2_emissions": None,
    }
    _w(rev / f"{task}.json", raw if raw is not None else json.dumps(result))
    return t / "res"


def card(t: Path, metric_value: str, extra: str = "") -> Path:
    return _w(
        t / "card" / "README.md",
        "---\nmodel-index:\n- name: model-a\n  results:\n  - task: {type: STS}\n    dataset: {type: mteb/stsbenchmark-sts, name: MTEB STSBenchmark, config: default, split: test}\n"
        f"    metrics:\n    - {{type: cos_sim_spearman, value: {metric_value}}}\n{extra}---\n# card\n",
    )


def compare(t: Path, card_path: Path) -> list[str]:
    return ["card", "compare", str(results(t)), "--card", str(card_path), "--reports", str(t / "rep")]


def suite(t: Path, text: str, name: str = "suite.yaml") -> str:
    return str(_w(t / name, text))


def dry(t: Path, text: str) -> list[str]:
    return ["run", suite(t, text), "--dry-run", "--output", str(t / "out"), "--no-cache", "--quiet"]


def no_temps(root: Path) -> str | None:
    left = [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    return f"temp files left: {[p.name for p in left][:3]}" if left else None


def unchanged(path: Path, before: bytes) -> Check:
    return lambda t: None if path.read_bytes() == before else f"{path} changed"


# --- cases ---------------------------------------------------------------------------------------


def bomb_card(t: Path):
    return (
        compare(
            t,
            _w(
                t / "card" / "README.md",
                "---\n"
                + BOMB
                + "model-index: [{name: m, results: [{task: {type: STS}, dataset: {name: MTEB STSBenchmark}, metrics: [{type: cos_sim_spearman, value: *i}]}]}]\n---\n",
            ),
        ),
        "error",
        None,
    )


def bomb_suite(t: Path):
    layers = [line.split(": ", 1)[1] for line in BOMB.splitlines()]
    return dry(t, "tasks: [ATEC]\ndescription: [" + ", ".join(layers) + "]\n"), "error", None


def bad_card_values(value: str):
    return lambda t: (compare(t, card(t, value)), "error", None)


def card_results_empty(t: Path):
    return compare(t, _w(t / "card" / "README.md", "---\nmodel-index:\n- name: m\n  results: []\n---\n")), "error", None


def card_export_huge(t: Path):
    return ["card", "export", str(card(t, "1" * 400))], "error", None


def card_into_huge(t: Path):
    target = card(t / "target", "0.5")
    before = target.read_bytes()
    huge = card(t, "1" * 400)
    return ["card", "export", str(huge), "--into", str(target)], "error", unchanged(target, before)


def card_into_symlink(t: Path):
    real = card(t / "real", "0.5")
    link = t / "link" / "README.md"
    link.parent.mkdir()
    link.symlink_to(real)
    res = results(t, value=0.9)

    def check(_: Path) -> str | None:
        if not link.is_symlink():
            return "the link was replaced by a file"
        if "0.9" not in real.read_text():
            return "the real card was not updated"
        return no_temps(t)

    return ["card", "export", str(res), "--into", str(link)], "ok", check


def dup_card_key(t: Path):
    return compare(t, card(t, "0.5", extra="model-index: []\n")), "error|twice", None


def include_chain(t: Path):
    for i in range(1500):
        _w(t / f"s{i}.yaml", f"include: s{i + 1}.yaml\n" if i < 1499 else "tasks: [ATEC]\n")
    return ["run", str(t / "s0.yaml"), "--dry-run", "--output", str(t / "out"), "--quiet"], "error", None


def deep_suite(t: Path):
    return dry(t, "tasks: " + "[" * 1500 + "]" * 1500 + "\n"), "error", None


def huge_int_suite(t: Path):
    return dry(t, "model: {batch_size: " + "9" * 5000 + "}\ntasks: [ATEC]\n"), "error", None


def dup_tasks_suite(t: Path):
    return dry(t, "tasks: [ATEC]\ntasks: [AFQMC]\n"), "error|twice", None


def control_name(t: Path):
    _w(t / "x.jsonl", "{}")
    return dry(t, 'tasks:\n  - name: "Evil\\e[31mRed"\n    local: {type: STS, files: {test: x.jsonl}}\n'), "error|name", None


def long_name(t: Path):
    _w(t / "x.jsonl", "{}")
    name = "名" * 100  # 300 bytes: over a file name's 255
    return dry(t, f"tasks:\n  - name: {name}\n    local: {{type: STS, files: {{test: x.jsonl}}}}\n"), "error|name", None


def dev_zero_card(t: Path):
    return ["card", "compare", str(results(t)), "--card", "/dev/zero", "--reports", str(t / "rep")], "error|not a regular file", None


def dev_zero_suite(t: Path):
    return ["run", "/dev/zero", "--dry-run", "--output", str(t / "out")], "error|not a regular file", None


def output_is_file(t: Path):
    f = _w(t / "file", "")
    return ["run", "smoke", "--output", str(f), "--no-cache", "--reports", str(t / "rep")], "error|is a file", None


def revision_evalkit(t: Path):
    return ["run", "smoke", "--revision", "evalkit", "--output", str(t / "out"), "--reports", str(t / "rep")], "error|reserved", None


def deep_results_json(t: Path):
    res = results(t, raw="[" * 100000 + "]" * 100000)
    return ["card", "compare", str(res), "--card", str(CARD), "--reports", str(t / "rep")], "error", None


def dup_key_results(t: Path):
    raw = '{"task_name": "STSBenchmark", "task_name": "ATEC", "scores": {}}'
    return ["card", "compare", str(results(t, raw=raw)), "--card", str(CARD), "--reports", str(t / "rep")], "error", None


def huge_number_results(t: Path):
    res = results(t)
    f = next(res.glob("*/*/STSBenchmark.json"))
    f.write_text(f.read_text().replace("0.8", "1" * 400))
    return ["card", "compare", str(res), "--card", str(CARD), "--reports", str(t / "rep")], "error", None


def examples(t: Path, entries: str):
    base = results(t)
    rev = next(base.glob("*/*"))
    _w(
        rev / "evalkit" / "examples" / "STSBenchmark.json",
        '{"task": "STSBenchmark", "task_type": "STS", "main_score": 0.8, "entries": ' + entries + "}",
    )
    return ["regress", str(base), str(base), "--reports", str(t / "rep")], "error", None


def merge_corrupt_manifest(t: Path):
    a, b = results(t / "a"), results(t / "b", task="ATEC")
    _w(next(b.glob("*/*")) / "evalkit" / "manifest.json", '{"tasks": {')
    out = t / "m"
    return ["merge", str(a), str(b), "--output", str(out)], "error", lambda _: f"partial merge: {out} written" if out.exists() else None


def merge_symlink(t: Path):
    a = results(t / "a")
    secret = _w(t / "outside" / "secret.json", json.dumps({"task_name": "X", "scores": {}}))
    (next(a.glob("*/*")) / "X.json").symlink_to(secret)
    out = t / "m"

    def check(_: Path) -> str | None:
        copied = list(out.rglob("X.json")) if out.exists() else []
        return f"followed a link from outside: {copied}" if any(not p.is_symlink() for p in copied) else None

    return ["merge", str(a), "--output", str(out)], "error", check


def compare_card_model_index_string(t: Path):
    return compare(t, _w(t / "card" / "README.md", "---\nmodel-index: hello\n---\n")), "error", None


def suite_is_folder(t: Path):
    (t / "dir.yaml").mkdir()
    return ["run", str(t / "dir.yaml"), "--dry-run", "--output", str(t / "out")], "error", None


def reports_readonly(t: Path):
    ro = t / "ro"
    ro.write_text("")  # a file where the folder should be (chmod would not stop root)
    out = t / "out"
    return (
        ["run", "smoke", "--tasks", "SmokeSTS", "--output", str(out), "--reports", str(ro / "rep"), "--no-cache", "--quiet"],
        "error",
        lambda _: "ran the whole run before failing" if list(out.rglob("SmokeSTS.json")) else None,
    )


def local_sts(t: Path, rows: str, expect: str = "error", check: Check | None = None):
    _w(t / "sts.jsonl", rows)
    s = suite(t, "tasks:\n  - name: MySTS\n    local: {type: STS, files: {test: sts.jsonl}}\n")
    return ["run", s, "--output", str(t / "out"), "--reports", str(t / "rep"), "--no-cache", "--quiet"], expect, check


def said(t: Path) -> str | None:
    # A degenerate task must not be a silent "done": the record says failed or carries a warning.
    for rec in (t / "out").rglob("evalkit/tasks/MySTS.json"):
        data = json.loads(rec.read_text())
        if data.get("status") == "done" and not data.get("warnings"):
            return "degenerate data gave a silent done"
    return None


def cache_case(kind: str):
    def build(t: Path):
        import numpy as np

        cache = t / "cache"
        out = t / "out"
        base = ["run", "smoke", "--tasks", "SmokeSTS", "--cache-dir", str(cache), "--reports", str(t / "rep"), "--quiet"]
        if _child(base + ["--output", str(t / "first")]) != 0:
            raise RuntimeError("first run failed")
        for shard in cache.rglob("shard-*.npz"):
            with np.load(shard) as d:
                keys, vec = d["keys"], d["vectors"]
            if kind == "random":
                vec = np.random.default_rng(0).standard_normal(vec.shape).astype(np.float32)
            elif kind == "dim3":
                vec = np.ones((len(keys), 3), dtype=np.float32)
            elif kind == "nan":
                vec = vec.copy()
                vec[0, 0] = np.nan
            elif kind == "short":
                vec = vec[:-1]
            with shard.open("wb") as f:
                np.savez(f, keys=keys, vectors=vec)

        def check(_: Path) -> str | None:
            rec = next(out.rglob("evalkit/local/SmokeSTS.json"), None)
            if rec is None:
                return "no result"
            score = json.loads(rec.read_text())["scores"]["test"][0]["main_score"]
            return None if abs(score - 0.6441) < 1e-3 else f"cache lied: SmokeSTS {score:.4f}"

        return base + ["--output", str(out)], "ok", check

    return build


def full_disk(size: str, expect: str):
    def build(t: Path):
        full = Path("/tmp/hostile-full")
        full.mkdir(exist_ok=True)
        if os.path.ismount(full):
            os.system(f"umount {full}")
        if os.system(f"mount -t tmpfs -o size={size} tmpfs {full} 2>/dev/null") != 0:
            raise RuntimeError("cannot mount a tmpfs")
        argv = ["run", "smoke", "--tasks", "SmokeSTS", "--output", str(full / "out"), "--cache-dir", str(full / "cache")]

        def check(_: Path) -> str | None:
            left = no_temps(full)
            done = list(full.rglob("evalkit/local/SmokeSTS.json"))
            os.system(f"umount {full}")
            if left:
                return left
            return "no result although the results fit" if expect == "ok" and not done else None

        return [*argv, "--reports", str(t / "rep"), "--quiet"], expect, check

    return build


def planted_lock(t: Path):
    out = t / "out"
    rev = out / "sentence-transformers__all-MiniLM-L6-v2" / "5076c6045d315992" / "evalkit" / "locks"
    rev.mkdir(parents=True)
    victim = t / "outside" / "victim"
    (rev / "SmokeSTS.lock").symlink_to(victim)
    return (
        ["run", "smoke", "--tasks", "SmokeSTS", "--output", str(out), "--no-cache", "--reports", str(t / "rep"), "--quiet"],
        "error",
        lambda _: f"created {victim} through a planted link" if victim.exists() or victim.is_symlink() and victim.exists() else None,
    )


CASES: list[Case] = [
    ("yaml bomb as a card", bomb_card, False),
    ("yaml bomb as a suite", bomb_suite, False),
    ("card: results: []", card_results_empty, False),
    ("card: value a string", bad_card_values('"high"'), False),
    ("card: value null", bad_card_values("null"), False),
    ("card: value NaN", bad_card_values(".nan"), False),
    ("card: value bool", bad_card_values("true"), False),
    ("card: value list", bad_card_values("[1, 2]"), False),
    ("card: value date", bad_card_values("2024-01-01"), False),
    ("card: 400-digit value (compare)", bad_card_values("1" * 400), False),
    ("card: 400-digit float (compare)", bad_card_values("1" * 400 + ".5"), False),
    ("card: 400-digit value (export)", card_export_huge, False),
    ("card: 400-digit value (export --into)", card_into_huge, False),
    ("card: model-index a string", compare_card_model_index_string, False),
    ("card: duplicate model-index key", dup_card_key, False),
    ("card: /dev/zero", dev_zero_card, False),
    ("card --into a symlinked card", card_into_symlink, False),
    ("suite: 1,500-deep include chain", include_chain, False),
    ("suite: 1,500-deep nesting", deep_suite, False),
    ("suite: 5,000-digit integer", huge_int_suite, False),
    ("suite: two tasks: lists", dup_tasks_suite, False),
    ("suite: control characters in a task name", control_name, False),
    ("suite: task name over 255 bytes", long_name, False),
    ("suite: /dev/zero", dev_zero_suite, False),
    ("suite: a folder named .yaml", suite_is_folder, False),
    ("run: --output is a file", output_is_file, False),
    ("run: --revision evalkit", revision_evalkit, False),
    ("results: 100,000-deep JSON", deep_results_json, False),
    ("results: duplicate JSON key", dup_key_results, False),
    ("results: 400-digit score", huge_number_results, False),
    (
        "per-example: gold a string",
        lambda t: examples(t, '[{"split": "test", "subset": "default", "kind": "correlation", "gold": "abc", "pred": [1]}]'),
        False,
    ),
    (
        "per-example: lists of lists",
        lambda t: examples(t, '[{"split": "test", "subset": "default", "kind": "correlation", "gold": [[1]], "pred": [[1]]}]'),
        False,
    ),
    (
        "per-example: gold and pred lengths differ",
        lambda t: examples(t, '[{"split": "test", "subset": "default", "kind": "correlation", "gold": [1, 2, 3], "pred": [1]}]'),
        False,
    ),
    ("per-example: entries a string", lambda t: examples(t, '"x"'), False),
    ("merge: corrupt shard manifest", merge_corrupt_manifest, False),
    ("merge: symlinked result from outside", merge_symlink, False),
    ('data: score "high"', lambda t: local_sts(t, '{"sentence1": "a", "sentence2": "b", "score": "high"}\n' * 3), True),
    (
        "data: NaN gold scores",
        lambda t: local_sts(t, "".join(f'{{"sentence1": "a{i}", "sentence2": "b{i}", "score": NaN}}\n' for i in range(5)), "error", said),
        True,
    ),
    (
        "data: constant gold scores",
        lambda t: local_sts(t, "".join(f'{{"sentence1": "a{i}", "sentence2": "b{i}", "score": 1}}\n' for i in range(5)), "error", said),
        True,
    ),
    ("run: --reports not writable", reports_readonly, True),
    ("run: planted symlinked lock", planted_lock, True),
    ("run: full disk, room for the results only", full_disk("24k", "ok"), True),
    ("run: full disk", full_disk("8k", "error|the disk is full"), True),
    ("cache: planted random vectors", cache_case("random"), True),
    ("cache: 3-dimensional vectors", cache_case("dim3"), True),
    ("cache: NaN in a shard", cache_case("nan"), True),
    ("cache: fewer vectors than keys", cache_case("short"), True),
]


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


def run_case(name: str, build: Callable, root: Path) -> tuple[str, str]:
    t = root / name.replace(" ", "_").replace("/", "_")[:60]
    t.mkdir(parents=True)
    outside = t / "outside"
    outside.mkdir()
    try:
        argv, expect, check = build(t)
    except Exception as exc:  # noqa: BLE001
        return "skipped", f"setup failed: {exc}"
    log = t / "stderr.txt"
    before = {p for p in outside.rglob("*")}
    code = _child(argv, log=log)
    err = log.read_text() if log.exists() else ""
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("WARNING", "warning"))]
    errors = [ln for ln in err.splitlines() if ln.startswith("evalkit: error:")]
    damage = check(t) if check else None
    damage = damage or (
        f"wrote outside: {sorted({p for p in outside.rglob('*')} - before)}" if {p for p in outside.rglob("*")} - before else None
    )
    if code in (98, 99) or "Traceback" in err:
        tail = (lines[-1] if lines else f"killed (exit {code})")[:150]
        return ("damaged" if damage else "traceback"), tail + (f" | {damage}" if damage else "")
    if damage:
        return "damaged", damage
    expect, _, phrase = expect.partition("|")
    if expect == "error":
        if code != 0 and len(errors) == 1 and phrase.lower() not in errors[0].lower():
            return "unclear", f"exit {code}, not about {phrase!r}: {errors[0][:150]}"
        if code != 0 and len(errors) == 1:
            return "clean", errors[0][:150]
        return "damaged" if code == 0 else "unclear", f"exit {code}: {(errors or lines or [''])[-1][:150]}"
    return ("clean" if code in (0, 1) else "unclear"), f"exit {code}" + (f": {errors[0][:150]}" if errors else "")


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
        for name, build, slow in CASES:
            if args.only not in name or (slow and not args.slow):
                continue
            t0 = time.time()
            verdict, detail = run_case(name, build, root)
            counts[verdict] = counts.get(verdict, 0) + 1
            print(f"{verdict:9s} {time.time() - t0:5.1f}s  {name}: {detail}", flush=True)
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
